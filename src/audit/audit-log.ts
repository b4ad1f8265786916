import type { Logger } from "pino";
import { GroupCommit } from "../ca/group-commit.js";
import type { AuditEvent, Store } from "../store/types.js";
import { eventHash } from "./event-hash.js";
import { currentRequestId } from "../server/request-context.js";

export { canonicalJson, eventHash } from "./event-hash.js";

/** Writes for an event, through the transaction that records it. */
export type AuditListener = (e: AuditEvent, tx: Store) => void | Promise<void>;

export type AuditInput = { type: string; actor: string; target?: string; data?: Record<string, unknown> };

/**
 * The X-Request-Id of the HTTP request being handled, as `httpRequestId` in the event's data (covered by its hash;
 * `requestId` already names the enrollment request in several events). Events recorded outside a request
 * (schedules, the CLI) carry none.
 */
function withRequestId(input: AuditInput): AuditInput {
  const id = currentRequestId();
  if (id === undefined || input.data?.httpRequestId !== undefined) return input;
  return { ...input, data: { ...input.data, httpRequestId: id } };
}

export type ChainVerdict = { ok: true; events: number } | { ok: false; events: number; brokenAt: number; why: string };

/** Append-only, hash-chained audit trail; every event is also a pino log line. */
export class AuditLog {
  private readonly listeners: AuditListener[] = [];
  /**
   * The store's shared group commit: the engine's intent and completion writes and recordAsync's events
   * queued in the same event-loop turn commit in one transaction.
   */
  readonly commits: GroupCommit;

  constructor(private readonly store: Store, private readonly log?: Logger) {
    this.commits = new GroupCommit(store);
  }

  /**
   * As record, in the next shared commit instead of a transaction of its own; resolves once the event is
   * durable. For events nothing else must commit with (a protocol's request log), under load.
   */
  recordAsync(input: AuditInput): Promise<AuditEvent> {
    const stamped = withRequestId(input); // now: the commit runs later, in whichever request's turn flushes it
    return this.commits.run((tx) => this.write(stamped, tx));
  }

  /**
   * Appends one event. Inside a caller's transaction (`tx`) it commits or rolls back with the caller's writes;
   * without one, the event and what listeners write for it get a transaction of their own.
   */
  record(input: AuditInput, tx?: Store): Promise<AuditEvent> {
    return this.write(withRequestId(input), tx);
  }

  private async write(input: AuditInput, tx?: Store): Promise<AuditEvent> {
    const e = tx
      ? await this.appendWithListeners(input, tx)
      : this.listeners.length
        ? await this.store.transaction((t) => this.appendWithListeners(input, t))
        : await this.append(input, this.store);
    this.log?.info({ audit: { seq: e.seq, type: e.type, actor: e.actor, target: e.target, data: e.data } }, `audit ${e.type}`);
    return e;
  }

  private async appendWithListeners(input: AuditInput, tx: Store): Promise<AuditEvent> {
    const ev = await this.append(input, tx);
    for (const l of this.listeners) await l(ev, tx);
    return ev;
  }

  private append(input: AuditInput, store: Store): Promise<AuditEvent> {
    return store.appendAudit({ ts: new Date().toISOString(), type: input.type, actor: input.actor, target: input.target, data: input.data ?? {} });
  }

  /**
   * Called with every recorded event inside the transaction that records it (`tx`): a listener that writes to
   * the store (the event outbox) writes through `tx`, so it commits or rolls back with the event.
   */
  subscribe(listener: AuditListener): void {
    this.listeners.push(listener);
  }

  /** Walks the whole chain, a page at a time; reports the first event whose link or content does not match. */
  async verify(): Promise<ChainVerdict> {
    let prev = "0".repeat(64);
    let expectedSeq = 1;
    let n = 0;
    let cursor: string | undefined;
    do {
      const page = await this.store.pageAudit({}, { cursor, limit: 1000 });
      for (const e of page.items) {
        n++;
        if (e.seq !== expectedSeq) return { ok: false, events: n, brokenAt: expectedSeq, why: `event ${expectedSeq} is missing` };
        if (e.prevHash !== prev) return { ok: false, events: n, brokenAt: e.seq, why: "previous-hash link does not match" };
        if (eventHash(prev, e.seq, e) !== e.hash) return { ok: false, events: n, brokenAt: e.seq, why: "content does not match its hash" };
        prev = e.hash;
        expectedSeq++;
      }
      cursor = page.next;
    } while (cursor !== undefined);
    return { ok: true, events: n };
  }
}
