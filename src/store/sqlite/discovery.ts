import type Database from "better-sqlite3";
import { StatementCache } from "./statements.js";
import { DiscoverySighting, DiscoveredCertificate, DiscoveryQuery, DiscoveryStore } from "../discovery-types.js";
import type { Synchronous } from "./facade.js";
import { toDiscovered } from "../rows-protocols.js";

type Row = Record<string, unknown>;

/** The store's notion of a weak algorithm (the inventory's weakness rules say the same). */
const WEAK_SQL = `((key_algorithm LIKE 'RSA%' AND key_size < 2048) OR (key_algorithm LIKE 'EC%' AND key_size < 256)
  OR instr(lower(signature_algorithm), 'sha1') > 0 OR instr(lower(signature_algorithm), 'md5') > 0
  OR instr(lower(signature_algorithm), 'md4') > 0 OR instr(lower(signature_algorithm), 'md2') > 0)`;

export class SqliteDiscoveryStore implements Synchronous<DiscoveryStore> {
  private readonly stmts: StatementCache;
  // Read-then-write: run IMMEDIATE so another process's commit in between waits instead of failing (SQLITE_BUSY).
  private readonly upsertTx: { immediate: (s: DiscoverySighting, locations: string[], at: string) => DiscoveredCertificate };

  constructor(private readonly db: Database.Database) {
    this.stmts = new StatementCache(db);
    this.upsertTx = this.db.transaction((s: DiscoverySighting, locations: string[], at: string) => {
      const old = this.get(s.fingerprint);
      const merged = [...new Set([...(old?.locations ?? []), ...locations])].sort();
      const args = {
        ...s, keySize: s.keySize ?? null, sans: JSON.stringify(s.sans), der: Buffer.from(s.der), locations: JSON.stringify(merged),
        managedSerial: s.managedSerial ?? old?.managedSerial ?? null, at,
      };
      if (old) {
        this.stmts.get(`UPDATE discovered_certificates SET subject = @subject, issuer = @issuer, serial = @serial, not_before = @notBefore,
          not_after = @notAfter, key_algorithm = @keyAlgorithm, key_size = @keySize, signature_algorithm = @signatureAlgorithm, sans = @sans,
          locations = @locations, managed_serial = @managedSerial, last_seen = @at WHERE fingerprint = @fingerprint`).run(args);
      } else {
        this.stmts.get(`INSERT INTO discovered_certificates (fingerprint, subject, issuer, serial, not_before, not_after, key_algorithm, key_size,
          signature_algorithm, sans, der, locations, managed_serial, first_seen, last_seen) VALUES (@fingerprint, @subject, @issuer, @serial,
          @notBefore, @notAfter, @keyAlgorithm, @keySize, @signatureAlgorithm, @sans, @der, @locations, @managedSerial, @at, @at)`).run(args);
      }
      return this.get(s.fingerprint)!;
    });
  }

  upsert(s: DiscoverySighting, locations: string[], at: string): DiscoveredCertificate {
    return this.upsertTx.immediate(s, locations, at);
  }

  get(fingerprint: string): DiscoveredCertificate | undefined {
    const row = this.stmts.get("SELECT * FROM discovered_certificates WHERE fingerprint = ?").get(fingerprint.toLowerCase()) as Row | undefined;
    return row ? toDiscovered(row) : undefined;
  }

  list(q: DiscoveryQuery = {}): DiscoveredCertificate[] {
    const { where, args } = filters(q);
    const sql = `SELECT * FROM discovered_certificates ${where} ORDER BY not_after ASC, fingerprint ASC LIMIT @limit OFFSET @offset`;
    const limit = Math.max(1, Math.min(Number.isFinite(q.limit) ? Number(q.limit) : 100, 1000));
    const offset = Math.max(0, Number.isFinite(q.offset) ? Number(q.offset) : 0);
    return (this.stmts.get(sql).all({ ...args, limit, offset }) as Row[]).map(toDiscovered);
  }

  count(q: Omit<DiscoveryQuery, "limit" | "offset"> = {}): number {
    const { where, args } = filters(q);
    return (this.stmts.get(`SELECT count(*) AS n FROM discovered_certificates ${where}`).get(args) as { n: number }).n;
  }
}

function filters(q: DiscoveryQuery): { where: string; args: Record<string, unknown> } {
  const where: string[] = [];
  const args: Record<string, unknown> = {};
  if (q.expiringBefore) { where.push("not_after < @expiringBefore"); args.expiringBefore = q.expiringBefore; }
  if (q.weak) where.push(WEAK_SQL);
  if (q.issuer) { where.push("instr(lower(issuer), lower(@issuer)) > 0"); args.issuer = q.issuer; }
  return { where: where.length ? `WHERE ${where.join(" AND ")}` : "", args };
}
