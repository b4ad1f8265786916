import { nameSelector } from "../names.js";
import type { ArchiveBatch, InventoryStats } from "../inventory-types.js";
import { q, type Queryable, type Row } from "./db.js";
import { ARCHIVE_COLUMNS } from "./schema-core.js";

/**
 * Inventory queries whose cost must not grow with the inventory or one requester's history (the PostgreSQL form
 * of sqlite/inventory.ts): each is an index search bounded by what it returns. Fixed-text statements are named,
 * so each connection plans them once.
 */

/** The newest issued, unrevoked, unreplaced certificate of requester + profile + names expiring in (now, notAfter], other than `exclude`. */
export async function replaceable(c: Queryable, requester: { kind: string; id: string }, profile: string, key: string, notAfter: string, now: string, exclude: string): Promise<string | undefined> {
  const rows = await q<{ serial: string }>(c, "inv_replaceable", `SELECT serial FROM certificates WHERE requester_kind = $1 AND requester_id = $2
    AND profile = $3 AND names_key = $4 AND stage = 'issued' AND revoked_at IS NULL AND replaced_by IS NULL AND not_after > $5 AND not_after <= $6
    AND serial <> $7 ORDER BY not_after DESC LIMIT 1`, [requester.kind, requester.id, profile, key, now, notAfter, exclude]);
  return rows[0]?.serial;
}

/** Certificates holding a name, valid (issued, unrevoked, unexpired) or on hold and unexpired: through certificate_names. */
export async function byName(c: Queryable, entry: string, now: string, limit: number, state: "valid" | "held"): Promise<Row[]> {
  const { value, kind } = nameSelector(entry);
  const status = state === "valid" ? "c.revoked_at IS NULL" : "c.revocation_reason = 6";
  return q(c, `inv_by_name_${state}`, `SELECT c.* FROM certificate_names n JOIN certificates c ON c.serial = n.serial
    WHERE n.value = $1 AND ($2::text IS NULL OR n.kind = $2) AND c.stage = 'issued' AND ${status} AND c.not_after > $3 LIMIT $4`,
  [value, kind, now, limit]);
}

/** A certificate moved to the archive, by serial (its row carries archived_at). */
export async function archived(c: Queryable, serial: string): Promise<Row | undefined> {
  return (await q(c, "inv_archived", "SELECT * FROM certificates_archive WHERE serial = $1", [serial]))[0];
}

/**
 * Moves at most `limit` certificates whose notAfter is at or before `cutoff` to the archive, oldest first, and
 * drops their lifecycle notices. One statement (data-modifying CTEs), so it is atomic with or without the caller's
 * transaction; the rows are locked as they are picked, so two archivers never move one row twice.
 */
export async function archiveExpired(c: Queryable, cutoff: string, at: string, limit: number): Promise<ArchiveBatch> {
  const [r] = await q<{ n: number; first: string | null; last: string | null }>(c, "inv_archive_expired", `WITH
    picked AS (SELECT serial FROM certificates WHERE not_after <= $1 ORDER BY not_after LIMIT $2 FOR UPDATE),
    moved AS (DELETE FROM certificates c USING picked p WHERE c.serial = p.serial RETURNING c.*),
    kept AS (INSERT INTO certificates_archive (${ARCHIVE_COLUMNS}, archived_at) SELECT ${ARCHIVE_COLUMNS}, $3 FROM moved RETURNING not_after),
    notices AS (DELETE FROM lifecycle_notices WHERE serial IN (SELECT serial FROM moved))
    SELECT count(*) AS n, min(not_after) AS first, max(not_after) AS last FROM kept`, [cutoff, limit, at]);
  if (!r || !r.n) return { count: 0 };
  return { count: r.n, from: r.first!, to: r.last! };
}

/** The dashboard's figures, aggregated in SQL (no certificate read into memory), in two round trips. */
export async function stats(c: Queryable, s: { now: string; soon: string; weekStarts: string[] }): Promise<InventoryStats> {
  const [counts] = await q<{ valid: number; expired: number; revoked: number; weeks: number[] | null }>(c, "inv_stats_counts", `SELECT
    (SELECT count(*) FROM certificates WHERE stage = 'issued' AND revoked_at IS NULL AND not_after > $1) AS valid,
    (SELECT count(*) FROM certificates WHERE stage = 'issued' AND revoked_at IS NULL AND not_after <= $1) AS expired,
    (SELECT count(*) FROM certificates WHERE stage = 'issued' AND revoked_at IS NOT NULL) AS revoked,
    (SELECT array_agg((SELECT count(*) FROM certificates WHERE not_after >= w.f AND not_after < w.t AND not_after > $1
       AND stage = 'issued' AND revoked_at IS NULL) ORDER BY w.i)
     FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS w(f, t, i)) AS weeks`,
  [s.now, s.weekStarts.slice(0, -1), s.weekStarts.slice(1)]);
  const groups = (await q(c, "inv_stats_groups", `SELECT profile, coalesce(owner, '') AS owner, count(*) AS n,
    count(*) FILTER (WHERE not_after <= $1) AS soon FROM certificates
    WHERE stage = 'issued' AND revoked_at IS NULL AND not_after > $2 GROUP BY 1, 2`, [s.soon, s.now]))
    .map((r) => ({ profile: r.profile as string, owner: r.owner as string, valid: Number(r.n), expiringSoon: Number(r.soon ?? 0) }));
  // array_agg of count(*) is bigint[]: node-postgres hands it back as strings (the int8 parser covers scalars only).
  const expiringByWeek = (counts.weeks ?? []).map(Number);
  return { valid: Number(counts.valid), revoked: Number(counts.revoked), expired: Number(counts.expired), groups, expiringByWeek };
}
