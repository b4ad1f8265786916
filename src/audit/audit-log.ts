import { hash } from "node:crypto";
import type { Logger } from "pino";
import { GroupCommit } from "../ca/group-commit.js";
import type { AuditEvent, Store } from "../store/types.js";

export type AuditInput = { type: string; actor: string; target?: string; data?: Record<string, unknown> };

/** Deterministic JSON (sorted keys) so the hash does not depend on property order. */
export function canonicalJson(v: unknown): string {
  // The exact text every stored hash was made from: change nothing but speed (no intermediate arrays).
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) {
    let s = "[";
    for (let i = 0; i < v.length; i++) s += (i ? "," : "") + canonicalJson(v[i]);
    return `${s}]`;
  }
  const o = v as Record<string, unknown>;
  let s = "{";
  for (const k of Object.keys(o).sort()) {
    const x = o[k];
    if (x === undefined) continue;
    s += `${s.length > 1 ? "," : ""}${JSON.stringify(k)}:${canonicalJson(x)}`;
  }
  return `${s}}`;
}

export function eventHash(prevHash: string, seq: number, e: Omit<AuditEvent, "seq" | "prevHash" | "hash">): string {
  // SHA-256 over prevHash then the canonical JSON, hashed as one string (the same UTF-8 bytes as two updates).
  return hash("sha256", prevHash + canonicalJson({ seq, ts: e.ts, type: e.type, actor: e.actor, target: e.target ?? null, data: e.data }), "hex");
}

export type ChainVerdict = { ok: true; events: number } | { ok: false; events: number; brokenAt: number; why: string };

/** Append-only, hash-chained audit trail; every event is also a pino log line. */
export class AuditLog {
  private readonly listeners: Array<(e: AuditEvent) => void> = [];
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
    return this.commits.run(() => this.record(input));
  }

  record(input: AuditInput): AuditEvent {
    // One transaction (joined with the caller's, if any): the event and what listeners write for it commit together.
    const e = this.listeners.length
      ? this.store.joinTransaction(() => {
        const ev = this.append(input);
        for (const l of this.listeners) l(ev);
        return ev;
      })
      : this.append(input);
    this.log?.info({ audit: { seq: e.seq, type: e.type, actor: e.actor, target: e.target, data: e.data } }, `audit ${e.type}`);
    return e;
  }

  private append(input: AuditInput): AuditEvent {
    return this.store.appendAudit({ ts: new Date().toISOString(), type: input.type, actor: input.actor, target: input.target, data: input.data ?? {} }, eventHash);
  }

  /**
   * Called with every recorded event, synchronously and inside the caller's transaction when there is
   * one: a listener that writes to the store (the event outbox) commits or rolls back with the event.
   */
  subscribe(listener: (e: AuditEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Walks the whole chain; reports the first event whose link or content does not match. */
  verify(): ChainVerdict {
    let prev = "0".repeat(64);
    let expectedSeq = 1;
    let n = 0;
    for (const e of this.store.allAudit()) {
      n++;
      if (e.seq !== expectedSeq) return { ok: false, events: n, brokenAt: expectedSeq, why: `event ${expectedSeq} is missing` };
      if (e.prevHash !== prev) return { ok: false, events: n, brokenAt: e.seq, why: "previous-hash link does not match" };
      if (eventHash(prev, e.seq, e) !== e.hash) return { ok: false, events: n, brokenAt: e.seq, why: "content does not match its hash" };
      prev = e.hash;
      expectedSeq++;
    }
    return { ok: true, events: n };
  }
}
