import type { DiscoveredCertificate, DiscoveryQuery, DiscoverySighting, DiscoveryStore } from "../discovery-types.js";
import { toDiscovered } from "../rows-protocols.js";
import { q, type Queryable } from "./db.js";

/** The store's notion of a weak algorithm (SQLite's WEAK_SQL: LIKE there is case-insensitive, hence ILIKE). */
const WEAK_SQL = `((key_algorithm ILIKE 'RSA%' AND key_size < 2048) OR (key_algorithm ILIKE 'EC%' AND key_size < 256)
  OR strpos(lower(signature_algorithm), 'sha1') > 0 OR strpos(lower(signature_algorithm), 'md5') > 0
  OR strpos(lower(signature_algorithm), 'md4') > 0 OR strpos(lower(signature_algorithm), 'md2') > 0)`;

/**
 * Discovered certificates on PostgreSQL. The merge of a sighting into its row is one upsert (SQLite reads and
 * writes under an IMMEDIATE transaction): two instances reporting one certificate at once both land, locations
 * united in the statement. Locations are kept sorted by code point and unique, as SQLite's JS sort leaves them.
 */
export class PgDiscoveryStore implements DiscoveryStore {
  constructor(private readonly c: Queryable) {}

  async upsert(s: DiscoverySighting, locations: string[], at: string): Promise<DiscoveredCertificate> {
    const fresh = [...new Set(locations)].sort();
    const rows = await q(this.c, "discovery_upsert", `INSERT INTO discovered_certificates AS d (fingerprint, subject, issuer, serial, not_before,
        not_after, key_algorithm, key_size, signature_algorithm, sans, der, locations, managed_serial, first_seen, last_seen)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
      ON CONFLICT (fingerprint) DO UPDATE SET subject = excluded.subject, issuer = excluded.issuer, serial = excluded.serial,
        not_before = excluded.not_before, not_after = excluded.not_after, key_algorithm = excluded.key_algorithm, key_size = excluded.key_size,
        signature_algorithm = excluded.signature_algorithm, sans = excluded.sans,
        locations = (SELECT coalesce(json_agg(l ORDER BY l COLLATE "C"), '[]')::text FROM
          (SELECT json_array_elements_text(d.locations::json) AS l UNION SELECT json_array_elements_text(excluded.locations::json)) u),
        managed_serial = coalesce(excluded.managed_serial, d.managed_serial), last_seen = excluded.last_seen
      RETURNING *`,
    [s.fingerprint, s.subject, s.issuer, s.serial, s.notBefore, s.notAfter, s.keyAlgorithm, s.keySize ?? null, s.signatureAlgorithm,
      JSON.stringify(s.sans), Buffer.from(s.der), JSON.stringify(fresh), s.managedSerial ?? null, at]);
    return toDiscovered(rows[0]);
  }

  async get(fingerprint: string): Promise<DiscoveredCertificate | undefined> {
    const r = await q(this.c, "discovery_get", "SELECT * FROM discovered_certificates WHERE fingerprint = $1", [fingerprint.toLowerCase()]);
    return r.length ? toDiscovered(r[0]) : undefined;
  }

  async list(qy: DiscoveryQuery = {}): Promise<DiscoveredCertificate[]> {
    const { where, args } = filters(qy);
    const limit = Math.max(1, Math.min(Number.isFinite(qy.limit) ? Number(qy.limit) : 100, 1000));
    const offset = Math.max(0, Number.isFinite(qy.offset) ? Number(qy.offset) : 0);
    const sql = `SELECT * FROM discovered_certificates ${where} ORDER BY not_after ASC, fingerprint ASC LIMIT $${args.length + 1} OFFSET $${args.length + 2}`;
    return (await q(this.c, undefined, sql, [...args, limit, offset])).map(toDiscovered);
  }

  async count(qy: Omit<DiscoveryQuery, "limit" | "offset"> = {}): Promise<number> {
    const { where, args } = filters(qy);
    return (await q<{ n: number }>(this.c, undefined, `SELECT count(*) AS n FROM discovered_certificates ${where}`, args))[0].n;
  }
}

function filters(qy: DiscoveryQuery): { where: string; args: unknown[] } {
  const where: string[] = [];
  const args: unknown[] = [];
  if (qy.expiringBefore) { args.push(qy.expiringBefore); where.push(`not_after < $${args.length}`); }
  if (qy.weak) where.push(WEAK_SQL);
  if (qy.issuer) { args.push(qy.issuer); where.push(`strpos(lower(issuer), lower($${args.length})) > 0`); }
  return { where: where.length ? `WHERE ${where.join(" AND ")}` : "", args };
}
