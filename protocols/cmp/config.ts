import { z } from "zod";
import { secretSchema } from "../../src/config/schema-secret.js";

/** One CMP label: `/.well-known/cmp/p/<name>` (the default label also answers `/.well-known/cmp`). */
const labelSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
    /** Profile every certificate request on this label asks for. */
    profile: z.string(),
    /** Shared secrets for MAC protection, found by the request's senderKID. */
    secrets: z.array(z.object({ kid: z.string().min(1).max(128), secret: secretSchema }).strict()).default([]),
    /** MAC with one-time enrollment secrets from the admin API / CLI (senderKID = the secret's id), for this label's profile. */
    oneTimeSecrets: z.boolean().default(true),
    /** Signature protection by certificates chaining to these PEM files (RA-style clients, bootstrap CAs). */
    trustAnchors: z.array(z.string()).default([]),
    /** Signature protection by valid certificates of this gateway (kur, rr, further requests). */
    ownCertificates: z.boolean().default(true),
    /** Subjects (exact RFC 4514 strings of trust-anchored signers) whose `raVerified` proof of possession is accepted. */
    trustedRas: z.array(z.string()).default([]),
    /** Honour implicitConfirm when the client asks for it. */
    implicitConfirm: z.boolean().default(true),
  })
  .strict();
export type CmpLabelConfig = z.infer<typeof labelSchema>;

const macDerivationSchema = z
  .object({
    threads: z.number().int().min(1).max(16).optional(),
    maxQueued: z.number().int().min(0).max(1024).default(32),
    /** Derived keys kept (LRU, by a hash of secret and parameters): a client reusing its salt, and every answer, skip the derivation. */
    keyCacheEntries: z.number().int().min(1).max(1_000_000).default(10_000),
  })
  .strict();

const macFailuresSchema = z
  .object({
    /** 0 turns a limit off. */
    perKid: z.number().int().min(0).max(1000).default(5),
    perAddress: z.number().int().min(0).max(100_000).default(20),
    windowSeconds: z.number().int().min(10).max(86_400).default(300),
    /** Senders remembered per scope (least recently seen forgotten first). */
    maxTracked: z.number().int().min(100).max(1_000_000).default(10_000),
  })
  .strict();

export const cmpConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    defaultLabel: z.string().default("default"),
    labels: z.array(labelSchema).min(1).default([labelSchema.parse({ name: "default", profile: "device" })]),
    maxMessageBytes: z.number().int().min(4096).max(4 * 1024 * 1024).default(256 * 1024),
    /**
     * Caps checked before any key derivation for MAC protection (PasswordBasedMac, PBMAC1). Every message
     * costs a derivation at the sender's count: `openssl cmp` sends 500, so 10 000 leaves room for stronger
     * clients while a hostile message costs about a tenth of what 100 000 (the most allowed) would.
     */
    maxIterations: z.number().int().min(1000).max(100_000).default(10_000),
    maxSaltBytes: z.number().int().min(8).max(1024).default(64),
    /**
     * Accept HMAC-SHA1 as the PasswordBasedMac mac (the owf is never SHA-1): it is `openssl cmp -secret`'s
     * default, and HMAC-SHA1 is still a sound MAC. Set false to require -mac hmacWithSHA256.
     */
    allowHmacSha1: z.boolean().default(true),
    /** MAC key derivation off the event loop: running at once (default min(2, cores)) and waiting; beyond, systemUnavail. */
    macDerivation: macDerivationSchema.default(macDerivationSchema.parse({})),
    /** Failed MACs per senderKID and per source address within a window, after which MAC messages are refused without deriving. */
    macFailures: macFailuresSchema.default(macFailuresSchema.parse({})),
    /** A certificate not confirmed (certConf) within this time is revoked when `revokeUnconfirmed`. */
    confirmWaitSeconds: z.number().int().min(5).max(86_400).default(300),
    revokeUnconfirmed: z.boolean().default(true),
    /**
     * Transactions open at once (waiting for certConf or approval), over all instances; beyond it new enrollments
     * are refused with systemUnavail until some are confirmed or settled. The count is refreshed by the sweep.
     */
    maxOpenTransactions: z.number().int().min(1).max(10_000_000).default(50_000),
    /** Allowed distance of messageTime from our clock. */
    maxClockSkewSeconds: z.number().int().min(1).max(86_400).default(300),
    /** checkAfter in pollRep while a request waits for approval. */
    pollAfterSeconds: z.number().int().min(1).max(86_400).default(10),
  })
  .strict()
  .superRefine((c, ctx) => {
    const names = c.labels.map((l) => l.name);
    if (new Set(names).size !== names.length) ctx.addIssue({ code: "custom", message: "label names must be unique", path: ["labels"] });
    if (c.enabled && !names.includes(c.defaultLabel)) ctx.addIssue({ code: "custom", message: `defaultLabel ${c.defaultLabel} is not a configured label`, path: ["defaultLabel"] });
  });
export type CmpConfig = z.infer<typeof cmpConfigSchema>;
