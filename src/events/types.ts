import type { AuditEvent } from "../store/types.js";

/** What an outbox row carries and a webhook receives: the audit event with its chain link. */
export interface EventPayload {
  seq: number;
  ts: string;
  type: string;
  actor: string;
  target: string | null;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** One outbox row handed to a sink. */
export interface Delivery {
  /** The outbox row id: X-Gateway-Delivery, stable across retries so receivers can drop duplicates. */
  id: number;
  /** The exact JSON stored in the outbox (a webhook signs and sends these bytes). */
  body: string;
  event: EventPayload;
}

/** A sink that delivers from the outbox. `deliver` resolves once delivered and rejects with a short reason otherwise. */
export interface DeliverySink {
  readonly name: string;
  readonly kind: "webhook" | "syslog";
  readonly maxAttempts: number;
  readonly backoff: { initialMs: number; maxMs: number };
  /** How long a claim lasts before another dispatcher may retry the row (covers a process that died mid-delivery). */
  readonly leaseMs: number;
  deliver(d: Delivery, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export function eventPayload(e: AuditEvent): EventPayload {
  return { seq: e.seq, ts: e.ts, type: e.type, actor: e.actor, target: e.target ?? null, data: e.data, prevHash: e.prevHash, hash: e.hash };
}

/** Reads a stored payload back; a row that does not parse is a permanent failure for the dispatcher. */
export function parsePayload(body: string): EventPayload {
  const v: unknown = JSON.parse(body);
  if (!v || typeof v !== "object") throw new Error("outbox payload is not a JSON object");
  const o = v as Partial<EventPayload>;
  if (typeof o.seq !== "number" || typeof o.type !== "string" || typeof o.ts !== "string") throw new Error("outbox payload is not an audit event");
  return {
    seq: o.seq, ts: o.ts, type: o.type, actor: typeof o.actor === "string" ? o.actor : "", target: typeof o.target === "string" ? o.target : null,
    data: o.data && typeof o.data === "object" ? o.data : {}, prevHash: String(o.prevHash ?? ""), hash: String(o.hash ?? ""),
  };
}

/** An error's message, short enough for last_error and a log line. */
export function shortError(e: unknown, max = 500): string {
  const err = e as { message?: unknown; code?: unknown; cause?: { code?: unknown; message?: unknown } } | undefined;
  let m = typeof err?.message === "string" ? err.message : String(e);
  const cause = err?.cause;
  if (cause && (typeof cause.code === "string" || typeof cause.message === "string")) m += ` (${String(cause.code ?? cause.message)})`;
  return m.length > max ? `${m.slice(0, max - 1)}…` : m;
}
