import { z } from "zod";
import { secretSchema } from "../config/schema-secret.js";

const algorithm = z.enum([
  "ecdsa-sha256", "ecdsa-sha384", "ecdsa-sha512", "rsa-pkcs1-sha256", "rsa-pkcs1-sha384", "rsa-pkcs1-sha512",
  "rsa-pss-sha256", "rsa-pss-sha384", "rsa-pss-sha512", "ml-dsa-44", "ml-dsa-65", "ml-dsa-87",
]);

/** Where a signing key lives: a PEM file or a PKCS#11 token object. */
export const signerRefSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("software"), keyFile: z.string(), algorithm }).strict(),
  z.object({ type: z.literal("pkcs11"), uri: z.string().startsWith("pkcs11:"), module: z.string(), pin: secretSchema.optional(), algorithm }).strict(),
]);
export type SignerRef = z.infer<typeof signerRefSchema>;
