export type OutboxStatus = "pending" | "sending" | "delivered" | "dead";
export const OUTBOX_STATUSES: readonly OutboxStatus[] = ["pending", "sending", "delivered", "dead"];

/** One event for one sink. `payload` is the exact JSON a webhook receives. */
export interface OutboxRecord {
  id: number;
  sink: string;
  auditSeq: number;
  payload: string;
  status: OutboxStatus;
  /** Delivery attempts made (since the last redelivery of a dead row). */
  attempts: number;
  /** Pending: when it is due. Sending: when the claim lapses and another dispatcher may take it over. */
  nextAttemptAt: string;
  lastError?: string;
  createdAt: string;
  deliveredAt?: string;
}

export interface OutboxQuery {
  status?: OutboxStatus;
  sink?: string;
  /** Rows with a larger id only (paging). */
  afterId?: number;
  limit?: number;
}

export interface OutboxCount {
  sink: string;
  status: OutboxStatus;
  count: number;
}

/**
 * The event outbox (migration 6, table event_outbox): what each sink still has to deliver. Rows are
 * written in the audit event's transaction and never deleted; delivered and dead rows are the record.
 * Timestamps are ISO strings from `toISOString()`, so they compare as text.
 */
export interface OutboxStore {
  enqueue(sink: string, auditSeq: number, payload: string, now: string): Promise<number>;
  /**
   * Atomically claims the sink's oldest undelivered row (audit order) when it is due, marking it
   * 'sending' until `leaseUntil`. A row whose claim lapsed (its process died) is claimed again.
   * Nothing when the head row is not due: later rows wait, so a sink sees events in order.
   */
  claimNext(sink: string, now: string, leaseUntil: string): Promise<OutboxRecord | undefined>;
  markDelivered(id: number, now: string): Promise<boolean>;
  /** Counts a failed attempt and makes the row due again at `nextAttemptAt`. */
  reschedule(id: number, nextAttemptAt: string, error: string): Promise<boolean>;
  /** Counts the last failed attempt and gives up: the row stays as a dead letter. */
  markDead(id: number, error: string): Promise<boolean>;
  /** Gives a claimed row back without counting an attempt (shutdown). */
  release(id: number, now: string): Promise<boolean>;
  get(id: number): Promise<OutboxRecord | undefined>;
  list(q: OutboxQuery): Promise<OutboxRecord[]>;
  /** Dead rows of the given sinks back to pending with a fresh attempt count; returns how many. */
  redeliverDead(sinks: string[], now: string): Promise<number>;
  counts(): Promise<OutboxCount[]>;
}
