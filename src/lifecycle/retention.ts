import type { AuditLog } from "../audit/audit-log.js";
import type { Store } from "../store/types.js";
import { heartbeat, INSTANCE_ID, LeasedJob } from "./job-lease.js";

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
  private running?: Promise<RetentionRun>;
  private stopped = false;
  private readonly job: LeasedJob<RetentionRun>;

  constructor(private readonly store: Store, private readonly audit: AuditLog, private readonly cfg: RetentionConfig, owner = INSTANCE_ID) {
    this.job = new LeasedJob(store.leases, RETENTION_LEASE, cfg.intervalMinutes * 60_000, (now) => this.runHeld(now, Number.POSITIVE_INFINITY), owner);
  }

  cutoff(now = new Date()): string {
    return new Date(now.getTime() - this.cfg.archiveExpiredAfterDays * DAY).toISOString();
  }

  /** One batch: at most `batchSize` certificates, oldest notAfter first. */
  batch(now = new Date()): Promise<number> {
    const cutoff = this.cutoff(now);
    return this.store.transaction(async (tx) => {
      const b = await tx.archiveExpired(cutoff, now.toISOString(), this.cfg.batchSize);
      if (b.count) {
        await this.audit.record({
          type: "inventory.archived", actor: "system:retention",
          data: { count: b.count, cutoff, afterDays: this.cfg.archiveExpiredAfterDays, notAfterFrom: b.from, notAfterTo: b.to },
        }, tx);
      }
      return b.count;
    });
  }

  /**
   * Archives what is eligible batch by batch, yielding to the event loop between batches so requests are
   * served meanwhile; at most `maxBatches` (a run that stops there says `more`). Runs never overlap.
   */
  run(now = new Date(), maxBatches = Number.POSITIVE_INFINITY): Promise<RetentionRun> {
    return this.runWhile(now, maxBatches, async () => true);
  }

  /**
   * A scheduled run (one heartbeat of the RETENTION_LEASE job): takes or renews the lease and archives when this
   * instance holds it and the last run by any instance is `intervalMinutes` old (0: whenever held); undefined
   * otherwise. The lease is renewed before every further batch: a run that loses it stops (`more`).
   */
  async runLeased(now = new Date(), maxBatches = Number.POSITIVE_INFINITY): Promise<RetentionRun | undefined> {
    return this.job.tick(now, (n) => this.runHeld(n, maxBatches));
  }

  private runHeld(now: Date, maxBatches: number): Promise<RetentionRun> {
    // Renewals during the run use the run's clock advanced by the time elapsed since it started.
    const started = Date.now();
    return this.runWhile(now, maxBatches, () => this.job.hold(new Date(now.getTime() + Date.now() - started)));
  }

  private runWhile(now: Date, maxBatches: number, holding: () => Promise<boolean>): Promise<RetentionRun> {
    this.running ??= (async () => {
      const out: RetentionRun = { archived: 0, batches: 0, cutoff: this.cutoff(now), more: false };
      try {
        for (;;) {
          if (out.batches >= maxBatches || this.stopped || !(await holding())) {
            out.more = true;
            break;
          }
          const n = await this.batch(now);
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
   * Archives every `intervalMinutes` (0: never) on one instance of several: the process heartbeat keeps the
   * RETENTION_LEASE lease and runs archiving when due (a dead holder's archiving moves to another instance within
   * LEASE_FAILOVER_MS, on the interval the dead holder kept). Does not keep the process alive.
   */
  start(onError: (e: unknown) => void): void {
    this.stopped = false;
    if (this.cfg.intervalMinutes <= 0) return;
    heartbeat.add(this.job, onError);
  }

  /** Stops the schedule; a run in flight ends after its current batch; then the lease is given up. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running?.catch(() => undefined);
    await heartbeat.remove(this.job);
    // Also when only runLeased was used: another instance's next heartbeat takes archiving over.
    await this.job.release().catch(() => undefined); // the store is closing: the lease then lapses by itself
  }
}
