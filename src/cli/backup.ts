import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { AuditLog } from "../audit/audit-log.js";
import type { GatewayConfig } from "../config/schema.js";
import { GatewayError } from "../errors.js";
import { SqliteStore } from "../store/sqlite/store.js";
import { join } from "node:path";
import {
  backupSqlite, databaseInUse, installRestored, openRestoreCandidate, removeDb, scrubRestored,
} from "../store/sqlite/backup.js";

export const BACKUP_USAGE = `backup --to FILE [--force]    online, consistent copy of the database (not the key material: see README)
  restore --from FILE [--keep-unused-secrets]
                                replace the database with a backup (stop the gateway first); unused one-time
                                enrollment secrets and EAB keys in it are expired unless --keep-unused-secrets`;

const dbPathOf = (config: GatewayConfig) => join(config.dataDir, "gateway.db");
const mib = (n: number) => `${(n / 1048576).toFixed(2)} MiB`;

/** `gateway backup` / `gateway restore` on the SQLite store. */
export async function backupCommand(config: GatewayConfig, cmd: "backup" | "restore", argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, allowPositionals: true, strict: false, options: { to: { type: "string" }, from: { type: "string" }, force: { type: "boolean" }, "keep-unused-secrets": { type: "boolean" } } });
  const dbPath = dbPathOf(config);
  if (cmd === "backup") {
    const to = values.to;
    if (typeof to !== "string" || !to) return usage("backup needs --to FILE");
    if (!existsSync(dbPath)) throw new GatewayError("RA_ERR_NOT_FOUND", `no database at ${dbPath}`);
    const store = new SqliteStore(dbPath);
    try {
      const info = backupSqlite(store, to, values.force === true);
      // Recorded in the live chain after the copy: the backup holds the chain up to auditHeadSeq, this event follows it.
      await new AuditLog(store).record({ type: "store.backup", actor: "cli", target: info.path, data: { bytes: info.bytes, sha256: info.sha256, auditHeadSeq: info.auditHeadSeq, schemaVersion: info.schemaVersion } });
      console.log(`backup written: ${info.path}
  size            ${info.bytes} bytes (${mib(info.bytes)})
  sha256          ${info.sha256}
  audit head seq  ${info.auditHeadSeq}
  schema version  ${info.schemaVersion}
not included: the data dir's key material (cas/*, secrets.key, tls/, admin-token) — back it up separately`);
      return 0;
    } finally {
      await store.close();
    }
  }

  const from = values.from;
  if (typeof from !== "string" || !from) return usage("restore needs --from FILE");
  if (databaseInUse(dbPath)) throw new GatewayError("RA_ERR_CONFIG", `${dbPath} is open in another process (a running gateway?): stop it first`);
  const { tmp, store, fromVersion } = openRestoreCandidate(from, dbPath);
  let scrubbed: Record<string, number>;
  let events: number;
  let toVersion: number;
  try {
    const audit = new AuditLog(store);
    const v = await audit.verify();
    if (!v.ok) throw new GatewayError("RA_ERR_CONFIG", `${from}: audit chain broken at event ${v.brokenAt}: ${v.why}; nothing restored`);
    const now = new Date().toISOString();
    scrubbed = scrubRestored(store, now, values["keep-unused-secrets"] === true);
    const e = await audit.record({ type: "store.restored", actor: "cli", target: dbPath, data: { from, fromSchemaVersion: fromVersion, auditHeadSeq: v.events, cleared: scrubbed } });
    events = e.seq;
    toVersion = store.raw.pragma("user_version", { simple: true }) as number;
    await store.close();
  } catch (e) {
    await store.close();
    removeDb(tmp);
    throw e;
  }
  const kept = installRestored(tmp, dbPath, new Date().toISOString().replace(/[:.]/g, "-"));
  console.log(`restored ${dbPath} from ${from}
  schema version  ${fromVersion}${fromVersion < toVersion ? ` (migrated to ${toVersion})` : ""}
  audit chain     intact; head seq ${events} (store.restored)
  cleared         ${Object.entries(scrubbed).map(([k, n]) => `${k}=${n}`).join(", ")}${kept ? `\n  previous db     kept as ${kept}` : ""}
certificates issued or revoked after the backup are not in it: re-revoke those (audit export / event sinks list them)`);
  return 0;
}

function usage(msg: string): number {
  console.error(`error: ${msg}\nusage: gateway ${BACKUP_USAGE}`);
  return 2;
}
