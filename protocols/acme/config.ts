import { z } from "zod";

/** Where challenge validation may connect and how. */
export const acmeValidationSchema = z
  .object({
    /** Port for http-01 (RFC 8555 says 80; labs and tests use a high port). */
    httpPort: z.number().int().min(1).max(65535).default(80),
    /** Port for tls-alpn-01 (RFC 8737 says 443). */
    tlsAlpnPort: z.number().int().min(1).max(65535).default(443),
    /** DNS server for dns-01 TXT and for A/AAAA lookups, "host:port" or "host"; the system resolver when absent. */
    dnsResolver: z.string().optional(),
    /** Whole validation budget per challenge. */
    timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
    /** CIDRs a validation connection may reach; empty means any address not denied. */
    allow: z.array(z.string()).default([]),
    /** CIDRs never reached, checked after `allow` (cloud metadata and link-local by default). */
    deny: z.array(z.string()).default(["169.254.0.0/16", "fe80::/10", "0.0.0.0/8", "100.64.0.0/10", "224.0.0.0/4", "ff00::/8"]),
    /** name → address used instead of DNS ("*.example.test" keys match any name below). For labs and tests. */
    hostOverrides: z.record(z.string(), z.string()).default({}),
    /** Largest http-01 response body read, in bytes. */
    maxResponseBytes: z.number().int().min(128).max(65_536).default(8192),
    /**
     * Treat every challenge as answered (benchmarks and labs only; the gateway logs a warning at start).
     * Never set this on a gateway whose certificates anyone trusts.
     */
    insecureSkipValidation: z.boolean().default(false),
    /** Redirects followed for http-01 (RFC 8555 §8.3). */
    maxRedirects: z.number().int().min(0).max(10).default(5),
  })
  .strict();
export type AcmeValidationConfig = z.infer<typeof acmeValidationSchema>;

const bucket = z.object({ perSecond: z.number().positive(), burst: z.number().int().positive() }).strict();

const endpointSchema = z
  .object({
    /** URL segment: "default" is served at /acme, any other name at /acme/<name>. */
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/).refine((n) => !RESERVED.has(n), { message: "this name is an ACME resource path" }),
    /** Profile used when a newOrder names none. */
    defaultProfile: z.string().optional(),
    /** Profiles offered here (directory meta.profiles); all ACME profiles when absent. */
    profiles: z.array(z.string()).optional(),
    externalAccountRequired: z.boolean().default(false),
    termsOfService: z.url().optional(),
    website: z.url().optional(),
    caaIdentities: z.array(z.string()).default([]),
  })
  .strict();
export type AcmeEndpointConfig = z.infer<typeof endpointSchema>;

const RESERVED = new Set(["directory", "new-nonce", "new-account", "new-order", "revoke-cert", "key-change", "renewal-info", "acct", "order", "authz", "chall", "cert"]);

export const acmeConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    endpoints: z.array(endpointSchema).min(1).default([{ name: "default", externalAccountRequired: false, caaIdentities: [] }]),
    /** How long a nonce is accepted; the expiry is inside the nonce, so every instance agrees on it (protocols/acme/nonce.ts). */
    nonceLifetimeSeconds: z.number().int().min(10).max(86_400).default(3600),
    orderLifetimeHours: z.number().positive().max(24 * 30).default(24 * 7),
    /** How long a validated authorization stays valid. */
    authzValidityHours: z.number().positive().max(24 * 398).default(24 * 30),
    /** Reuse a still-valid authorization for the same account and identifier in a new order. */
    reuseValidAuthz: z.boolean().default(true),
    /** Largest JWS body accepted, in bytes. */
    maxBodyBytes: z.number().int().min(1024).max(1024 * 1024).default(64 * 1024),
    /**
     * A finalization not settled this long after finalize claimed the order is abandoned when the order is next read
     * (its instance died): the order becomes invalid (serverInternal) and the client places a new one. Never applies
     * while the request awaits an operator's approval; counts from the approval once given. Above the authorization
     * webhooks' timeout (at most 60 s) and the slowest signing, so a live instance is never overtaken.
     */
    finalizeTimeoutSeconds: z.number().int().min(60).max(86_400).default(300),
    /** Retry-After (seconds) sent on processing orders and challenges. */
    retryAfterSeconds: z.number().int().min(1).max(3600).default(1),
    /** Token buckets per account and per client address, kept per instance (rate-limit.ts says why). */
    rateLimits: z
      .object({ perAccount: bucket.optional(), perAddress: bucket.optional() })
      .strict()
      .default({ perAccount: { perSecond: 20, burst: 100 }, perAddress: { perSecond: 50, burst: 200 } }),
    validation: acmeValidationSchema.default(acmeValidationSchema.parse({})),
    /** Explanation URL given in ARI renewalInfo answers. */
    ariExplanationUrl: z.url().optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.endpoints.forEach((e, i) => {
      if (seen.has(e.name)) ctx.addIssue({ code: "custom", path: ["endpoints", i, "name"], message: `endpoint ${e.name} is defined twice` });
      seen.add(e.name);
    });
  });
export type AcmeConfig = z.infer<typeof acmeConfigSchema>;
