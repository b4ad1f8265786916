import { z } from "zod";
import { acmeConfigSchema } from "../../protocols/acme/config.js";
import { estConfigSchema } from "../../protocols/est/config.js";
import { scepConfigSchema } from "../../protocols/scep/config.js";
import { cmpConfigSchema } from "../../protocols/cmp/config.js";

import { eventsConfigSchema } from "./schema-events.js";
import { secretSchema } from "./schema-secret.js";
import { storeConfigSchema } from "./schema-store.js";

export { secretSchema, type SecretRef } from "./schema-secret.js";
export { storeConfigSchema, type StoreConfig } from "./schema-store.js";

const listener = z
  .object({ host: z.string().default("0.0.0.0"), port: z.number().int().min(0).max(65535) })
  .strict();

/** Request size and slow-client limits, the same on both listeners. */
const limitsSchema = z
  .object({
    maxBodyBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(64 * 1024),
    /** Request line and headers must be complete within this; on HTTPS it also bounds the TLS handshake. */
    headersTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
    /** The whole request, body included, must be received within this (the answer may take longer). */
    requestTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
    /** An idle keep-alive connection is closed after this. */
    keepAliveTimeoutMs: z.number().int().min(100).max(600_000).default(5_000),
    /** Open connections one client address may hold on each listener; one more is closed at once. */
    maxConnectionsPerAddress: z.number().int().min(1).max(100_000).default(64),
  })
  .strict()
  .refine((l) => l.headersTimeoutMs <= l.requestTimeoutMs, { message: "headersTimeoutMs must not exceed requestTimeoutMs", path: ["headersTimeoutMs"] });

const keyAlgorithm = z.enum(["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ml-dsa-44", "ml-dsa-65", "ml-dsa-87"]);

export const configSchema = z
  .object({
    dataDir: z.string().default("./data"),
    /** The database: embedded SQLite (default) or a PostgreSQL shared by several instances (schema-store.ts). */
    store: storeConfigSchema.default({ kind: "sqlite" }),
    profilesDir: z.string().default("./profiles"),
    defaultProfile: z.string().default("tls-server"),
    /** `serve` worker processes sharing the listeners: a count or "auto" (one per core); `--workers` overrides. */
    workers: z.union([z.literal("auto"), z.number().int().min(1).max(1024)]).default(1),
    listen: z
      .object({
        https: listener.default({ host: "0.0.0.0", port: 8443 }),
        http: listener.default({ host: "0.0.0.0", port: 8080 }),
      })
      .strict()
      .default({ https: { host: "0.0.0.0", port: 8443 }, http: { host: "0.0.0.0", port: 8080 } }),
    /** Base URLs clients reach us at; they go into certificates (CDP, AIA) and protocol documents. */
    externalUrl: z
      .object({ https: z.url().optional(), http: z.url().optional() })
      .strict()
      .default({}),
    tls: z
      .object({ certFile: z.string(), keyFile: z.string() })
      .strict()
      .optional(),
    devPki: z
      .object({
        enabled: z.boolean().default(true),
        keyAlgorithm: keyAlgorithm.default("ec-p256"),
        rootSubject: z.string().default("CN=Enrollment Gateway Dev Root CA,O=Enrollment Gateway"),
        issuingSubject: z.string().default("CN=Enrollment Gateway Dev Issuing CA,O=Enrollment Gateway"),
        tlsNames: z.array(z.string()).default(["localhost", "127.0.0.1", "::1"]),
      })
      .strict()
      .default({
        enabled: true,
        keyAlgorithm: "ec-p256",
        rootSubject: "CN=Enrollment Gateway Dev Root CA,O=Enrollment Gateway",
        issuingSubject: "CN=Enrollment Gateway Dev Issuing CA,O=Enrollment Gateway",
        tlsNames: ["localhost", "127.0.0.1", "::1"],
      }),
    /** Extra CA directories (made by `gateway ca init`) outside `<dataDir>/cas`. */
    cas: z.array(z.object({ dir: z.string() }).strict()).default([]),
    pkcs11: z
      .object({
        module: z.string().default("/usr/lib/softhsm/libsofthsm2.so"),
        pin: secretSchema.optional(),
      })
      .strict()
      .optional(),
    crl: z
      .object({
        validityHours: z.number().positive().max(24 * 30).default(24),
        regenerateMinutes: z.number().positive().default(60),
        // A revocation answers at once (OCSP is immediate); the CRL is rebuilt within this many seconds of the first
        // revocation of a burst, once for the whole burst. 0 = as soon as the revocation has returned.
        rebuildDelaySeconds: z.number().min(0).max(3600).default(5),
      })
      .strict()
      .default({ validityHours: 24, regenerateMinutes: 60, rebuildDelaySeconds: 5 }),
    ocsp: z
      .object({
        responseValidityMinutes: z.number().positive().max(7 * 24 * 60).default(60),
        /**
         * Pre-signed responses kept in memory (one per CertID: 1–2 KB classical, 7–12 KB ML-DSA, the table also
         * capped at 2 KiB × entries bytes); 0 signs every response.
         */
        cacheEntries: z.number().int().min(0).max(10_000_000).default(100_000),
      })
      .strict()
      .default({ responseValidityMinutes: 60, cacheEntries: 100_000 }),
    admin: z
      .object({
        /** Extra admin tokens besides the generated one, e.g. `{ env: GATEWAY_ADMIN_TOKEN }`. */
        tokens: z.array(z.object({ name: z.string().min(1), token: secretSchema }).strict()).default([]),
      })
      .strict()
      .default({ tokens: [] }),
    limits: limitsSchema.default(limitsSchema.parse({})),
    acme: acmeConfigSchema.default(acmeConfigSchema.parse({})),
    est: estConfigSchema.default(estConfigSchema.parse({})),
    scep: scepConfigSchema.default(scepConfigSchema.parse({})),
    cmp: cmpConfigSchema.default(cmpConfigSchema.parse({})),
    expiryWarningDays: z.number().int().positive().default(30),
    events: eventsConfigSchema.default(eventsConfigSchema.parse({})),
    lifecycle: z
      .object({
        /** How often `serve` looks for renewals due and missed (0: never; the admin API can scan on demand). */
        scanIntervalMinutes: z.number().min(0).max(24 * 60).default(60),
      })
      .strict()
      .default({ scanIntervalMinutes: 60 }),
    retention: z
      .object({
        /** Certificates expired longer than this move from the inventory to its archive (still found by serial). */
        archiveExpiredAfterDays: z.number().int().min(1).max(100 * 365).default(90),
        /** How often `serve` archives (0: never; `gateway lifecycle archive` archives once). */
        intervalMinutes: z.number().min(0).max(7 * 24 * 60).default(60),
        /** Certificates moved per transaction: each batch holds the write lock this long, never more. */
        batchSize: z.number().int().min(1).max(50_000).default(1000),
      })
      .strict()
      .default({ archiveExpiredAfterDays: 90, intervalMinutes: 60, batchSize: 1000 }),
    enforcement: z
      .object({
        /** Inbound signed webhook at POST /hooks/enforcement (HTTPS listener); absent: the endpoint answers 404. */
        webhook: z
          .object({ hmacSecret: secretSchema, toleranceSeconds: z.number().int().min(10).max(3600).default(300) })
          .strict()
          .optional(),
      })
      .strict()
      .default({}),
    log: z
      .object({ level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info") })
      .strict()
      .default({ level: "info" }),
  })
  .strict();

export type GatewayConfig = z.infer<typeof configSchema>;
