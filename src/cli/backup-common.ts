import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { AuditLog } from "../audit/audit-log.js";
import { GatewayError } from "../errors.js";
import type { Store } from "../store/types.js";

/** What `gateway backup` prints and records as `store.backup`, on either engine. */
export interface BackupSummary {
  path: string;
  bytes: number;
  sha256: string;
  schemaVersion: number;
  auditHeadSeq: number;
  /** PostgreSQL: the head was read just before pg_dump took its snapshot, so the dump holds at least this much. */
  atLeast?: boolean;
}

export function fileDigest(path: string): { path: string; bytes: number; sha256: string } {
  return { path: resolve(path), bytes: statSync(path).size, sha256: createHash("sha256").update(readFileSync(path)).digest("hex") };
}

const mib = (n: number) => `${(n / 1048576).toFixed(2)} MiB`;

/** Recorded in the live chain after the copy: the backup holds the chain up to auditHeadSeq, this event follows it. */
export async function recordBackup(store: Store, info: BackupSummary): Promise<void> {
  await new AuditLog(store).record({ type: "store.backup", actor: "cli", target: info.path, data: { bytes: info.bytes, sha256: info.sha256, auditHeadSeq: info.auditHeadSeq, schemaVersion: info.schemaVersion } });
}

export function printBackup(info: BackupSummary): void {
  console.log(`backup written: ${info.path}
  size            ${info.bytes} bytes (${mib(info.bytes)})
  sha256          ${info.sha256}
  audit head seq  ${info.atLeast ? "at least " : ""}${info.auditHeadSeq}
  schema version  ${info.schemaVersion}
not included: the data dir's key material (cas/*, secrets.key, tls/, admin-token) — back it up separately`);
}

/** What a restore (or `db after-restore`) did, for the summary. */
export interface RestoreSummary {
  target: string;
  from: string;
  fromVersion: number;
  toVersion: number;
  headSeq: number;
  cleared: Record<string, number>;
  kept?: string;
}

/**
 * The steps after the data is back, on either engine: the whole audit chain must verify (`restoredAlready` says
 * whether a broken one is already in place, so the message can say not to serve it), then `scrub` clears what must
 * not come back from the past, then `store.restored` is appended to the chain. Returns the new head seq and the
 * clean-up counts.
 */
export async function verifyScrubRecord(
  store: Store, what: { target: string; from: string; fromVersion: number; restoredAlready: boolean },
  scrub: () => Promise<Record<string, number>>,
): Promise<{ headSeq: number; cleared: Record<string, number> }> {
  const audit = new AuditLog(store);
  const v = await audit.verify();
  if (!v.ok) {
    const state = what.restoredAlready ? `the data WAS restored into ${what.target} and must not be served: restore another backup` : "nothing restored";
    throw new GatewayError("RA_ERR_CONFIG", `${what.from}: audit chain broken at event ${v.brokenAt}: ${v.why}; ${state}`);
  }
  const cleared = await scrub();
  const e = await audit.record({ type: "store.restored", actor: "cli", target: what.target, data: { from: what.from, fromSchemaVersion: what.fromVersion, auditHeadSeq: v.events, cleared } });
  return { headSeq: e.seq, cleared };
}

export function printRestored(s: RestoreSummary): void {
  console.log(`restored ${s.target} from ${s.from}
  schema version  ${s.fromVersion}${s.fromVersion < s.toVersion ? ` (migrated to ${s.toVersion})` : ""}
  audit chain     intact; head seq ${s.headSeq} (store.restored)
  cleared         ${Object.entries(s.cleared).map(([k, n]) => `${k}=${n}`).join(", ")}${s.kept ? `\n  previous db     kept as ${s.kept}` : ""}
certificates issued or revoked after the backup are not in it: re-revoke those (audit export / event sinks list them)`);
}
