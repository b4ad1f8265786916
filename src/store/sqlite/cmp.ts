import type Database from "better-sqlite3";
import type { CmpExpected, CmpStore, CmpTransactionRecord } from "../cmp-types.js";
import type { Synchronous } from "./facade.js";
import { toCmpTransaction as toRecord } from "../rows-protocols.js";

type Row = Record<string, unknown>;

const OPEN = "('waitingConfirm', 'pending')";
/** The columns an open transaction sets, as named parameters (see `params`). */
const SET_OPEN = `state = @state, remember_until = @until, label = @label, last_nonce = @nonce, protection_kind = @pk, mac_kid = @kid,
  signer_cert = @signer, cert_req_id = @certReqId, body_type = @bodyType, cert_der = @certDer, serial = @serial, request_id = @requestId, expires_at = @expiresAt`;

function params(t: CmpTransactionRecord, until: string): Record<string, unknown> {
  const p = t.protection;
  return {
    id: t.id, state: t.state, until, label: t.label, nonce: Buffer.from(t.lastNonce), pk: p.kind, kid: p.kind === "mac" ? p.kid : null,
    signer: p.kind === "signature" ? Buffer.from(p.signerCert) : null, certReqId: t.certReqId.toString(), bodyType: t.bodyType,
    certDer: t.certDer ? Buffer.from(t.certDer) : null, serial: t.serial ?? null, requestId: t.requestId ?? null, expiresAt: t.expiresAt,
  };
}

/** The CMP transaction table (migration 11, cmp_transactions): every method is one statement, so it holds across processes. */
export class SqliteCmpStore implements Synchronous<CmpStore> {
  private readonly s: Record<"claim" | "open" | "advance" | "get" | "finish" | "expired" | "settled" | "purge" | "count", Database.Statement>;

  constructor(db: Database.Database) {
    this.s = {
      // The primary key makes the claim single-use across processes; an ID past its window is taken over in place.
      claim: db.prepare(`INSERT INTO cmp_transactions (id, state, remember_until) VALUES (@id, 'claimed', @until)
        ON CONFLICT(id) DO UPDATE SET state = 'claimed', remember_until = excluded.remember_until
        WHERE cmp_transactions.state IN ('claimed', 'finished') AND cmp_transactions.remember_until <= @now`),
      open: db.prepare(`UPDATE cmp_transactions SET ${SET_OPEN} WHERE id = @id AND state = 'claimed'`),
      advance: db.prepare(`UPDATE cmp_transactions SET ${SET_OPEN} WHERE id = @id AND state = @expState AND last_nonce = @expNonce`),
      get: db.prepare(`SELECT * FROM cmp_transactions WHERE id = ? AND state IN ${OPEN}`),
      // The certificate and nonce are not needed once finished; the row stays as the remembered ID.
      finish: db.prepare(`UPDATE cmp_transactions SET state = 'finished', cert_der = NULL, last_nonce = NULL, signer_cert = NULL
        WHERE id = ? AND state = ? AND last_nonce = ?`),
      expired: db.prepare(`UPDATE cmp_transactions SET state = 'settling', expires_at = @lease
        WHERE id IN (SELECT id FROM cmp_transactions WHERE state IN ('waitingConfirm', 'pending', 'settling') AND expires_at <= @now ORDER BY expires_at LIMIT @limit)
          AND state IN ('waitingConfirm', 'pending', 'settling') AND expires_at <= @now
        RETURNING *`),
      settled: db.prepare("UPDATE cmp_transactions SET state = 'finished', cert_der = NULL, last_nonce = NULL, signer_cert = NULL WHERE id = ? AND state = 'settling'"),
      purge: db.prepare(`DELETE FROM cmp_transactions WHERE id IN
        (SELECT id FROM cmp_transactions WHERE state IN ('claimed', 'finished') AND remember_until <= ? LIMIT ?)`),
      count: db.prepare("SELECT count(*) AS n FROM cmp_transactions WHERE state IN ('waitingConfirm', 'pending', 'settling')"),
    };
  }

  claim(id: string, now: string, rememberUntil: string): boolean {
    return this.s.claim.run({ id, now, until: rememberUntil }).changes === 1;
  }

  open(t: CmpTransactionRecord, rememberUntil: string): boolean {
    return this.s.open.run(params(t, rememberUntil)).changes === 1;
  }

  advance(t: CmpTransactionRecord, expect: CmpExpected, rememberUntil: string): boolean {
    return this.s.advance.run({ ...params(t, rememberUntil), expState: expect.state, expNonce: Buffer.from(expect.lastNonce) }).changes === 1;
  }

  get(id: string): CmpTransactionRecord | undefined {
    const r = this.s.get.get(id) as Row | undefined;
    return r ? toRecord(r) : undefined;
  }

  finish(id: string, expect: CmpExpected): boolean {
    return this.s.finish.run(id, expect.state, Buffer.from(expect.lastNonce)).changes === 1;
  }

  claimExpired(now: string, leaseUntil: string, limit: number): CmpTransactionRecord[] {
    return (this.s.expired.all({ now, lease: leaseUntil, limit }) as Row[]).map(toRecord);
  }

  settled(id: string): boolean {
    return this.s.settled.run(id).changes === 1;
  }

  purge(now: string, limit: number): number {
    return this.s.purge.run(now, limit).changes;
  }

  countOpen(): number {
    return (this.s.count.get() as { n: number }).n;
  }
}
