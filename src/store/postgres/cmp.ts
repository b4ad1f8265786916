import type { CmpExpected, CmpStore, CmpTransactionRecord } from "../cmp-types.js";
import { toCmpTransaction } from "../rows-protocols.js";
import { exec, q, type Queryable } from "./db.js";

const OPEN = "('waitingConfirm', 'pending')";
/** The columns an open transaction sets: $1 is the id, $2..$14 the values of `values()`. */
const SET_OPEN = `state = $2, remember_until = $3, label = $4, last_nonce = $5, protection_kind = $6, mac_kid = $7, signer_cert = $8,
  cert_req_id = $9, body_type = $10, cert_der = $11, serial = $12, request_id = $13, expires_at = $14`;

function values(t: CmpTransactionRecord, until: string): unknown[] {
  const p = t.protection;
  return [
    t.id, t.state, until, t.label, Buffer.from(t.lastNonce), p.kind, p.kind === "mac" ? p.kid : null,
    p.kind === "signature" ? Buffer.from(p.signerCert) : null, t.certReqId.toString(), t.bodyType,
    t.certDer ? Buffer.from(t.certDer) : null, t.serial ?? null, t.requestId ?? null, t.expiresAt,
  ];
}

/**
 * CMP transactions on PostgreSQL (table cmp_transactions). Every method is one statement, as on SQLite: claims
 * are an upsert on the primary key, changes compare-and-set on (state, last nonce), so across instances exactly
 * one caller acts on one message. Expired transactions are claimed with SKIP LOCKED: pollers share them out.
 */
export class PgCmpStore implements CmpStore {
  constructor(private readonly c: Queryable) {}

  async claim(id: string, now: string, rememberUntil: string): Promise<boolean> {
    // The primary key makes the claim single use across instances; an ID past its window is taken over in place.
    return (await exec(this.c, "cmp_claim", `INSERT INTO cmp_transactions (id, state, remember_until) VALUES ($1, 'claimed', $2)
      ON CONFLICT (id) DO UPDATE SET state = 'claimed', remember_until = excluded.remember_until
      WHERE cmp_transactions.state IN ('claimed', 'finished') AND cmp_transactions.remember_until <= $3`, [id, rememberUntil, now])) === 1;
  }

  async open(t: CmpTransactionRecord, rememberUntil: string): Promise<boolean> {
    return (await exec(this.c, "cmp_open", `UPDATE cmp_transactions SET ${SET_OPEN} WHERE id = $1 AND state = 'claimed'`, values(t, rememberUntil))) === 1;
  }

  async advance(t: CmpTransactionRecord, expect: CmpExpected, rememberUntil: string): Promise<boolean> {
    return (await exec(this.c, "cmp_advance", `UPDATE cmp_transactions SET ${SET_OPEN} WHERE id = $1 AND state = $15 AND last_nonce = $16`,
      [...values(t, rememberUntil), expect.state, Buffer.from(expect.lastNonce)])) === 1;
  }

  async get(id: string): Promise<CmpTransactionRecord | undefined> {
    const r = await q(this.c, "cmp_get", `SELECT * FROM cmp_transactions WHERE id = $1 AND state IN ${OPEN}`, [id]);
    return r.length ? toCmpTransaction(r[0]) : undefined;
  }

  async finish(id: string, expect: CmpExpected): Promise<boolean> {
    // The certificate and nonce are not needed once finished; the row stays as the remembered ID.
    return (await exec(this.c, "cmp_finish", `UPDATE cmp_transactions SET state = 'finished', cert_der = NULL, last_nonce = NULL, signer_cert = NULL
      WHERE id = $1 AND state = $2 AND last_nonce = $3`, [id, expect.state, Buffer.from(expect.lastNonce)])) === 1;
  }

  async claimExpired(now: string, leaseUntil: string, limit: number): Promise<CmpTransactionRecord[]> {
    // Rows another instance is claiming right now are skipped, not waited for; a row whose claim committed first
    // is re-checked under its lock (its lease is then in the future) and left out. Each goes to one instance.
    const rows = await q(this.c, "cmp_claim_expired", `WITH due AS MATERIALIZED (
        SELECT id FROM cmp_transactions WHERE state IN ('waitingConfirm', 'pending', 'settling') AND expires_at <= $1
        ORDER BY expires_at LIMIT $3 FOR UPDATE SKIP LOCKED)
      UPDATE cmp_transactions t SET state = 'settling', expires_at = $2 FROM due WHERE t.id = due.id
      RETURNING t.*`, [now, leaseUntil, limit]);
    return rows.map(toCmpTransaction);
  }

  async settled(id: string): Promise<boolean> {
    return (await exec(this.c, "cmp_settled", `UPDATE cmp_transactions SET state = 'finished', cert_der = NULL, last_nonce = NULL, signer_cert = NULL
      WHERE id = $1 AND state = 'settling'`, [id])) === 1;
  }

  async purge(now: string, limit: number): Promise<number> {
    return exec(this.c, "cmp_purge", `DELETE FROM cmp_transactions WHERE id IN
      (SELECT id FROM cmp_transactions WHERE state IN ('claimed', 'finished') AND remember_until <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, [now, limit]);
  }

  async countOpen(): Promise<number> {
    return (await q<{ n: number }>(this.c, "cmp_count_open",
      "SELECT count(*) AS n FROM cmp_transactions WHERE state IN ('waitingConfirm', 'pending', 'settling')"))[0].n;
  }
}
