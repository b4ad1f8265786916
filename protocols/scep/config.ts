import { z } from "zod";
import { secretSchema } from "../../src/config/schema-secret.js";
import { signerRefSchema } from "../../src/ca/signer-ref.js";

/** One SCEP endpoint: `/scep/<name>` (the default one also answers `/scep` and the legacy paths). */
const endpointSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
    /** Profile every enrollment on this endpoint asks for. */
    profile: z.string(),
    /**
     * The RA that decrypts requests and signs answers (an RSA key: clients encrypt to it). Absent: the
     * gateway makes an RSA-2048 RA certificate under the profile's issuing CA at first start.
     */
    ra: z.object({ certFile: z.string(), key: signerRefSchema }).strict().optional(),
    /** CA rollover: the next CA certificate (PEM), offered with GetNextCACert. */
    nextCaCertFile: z.string().optional(),
    /** Accept SHA-1 (message digest and the CSR's own signature) and 3DES (never DES or MD5). For old devices only. */
    legacyAlgorithms: z.boolean().default(false),
    /**
     * Accept single-DES (des-cbc) content encryption too, for clients that speak nothing else (micromdm scepclient
     * 2.1.0); implies legacyAlgorithms. Needs one-time or webhook challenges: no static challenge on the endpoint.
     */
    allowSingleDes: z.boolean().default(false),
    challenge: z
      .object({
        /** One shared challenge for every device (legacy). */
        static: secretSchema.optional(),
        /** One-time challenges minted through the admin API / CLI / NDES-style admin page. */
        oneTimeSecrets: z.boolean().default(true),
        /** Dynamic challenges validated by an MDM (Intune/Jamf style): the gateway asks this URL. */
        webhook: z
          .object({
            url: z.url(),
            timeoutMs: z.number().int().min(100).max(30_000).default(5000),
            /** HMAC-SHA256 over the body, sent as `X-Gateway-Signature: sha256=<hex>`. */
            hmacSecret: secretSchema.optional(),
            /** Sent as `Authorization: Bearer <token>`. */
            bearerToken: secretSchema.optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({ oneTimeSecrets: true }),
    /** RenewalReq signed with a valid certificate of ours renews without a challenge. */
    renewal: z.boolean().default(true),
  })
  .strict();
export type ScepEndpointConfig = z.infer<typeof endpointSchema>;

export const scepConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Endpoint served at `/scep`, `/cgi-bin/pkiclient.exe` and `/certsrv/mscep/mscep.dll`. */
    defaultEndpoint: z.string().default("default"),
    endpoints: z.array(endpointSchema).min(1).default([endpointSchema.parse({ name: "default", profile: "device" })]),
    /** Largest PKIOperation message (DER), bytes. */
    maxMessageBytes: z.number().int().min(4096).max(4 * 1024 * 1024).default(256 * 1024),
    /** Lifetime of one-time challenges made by the NDES-style admin page, minutes. */
    challengeTtlMinutes: z.number().int().min(1).max(7 * 24 * 60).default(60),
  })
  .strict()
  .superRefine((c, ctx) => {
    const names = c.endpoints.map((e) => e.name);
    if (new Set(names).size !== names.length) ctx.addIssue({ code: "custom", message: "endpoint names must be unique", path: ["endpoints"] });
    if (c.enabled && !names.includes(c.defaultEndpoint)) ctx.addIssue({ code: "custom", message: `defaultEndpoint ${c.defaultEndpoint} is not a configured endpoint`, path: ["defaultEndpoint"] });
    // Under 56-bit encryption a shared challenge is as good as published: single DES only with challenges used once.
    c.endpoints.forEach((e, i) => {
      if (e.allowSingleDes && e.challenge.static) {
        ctx.addIssue({ code: "custom", message: `endpoint ${e.name}: allowSingleDes needs one-time or webhook challenges; remove challenge.static (a static challenge sent under single DES is as good as published)`, path: ["endpoints", i, "allowSingleDes"] });
      }
    });
  });
export type ScepConfig = z.infer<typeof scepConfigSchema>;
