import type { OutboxCount, OutboxQuery, OutboxRecord, OutboxStatus, OutboxStore } from "../outbox-types.js";
import { toOutbox } from "../rows-protocols.js";
import { exec, q, type Queryable } from "./db.js";

/**
 * The event outbox on PostgreSQL (table event_outbox), as SqliteOutboxStore. Rows move on by compare-and-set on
 * their status, so one dispatcher (of any instance) acts on a claimed row.
 */
export class PgOutboxStore implements OutboxStore {
  constructor(private readonly c: Queryable) {}

  async enqueue(sink: string, auditSeq: number, payload: string, now: string): Promise<number> {
    const r = await q<{ id: number }>(this.c, "outbox_enqueue", `INSERT INTO event_outbox (sink, audit_seq, payload, status, attempts, next_attempt_at, created_at)
      VALUES ($1, $2, $3, 'pending', 0, $4, $4) RETURNING id`, [sink, auditSeq, payload, now]);
    return r[0].id;
  }

  async claimNext(sink: string, now: string, leaseUntil: string): Promise<OutboxRecord | undefined> {
    // The sink's head row, locked WITHOUT skip: a sink delivers in audit order, so a second dispatcher must not
    // jump to the next row while the head is being claimed. It waits for that claim (one short statement), then
    // finds the head 'sending' under a lease in the future (or gone) and claims nothing.
    const rows = await q(this.c, "outbox_claim", `UPDATE event_outbox SET status = 'sending', next_attempt_at = $3
      WHERE id = (SELECT id FROM event_outbox WHERE sink = $1 AND status IN ('pending', 'sending') ORDER BY audit_seq, id LIMIT 1 FOR UPDATE)
        AND next_attempt_at <= $2
      RETURNING *`, [sink, now, leaseUntil]);
    return rows.length ? toOutbox(rows[0]) : undefined;
  }

  async markDelivered(id: number, now: string): Promise<boolean> {
    return (await exec(this.c, "outbox_delivered", `UPDATE event_outbox SET status = 'delivered', attempts = attempts + 1, delivered_at = $1,
      last_error = NULL WHERE id = $2 AND status = 'sending'`, [now, id])) === 1;
  }

  async reschedule(id: number, nextAttemptAt: string, error: string): Promise<boolean> {
    return (await exec(this.c, "outbox_reschedule", `UPDATE event_outbox SET status = 'pending', attempts = attempts + 1, next_attempt_at = $1,
      last_error = $2 WHERE id = $3 AND status = 'sending'`, [nextAttemptAt, error, id])) === 1;
  }

  async markDead(id: number, error: string): Promise<boolean> {
    return (await exec(this.c, "outbox_dead", "UPDATE event_outbox SET status = 'dead', attempts = attempts + 1, last_error = $1 WHERE id = $2 AND status = 'sending'",
      [error, id])) === 1;
  }

  async release(id: number, now: string): Promise<boolean> {
    return (await exec(this.c, "outbox_release", "UPDATE event_outbox SET status = 'pending', next_attempt_at = $1 WHERE id = $2 AND status = 'sending'",
      [now, id])) === 1;
  }

  async get(id: number): Promise<OutboxRecord | undefined> {
    const r = await q(this.c, "outbox_get", "SELECT * FROM event_outbox WHERE id = $1", [id]);
    return r.length ? toOutbox(r[0]) : undefined;
  }

  async list(qy: OutboxQuery): Promise<OutboxRecord[]> {
    const rows = await q(this.c, "outbox_list", `SELECT * FROM event_outbox WHERE id > $1 AND ($2::text IS NULL OR status = $2::text)
      AND ($3::text IS NULL OR sink = $3::text) ORDER BY id LIMIT $4`,
    [qy.afterId ?? 0, qy.status ?? null, qy.sink ?? null, Math.max(1, Math.min(qy.limit ?? 100, 1000))]);
    return rows.map(toOutbox);
  }

  async redeliverDead(sinks: string[], now: string): Promise<number> {
    if (!sinks.length) return 0;
    return exec(this.c, undefined, "UPDATE event_outbox SET status = 'pending', attempts = 0, next_attempt_at = $1 WHERE status = 'dead' AND sink = ANY($2::text[])",
      [now, sinks]);
  }

  async counts(): Promise<OutboxCount[]> {
    const rows = await q(this.c, undefined, "SELECT sink, status, count(*) AS n FROM event_outbox GROUP BY sink, status ORDER BY sink, status");
    return rows.map((r) => ({ sink: r.sink as string, status: r.status as OutboxStatus, count: r.n as number }));
  }
}
