import { z } from "zod";

/** A secret given inline, from an environment variable or from a file. */
export const secretSchema = z.union([
  z.string().min(1),
  z.object({ env: z.string().min(1) }).strict(),
  z.object({ file: z.string().min(1) }).strict(),
]);
export type SecretRef = z.infer<typeof secretSchema>;
