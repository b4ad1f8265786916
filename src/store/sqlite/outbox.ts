import type Database from "better-sqlite3";
import { OutboxStatus, OutboxRecord, OutboxQuery, OutboxCount, OutboxStore } from "../outbox-types.js";
import type { Synchronous } from "./facade.js";
import { toOutbox as toRecord } from "../rows-protocols.js";

type Row = Record<string, unknown>;

export class SqliteOutboxStore implements Synchronous<OutboxStore> {
  private readonly s: Record<
    "enqueue" | "claim" | "delivered" | "reschedule" | "dead" | "release" | "get" | "list" | "redeliver" | "counts",
    Database.Statement
  >;

  constructor(private readonly db: Database.Database) {
    this.s = {
      enqueue: db.prepare(`INSERT INTO event_outbox (sink, audit_seq, payload, status, attempts, next_attempt_at, created_at)
        VALUES (?, ?, ?, 'pending', 0, ?, ?)`),
      // One statement, so two dispatchers (server and CLI) can never claim the same row.
      claim: db.prepare(`UPDATE event_outbox SET status = 'sending', next_attempt_at = @leaseUntil
        WHERE id = (SELECT id FROM event_outbox WHERE sink = @sink AND status IN ('pending', 'sending') ORDER BY audit_seq, id LIMIT 1)
          AND next_attempt_at <= @now
        RETURNING *`),
      delivered: db.prepare(`UPDATE event_outbox SET status = 'delivered', attempts = attempts + 1, delivered_at = ?, last_error = NULL
        WHERE id = ? AND status = 'sending'`),
      reschedule: db.prepare(`UPDATE event_outbox SET status = 'pending', attempts = attempts + 1, next_attempt_at = ?, last_error = ?
        WHERE id = ? AND status = 'sending'`),
      dead: db.prepare("UPDATE event_outbox SET status = 'dead', attempts = attempts + 1, last_error = ? WHERE id = ? AND status = 'sending'"),
      release: db.prepare("UPDATE event_outbox SET status = 'pending', next_attempt_at = ? WHERE id = ? AND status = 'sending'"),
      get: db.prepare("SELECT * FROM event_outbox WHERE id = ?"),
      list: db.prepare(`SELECT * FROM event_outbox WHERE id > @after AND (@status IS NULL OR status = @status) AND (@sink IS NULL OR sink = @sink)
        ORDER BY id LIMIT @limit`),
      redeliver: db.prepare("UPDATE event_outbox SET status = 'pending', attempts = 0, next_attempt_at = ? WHERE status = 'dead' AND sink = ?"),
      counts: db.prepare("SELECT sink, status, count(*) AS n FROM event_outbox GROUP BY sink, status ORDER BY sink, status"),
    };
  }

  enqueue(sink: string, auditSeq: number, payload: string, now: string): number {
    return Number(this.s.enqueue.run(sink, auditSeq, payload, now, now).lastInsertRowid);
  }

  claimNext(sink: string, now: string, leaseUntil: string): OutboxRecord | undefined {
    const row = this.s.claim.get({ sink, now, leaseUntil }) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  markDelivered(id: number, now: string): boolean {
    return this.s.delivered.run(now, id).changes === 1;
  }

  reschedule(id: number, nextAttemptAt: string, error: string): boolean {
    return this.s.reschedule.run(nextAttemptAt, error, id).changes === 1;
  }

  markDead(id: number, error: string): boolean {
    return this.s.dead.run(error, id).changes === 1;
  }

  release(id: number, now: string): boolean {
    return this.s.release.run(now, id).changes === 1;
  }

  get(id: number): OutboxRecord | undefined {
    const row = this.s.get.get(id) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  list(q: OutboxQuery): OutboxRecord[] {
    const args = { after: q.afterId ?? 0, status: q.status ?? null, sink: q.sink ?? null, limit: Math.max(1, Math.min(q.limit ?? 100, 1000)) };
    return (this.s.list.all(args) as Row[]).map(toRecord);
  }

  redeliverDead(sinks: string[], now: string): number {
    return this.db.transaction(() => sinks.reduce((n, sink) => n + this.s.redeliver.run(now, sink).changes, 0)).immediate();
  }

  counts(): OutboxCount[] {
    return (this.s.counts.all() as Row[]).map((r) => ({ sink: r.sink as string, status: r.status as OutboxStatus, count: r.n as number }));
  }
}
