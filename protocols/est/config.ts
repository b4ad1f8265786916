import { z } from "zod";
import { secretSchema } from "../../src/config/schema-secret.js";

const user = z.object({ name: z.string().min(1).max(128).regex(/^[^:]+$/, "a Basic user name cannot contain ':'"), password: secretSchema }).strict();

/** One EST label: `/.well-known/est/<name>/` (the default label also answers the unlabelled path). */
const labelSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
    /** Profile every enrollment on this label asks for. */
    profile: z.string(),
    auth: z
      .object({
        /** HTTP Basic with the users below and, when `oneTimeSecrets`, admin-minted enrollment secrets (user = secret id). */
        basic: z.boolean().default(true),
        oneTimeSecrets: z.boolean().default(true),
        users: z.array(user).default([]),
        /** TLS client certificates chaining to these PEM files (manufacturer / IDevID / bootstrap CAs) may enroll. */
        trustAnchors: z.array(z.string()).default([]),
        /** TLS client certificates issued by this gateway's CAs (and still valid) may enroll too, not only re-enroll. */
        ownCertificates: z.boolean().default(true),
      })
      .strict()
      .default({ basic: true, oneTimeSecrets: true, users: [], trustAnchors: [], ownCertificates: true }),
    /** RFC 7030 §3.5: the CSR's challengePassword must carry the TLS channel binding. */
    popLinking: z.boolean().default(false),
    serverKeyGen: z.boolean().default(true),
    /** Answer /csrattrs with what the profile wants (204 when false). */
    csrAttrs: z.boolean().default(true),
    /** Days after notAfter during which an expired certificate of ours may still re-enroll. */
    reenrollGraceDays: z.number().min(0).max(365).default(0),
    /** Retry-After on 202 (pending approval). */
    retryAfterSeconds: z.number().int().min(1).max(86_400).default(60),
  })
  .strict();
export type EstLabelConfig = z.infer<typeof labelSchema>;

export const estConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Label served at `/.well-known/est/` itself. */
    defaultLabel: z.string().default("default"),
    labels: z.array(labelSchema).min(1).default([labelSchema.parse({ name: "default", profile: "device" })]),
    /** Largest request body (base64 PKCS#10), bytes. */
    maxBodyBytes: z.number().int().min(1024).max(1024 * 1024).default(32 * 1024),
  })
  .strict()
  .superRefine((c, ctx) => {
    const names = c.labels.map((l) => l.name);
    if (new Set(names).size !== names.length) ctx.addIssue({ code: "custom", message: "label names must be unique", path: ["labels"] });
    if (c.enabled && !names.includes(c.defaultLabel)) ctx.addIssue({ code: "custom", message: `defaultLabel ${c.defaultLabel} is not a configured label`, path: ["defaultLabel"] });
    for (const [i, l] of c.labels.entries()) {
      if (RESERVED.has(l.name)) ctx.addIssue({ code: "custom", message: `"${l.name}" is an EST operation name`, path: ["labels", i, "name"] });
    }
  });
export type EstConfig = z.infer<typeof estConfigSchema>;

const RESERVED = new Set(["cacerts", "simpleenroll", "simplereenroll", "serverkeygen", "csrattrs", "fullcmc"]);
