import type { AuditLog } from "../audit/audit-log.js";
import type { Store } from "../store/types.js";
import { INSTANCE_ID, JobLease, leaseTtl } from "./job-lease.js";

const DAY = 86_400_000;
/** The job lease scheduled archiving takes, so one instance of several archives. */
export const RETENTION_LEASE = "retention.archive";

export interface RetentionConfig {
  archiveExpiredAfterDays: number;
  intervalMinutes: number;
  batchSize: number;
}

export interface RetentionRun {
  archived: number;
  batches: number;
  /** Certificates with notAfter at or before this were eligible. */
  cutoff: string;
  /** True when the run stopped at its batch limit with eligible certificates left. */
  more: boolean;
}

/**
 * Inventory retention: certificates expired longer than `archiveExpiredAfterDays` move from the hot
 * `certificates` table to `certificates_archive`, so per-issuance and per-scrape costs follow the live
 * inventory, not everything ever issued. The rule is notAfter alone: a revoked certificate stays while
 * CRLs and OCSP still speak of it (until it expires) and the whole period after. Archived certificates
 * are still found by serial (getCertificate flags them `archived`); audit events keep pointing to them.
 * Each batch is one transaction with one `inventory.archived` audit event.
 */
export class Retention {
  private timer?: NodeJS.Timeout;
  private running?: Promise<RetentionRun>;
  private stopped = false;
  private lease?: JobLease;

  constructor(private readonly store: Store, private readonly audit: AuditLog, private readonly cfg: RetentionConfig, private readonly owner = INSTANCE_ID) {}

  cutoff(now = new Date()): string {
    return new Date(now.getTime() - this.cfg.archiveExpiredAfterDays * DAY).toISOString();
  }

  /** One batch: at most `batchSize` certificates, oldest notAfter first. */
  batch(now = new Date()): number {
    const cutoff = this.cutoff(now);
    return this.store.transaction(() => {
      const b = this.store.archiveExpired(cutoff, now.toISOString(), this.cfg.batchSize);
      if (b.count) {
        this.audit.record({
          type: "inventory.archived", actor: "system:retention",
          data: { count: b.count, cutoff, afterDays: this.cfg.archiveExpiredAfterDays, notAfterFrom: b.from, notAfterTo: b.to },
        });
      }
      return b.count;
    });
  }

  /**
   * Archives what is eligible batch by batch, yielding to the event loop between batches so requests are
   * served meanwhile; at most `maxBatches` (a run that stops there says `more`). Runs never overlap.
   */
  run(now = new Date(), maxBatches = Number.POSITIVE_INFINITY): Promise<RetentionRun> {
    return this.runWhile(now, maxBatches, () => true);
  }

  /**
   * A scheduled run: only while this instance holds the RETENTION_LEASE job lease, taken for `ttlMs` now and
   * renewed before every further batch (a run that loses it stops, `more`); undefined when another instance holds it.
   */
  async runLeased(ttlMs: number, now = new Date(), maxBatches = Number.POSITIVE_INFINITY): Promise<RetentionRun | undefined> {
    if (this.lease?.ttlMs !== ttlMs) this.lease = new JobLease(this.store.leases, RETENTION_LEASE, ttlMs, this.owner);
    const lease = this.lease;
    if (!lease.hold()) return undefined;
    return this.runWhile(now, maxBatches, () => lease.hold()); // renewed before each batch (the first renewal is redundant, and cheap)
  }

  private runWhile(now: Date, maxBatches: number, holding: () => boolean): Promise<RetentionRun> {
    this.running ??= (async () => {
      const out: RetentionRun = { archived: 0, batches: 0, cutoff: this.cutoff(now), more: false };
      try {
        for (;;) {
          if (out.batches >= maxBatches || this.stopped || !holding()) {
            out.more = true;
            break;
          }
          const n = this.batch(now);
          if (n) out.batches++;
          out.archived += n;
          if (n < this.cfg.batchSize) break;
          await new Promise((r) => setImmediate(r));
        }
        return out;
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /**
   * Archives now and then every `intervalMinutes` (0: never), on one instance of several (runLeased, TTL two
   * intervals: a dead holder's archiving moves to another instance within three intervals); the timer does not
   * keep the process alive.
   */
  start(onError: (e: unknown) => void): void {
    this.stopped = false;
    if (this.cfg.intervalMinutes <= 0) return;
    const ttl = leaseTtl(this.cfg.intervalMinutes * 60_000);
    const tick = () => void this.runLeased(ttl).catch(onError);
    setImmediate(tick).unref();
    this.timer = setInterval(tick, this.cfg.intervalMinutes * 60_000);
    this.timer.unref();
  }

  /** Stops the schedule; a run in flight ends after its current batch. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
    try {
      this.lease?.release(); // another instance's next tick takes archiving over
    } catch {
      // the store is closing: the lease then lapses by itself
    }
    this.lease = undefined;
  }
}
