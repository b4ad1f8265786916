import pg from "pg";
import type { CrlRecord } from "../types.js";
import type { CrlDirtyState, CrlMeta, CrlStore, RevokedCursor } from "../crl-types.js";
import { exec, inTransaction, q, type Queryable } from "./db.js";

/**
 * CRL storage on PostgreSQL: the same tables and rules as SqliteCrlStore (certificates / crls / crl_state of the
 * core schema). The per-CA build lease and the dirty marker are single upserts, so instances agree on them; the
 * stored CRL number's primary key (ca_name, number) refuses a duplicate should two builds ever race.
 */
export class PgCrlStore implements CrlStore {
  constructor(private readonly c: Queryable) {}

  async forEachRevoked(caName: string, after: RevokedCursor | undefined, limit: number, row: (serial: string, revokedAt: string, reason: number) => void): Promise<RevokedCursor | undefined> {
    // A range seek per page over the covering index certificates_crl (ca_name, revoked_at, serial, revocation_reason);
    // array rows: no object per revoked certificate.
    const res = await this.c.query<[string, string, number | null]>({
      name: "crl_revoked_page", rowMode: "array", values: [caName, after?.revokedAt ?? "", after?.serial ?? "", limit],
      text: `SELECT serial, revoked_at, revocation_reason FROM certificates
        WHERE ca_name = $1 AND revoked_at IS NOT NULL AND (revoked_at, serial) > ($2, $3) ORDER BY revoked_at, serial LIMIT $4`,
    });
    let serial = "";
    let at = "";
    for (const r of res.rows) {
      serial = r[0];
      at = r[1];
      row(serial, at, r[2] ?? 0);
    }
    return res.rows.length === limit ? { revokedAt: at, serial } : undefined;
  }

  async markDirty(caName: string, at: string): Promise<void> {
    await exec(this.c, "crl_mark_dirty", `INSERT INTO crl_state (ca_name, generation, dirty_since) VALUES ($1, 1, $2)
      ON CONFLICT (ca_name) DO UPDATE SET generation = crl_state.generation + 1, dirty_since = coalesce(crl_state.dirty_since, excluded.dirty_since)`,
    [caName, at]);
  }

  async state(caName: string): Promise<CrlDirtyState> {
    const r = (await q(this.c, "crl_state", "SELECT generation, dirty_since FROM crl_state WHERE ca_name = $1", [caName]))[0];
    return { caName, generation: (r?.generation as number) ?? 0, dirtySince: (r?.dirty_since as string | null) ?? undefined };
  }

  async dirty(): Promise<CrlDirtyState[]> {
    return (await q(this.c, "crl_dirty", "SELECT ca_name, generation, dirty_since FROM crl_state WHERE dirty_since IS NOT NULL"))
      .map((r) => ({ caName: r.ca_name as string, generation: r.generation as number, dirtySince: r.dirty_since as string }));
  }

  async markClean(caName: string, generation: number, buildStart: string): Promise<boolean> {
    // Changes after `generation` all happened after the build began: that is when the next delay starts.
    // One statement: the answer is the row as this update left it (no row: nothing was ever dirty).
    const r = await q(this.c, "crl_mark_clean", `UPDATE crl_state SET dirty_since = CASE WHEN generation = $1 THEN NULL ELSE $2 END
      WHERE ca_name = $3 RETURNING dirty_since`, [generation, buildStart, caName]);
    return !r.length || r[0].dirty_since === null;
  }

  async claim(caName: string, owner: string, now: string, until: string): Promise<boolean> {
    // Creates the CA's row or takes the lease over in one statement: of two instances one wins.
    return (await exec(this.c, "crl_claim", `INSERT INTO crl_state (ca_name, generation, lease_owner, lease_until) VALUES ($1, 0, $2, $3)
      ON CONFLICT (ca_name) DO UPDATE SET lease_owner = excluded.lease_owner, lease_until = excluded.lease_until
      WHERE crl_state.lease_owner IS NULL OR crl_state.lease_owner = excluded.lease_owner OR crl_state.lease_until <= $4`,
    [caName, owner, until, now])) === 1;
  }

  async release(caName: string, owner: string): Promise<void> {
    await exec(this.c, "crl_release", "UPDATE crl_state SET lease_owner = NULL, lease_until = NULL WHERE ca_name = $1 AND lease_owner = $2", [caName, owner]);
  }

  async latestMeta(caName: string): Promise<CrlMeta | undefined> {
    const r = (await q(this.c, "crl_latest_meta", "SELECT number, this_update, next_update FROM crls WHERE ca_name = $1 ORDER BY number DESC LIMIT 1", [caName]))[0];
    return r ? { number: r.number as number, thisUpdate: r.this_update as string, nextUpdate: r.next_update as string } : undefined;
  }

  async latest(caName: string): Promise<CrlRecord | undefined> {
    const r = (await q(this.c, "crl_latest", "SELECT * FROM crls WHERE ca_name = $1 ORDER BY number DESC LIMIT 1", [caName]))[0];
    return r ? { caName, number: r.number as number, thisUpdate: r.this_update as string, nextUpdate: r.next_update as string, der: r.der as Buffer } : undefined;
  }

  /** max(stored + 1, now in ms), as SqliteCrlStore.nextNumber (see there why); the column is bigint. */
  async nextNumber(caName: string, nowMs = Date.now()): Promise<number> {
    const r = await q<{ n: number | null }>(this.c, "crl_max_number", "SELECT max(number) AS n FROM crls WHERE ca_name = $1", [caName]);
    return Math.max((r[0]?.n ?? 0) + 1, nowMs);
  }

  async save(rec: CrlRecord, keep: number): Promise<void> {
    const der = Buffer.from(rec.der.buffer, rec.der.byteOffset, rec.der.byteLength); // no copy of a large CRL
    const run = async (c: Queryable) => {
      await exec(c, "crl_insert", "INSERT INTO crls (ca_name, number, this_update, next_update, der) VALUES ($1, $2, $3, $4, $5)",
        [rec.caName, rec.number, rec.thisUpdate, rec.nextUpdate, der]);
      // The newest `keep` by rank: numbers are not consecutive.
      await exec(c, "crl_prune", `DELETE FROM crls WHERE ca_name = $1 AND number < (SELECT min(number) FROM
        (SELECT number FROM crls WHERE ca_name = $1 ORDER BY number DESC LIMIT $2) newest)`, [rec.caName, keep]);
    };
    if (this.c instanceof pg.Pool) await inTransaction(this.c, run);
    else await run(this.c);
  }
}
