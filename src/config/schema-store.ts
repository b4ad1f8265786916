import { z } from "zod";
import { secretSchema } from "./schema-secret.js";

/**
 * Where the gateway keeps its state. SQLite (the default) is the embedded, zero-setup store: one file, several
 * processes of one machine. PostgreSQL lets several gateway machines share one database (src/store/postgres/).
 */
export const storeConfigSchema = z.discriminatedUnion("kind", [
  z
    .object({
      kind: z.literal("sqlite"),
      /** The database file; default `<dataDir>/gateway.db`. */
      path: z.string().min(1).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal("postgres"),
      /** postgres://user:password@host:5432/db?sslmode=verify-full: a secret (inline, `{ env }` or `{ file }`), it may hold a password. */
      url: secretSchema,
      /** Connections per gateway process: the database must allow (instances × workers × poolSize) plus a margin. */
      poolSize: z.number().int().min(1).max(1000).default(10),
      /** A statement (and a wait for a free pooled connection) is given up after this; 0 = no limit. */
      statementTimeoutMs: z.number().int().min(0).max(3_600_000).default(30_000),
      /** Opening one connection is given up after this. */
      connectTimeoutMs: z.number().int().min(100).max(600_000).default(5_000),
    })
    .strict(),
]);

export type StoreConfig = z.infer<typeof storeConfigSchema>;
