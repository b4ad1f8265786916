import type { Logger } from "pino";
import type { OutboxRecord, OutboxStore } from "../store/outbox-types.js";
import { parsePayload, shortError, type DeliverySink, type EventPayload } from "./types.js";

/** Delay before retry number `attempts` (1 = first retry): doubling from initialMs, capped at maxMs. */
export function backoffDelay(attempts: number, b: { initialMs: number; maxMs: number }): number {
  const exp = Math.min(Math.max(attempts - 1, 0), 40); // 2^40 ms is far past any cap
  return Math.min(b.maxMs, b.initialMs * 2 ** exp);
}

/** How long close() lets a delivery in flight finish before aborting it (then the row goes back to pending). */
const CLOSE_GRACE_MS = 1500;

/**
 * Delivers outbox rows: one loop per sink, one row in flight per sink, oldest audit event first.
 * Woken by a poll timer (unref'd, so a CLI process can exit) and by new events.
 */
export class Dispatcher {
  private timer?: NodeJS.Timeout;
  private wakeTimer?: NodeJS.Timeout;
  /** Set when close() starts: no new claims. */
  private stopping = false;
  private readonly running = new Map<string, Promise<void>>();
  /** Rows this process claimed and has not settled: released on close. */
  private readonly claimed = new Map<number, AbortController>();

  constructor(
    private readonly outbox: OutboxStore,
    private readonly sinks: readonly DeliverySink[],
    private readonly pollIntervalMs: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (!this.sinks.length) return;
    this.timer = setInterval(() => this.tick(), this.pollIntervalMs);
    this.timer.unref();
    this.wake();
  }

  /**
   * Runs a pass soon. The listener calls it inside the event's transaction: on SQLite the claim waits for that
   * commit (the store's gate); where it does not wait (PostgreSQL), an uncommitted row is found by the next poll.
   */
  wake(): void {
    if (this.stopping || this.wakeTimer || !this.sinks.length) return;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.tick();
    }, 0);
    this.wakeTimer.unref();
  }

  /** Starts a loop for every sink that has none running. */
  tick(): void {
    if (this.stopping) return;
    for (const sink of this.sinks) void this.run(sink);
  }

  /** Delivers everything due now, waiting for it; rows in back-off are left for later. */
  async flush(): Promise<void> {
    for (let pass = 0; pass < 1000 && !this.stopping; pass++) {
      await Promise.all(this.running.values());
      let tried = 0;
      await Promise.all(this.sinks.map((sink) => this.run(sink, (n) => void (tried += n))));
      if (!tried) return;
    }
  }

  private run(sink: DeliverySink, done?: (tried: number) => void): Promise<void> {
    const running = this.running.get(sink.name);
    if (running) return running;
    const p = this.drain(sink).then((n) => done?.(n)).finally(() => this.running.delete(sink.name));
    this.running.set(sink.name, p);
    return p;
  }

  /** Claims and delivers the sink's due rows in order until none is due; returns how many it tried. */
  private async drain(sink: DeliverySink): Promise<number> {
    let n = 0;
    while (!this.stopping) {
      let row: OutboxRecord | undefined;
      const now = Date.now();
      try {
        row = await this.outbox.claimNext(sink.name, new Date(now).toISOString(), new Date(now + sink.leaseMs).toISOString());
      } catch (e) {
        // The database may be busy (another process writing); the next tick tries again.
        this.log.warn({ sink: sink.name, err: shortError(e) }, "event outbox claim failed");
        return n;
      }
      if (!row) return n;
      n++;
      await this.deliverOne(sink, row);
    }
    return n;
  }

  private async deliverOne(sink: DeliverySink, row: OutboxRecord): Promise<void> {
    let event: EventPayload;
    try {
      event = parsePayload(row.payload);
    } catch (e) {
      await this.giveUp(sink, row, `unreadable payload: ${shortError(e)}`); // it never will parse: no point retrying
      return;
    }
    const ctl = new AbortController();
    this.claimed.set(row.id, ctl);
    let error: string | undefined;
    try {
      // Raced with the abort itself, so close() never waits on a sink that ignores its signal.
      await Promise.race([
        sink.deliver({ id: row.id, body: row.payload, event }, ctl.signal),
        new Promise<never>((_, reject) => ctl.signal.addEventListener("abort", () => reject(new Error("aborted: shutting down")), { once: true })),
      ]);
    } catch (e) {
      error = shortError(e);
    } finally {
      this.claimed.delete(row.id);
    }
    if (error === undefined) {
      await this.settle(() => this.outbox.markDelivered(row.id, new Date().toISOString()));
    } else if (ctl.signal.aborted) {
      // Shut down mid-delivery: give the row back uncounted; it is sent again (receivers dedupe on X-Gateway-Delivery).
      await this.settle(() => this.outbox.release(row.id, new Date().toISOString()));
    } else if (row.attempts + 1 >= sink.maxAttempts) {
      await this.giveUp(sink, row, error);
    } else {
      const attempts = row.attempts + 1;
      const delay = backoffDelay(attempts, sink.backoff);
      await this.settle(() => this.outbox.reschedule(row.id, new Date(Date.now() + delay).toISOString(), error));
      this.log.warn({ sink: sink.name, delivery: row.id, seq: row.auditSeq, attempts, retryInMs: delay, err: error }, "event delivery failed; will retry");
    }
  }

  private async giveUp(sink: DeliverySink, row: OutboxRecord, error: string): Promise<void> {
    await this.settle(() => this.outbox.markDead(row.id, error));
    this.log.error({ sink: sink.name, delivery: row.id, seq: row.auditSeq, attempts: row.attempts + 1, err: error },
      "event delivery gave up; the event stays in the outbox as a dead letter");
  }

  /** Writes a delivery outcome; a failed write leaves the row 'sending' until its lease lapses, then it is retried. */
  private async settle(write: () => Promise<boolean>): Promise<void> {
    try {
      await write();
    } catch (e) {
      this.log.warn({ err: shortError(e) }, "event outbox update failed; the row is retried after its lease");
    }
  }

  /** Stops the timers, lets deliveries in flight finish briefly, aborts the rest; their rows return to pending. */
  async close(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.timer);
    clearTimeout(this.wakeTimer);
    const inflight = Promise.all(this.running.values());
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([inflight, new Promise<void>((r) => (grace = setTimeout(r, CLOSE_GRACE_MS)))]);
    clearTimeout(grace);
    for (const ctl of this.claimed.values()) ctl.abort();
    await inflight;
  }
}
