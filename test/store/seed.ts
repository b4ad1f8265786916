import { randomBytes } from "node:crypto";
import type Database from "better-sqlite3";
import { namesKey } from "../../src/store/names.js";

/**
 * Fast path for large inventories in tests and benchmarks: prepared INSERTs straight into `certificates`
 * in transactions of `txSize` rows. Small seeds keep triggers and indexes in place; millions of rows use the bulk
 * path below, which ends with the same schema (every index and trigger recreated, certificate_names filled). Values are realistic in size: a ~500-byte DER, a JSON SAN list, names_key.
 */
export interface SeedSpec {
  count: number;
  /** Row i's fields; serial defaults to a unique hex. */
  row: (i: number) => {
    requester?: { kind: string; id: string };
    profile?: string;
    sans: string[];
    notBefore: string;
    notAfter: string;
    revokedAt?: string;
    revocationReason?: number;
    replacedBy?: string;
    caName?: string;
    owner?: string;
  };
  txSize?: number;
  serialPrefix?: string;
  /** Row i's serial (lowercase hex); default: serialPrefix + i. */
  serial?: (i: number) => string;
  /**
   * Millions of rows: drop the secondary indexes and triggers on certificates, insert, fill certificate_names in
   * key order, then recreate each index and trigger from its own SQL (sqlite_master): the same schema at the end,
   * built by sorting instead of one random B-tree insert per row and index.
   */
  bulk?: boolean;
}

const DER = randomBytes(520);

export function seedCertificates(db: Database.Database, spec: SeedSpec): void {
  const insert = db.prepare(`INSERT INTO certificates (serial, ca_name, profile, protocol, request_id, requester_kind, requester_id, subject, sans,
    not_before, not_after, key_algorithm, stage, tbs_sha256, der, replaced_by, revoked_at, revocation_reason, created_at, owner, names_key)
    VALUES (?, ?, ?, 'admin', ?, ?, ?, ?, ?, ?, ?, 'EC P-256', 'issued', ?, ?, ?, ?, ?, ?, ?, ?)`);
  const prefix = spec.serialPrefix ?? randomBytes(4).toString("hex");
  const tx = spec.txSize ?? 100_000;
  const batch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const r = spec.row(i);
      const serial = spec.serial?.(i) ?? `${prefix}${i.toString(16).padStart(12, "0")}`;
      const cn = r.sans[0]?.slice(r.sans[0].indexOf(":") + 1) ?? serial;
      insert.run(serial, r.caName ?? "dev-issuing", r.profile ?? "tls-server", `seed-${serial}`, r.requester?.kind ?? "seed", r.requester?.id ?? "seed",
        `CN=${cn}`, JSON.stringify(r.sans), r.notBefore, r.notAfter, serial.padEnd(64, "0"), DER, r.replacedBy ?? null, r.revokedAt ?? null,
        r.revocationReason ?? null, r.notBefore, r.owner ?? null, namesKey(r.sans));
    }
  });
  if (!spec.bulk) {
    for (let i = 0; i < spec.count; i += tx) batch(i, Math.min(spec.count, i + tx));
    return;
  }
  const schema = db.prepare("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'certificates' AND type IN ('index', 'trigger') AND sql IS NOT NULL")
    .all() as Array<{ type: string; name: string; sql: string }>;
  for (const o of schema) db.exec(`DROP ${o.type === "index" ? "INDEX" : "TRIGGER"} ${o.name}`);
  const after = (db.prepare("SELECT coalesce(max(rowid), 0) AS n FROM certificates").get() as { n: number }).n;
  try {
    for (let i = 0; i < spec.count; i += tx) batch(i, Math.min(spec.count, i + tx));
    db.prepare(`INSERT OR IGNORE INTO certificate_names (value, kind, serial)
      SELECT substr(j.value, instr(j.value, ':') + 1), substr(j.value, 1, instr(j.value, ':') - 1), c.serial FROM certificates c, json_each(c.sans) j
      WHERE c.rowid > ? ORDER BY 1, 2, 3`).run(after);
  } finally {
    for (const o of schema) db.exec(o.sql);
  }
}

/** Every statement the store executes while `fn` runs, with its arguments (to EXPLAIN it afterwards). */
export function recordStatements(db: Database.Database, fn: () => Promise<void> | void): Promise<Array<{ sql: string; args: unknown[] }>> {
  const proto = Object.getPrototypeOf(db.prepare("SELECT 1")) as Record<string, (...a: unknown[]) => unknown>;
  const seen: Array<{ sql: string; args: unknown[] }> = [];
  const methods = ["run", "get", "all", "iterate"] as const;
  const originals = methods.map((m) => proto[m]);
  methods.forEach((m, i) => {
    proto[m] = function (this: { source: string }, ...args: unknown[]) {
      seen.push({ sql: this.source, args });
      return originals[i].apply(this, args);
    };
  });
  const restore = () => methods.forEach((m, i) => (proto[m] = originals[i]));
  return (async () => {
    try {
      await fn();
    } finally {
      restore();
    }
    const unique = new Map<string, { sql: string; args: unknown[] }>();
    for (const s of seen) if (/^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b/i.test(s.sql) && !unique.has(s.sql)) unique.set(s.sql, s);
    return [...unique.values()];
  })();
}

/** EXPLAIN QUERY PLAN details of one recorded statement. */
export function planOf(db: Database.Database, s: { sql: string; args: unknown[] }): string[] {
  return (db.prepare(`EXPLAIN QUERY PLAN ${s.sql}`).all(...s.args) as Array<{ detail: string }>).map((r) => r.detail);
}
