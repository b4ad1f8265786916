import type { AuditLog } from "../audit/audit-log.js";
import type { ProfileSet } from "../policy/profile.js";
import type { CertificateRecord, Store } from "../store/types.js";
import { heartbeat, INSTANCE_ID, LeasedJob } from "./job-lease.js";

const DAY = 86_400_000;
/** The job lease scheduled scans take, so one instance of several scans per interval. */
export const SCAN_LEASE = "lifecycle.scan";
/** A renewal list reads at most this many certificates per query; `truncated` says when one reached it. */
export const MAX_LISTED = 10_000;

export interface RenewalState {
  /** Valid, not replaced, inside the profile's renewal window. */
  due: CertificateRecord[];
  /** Expired without a replacement. */
  missed: CertificateRecord[];
  /** True when a list stopped at MAX_LISTED: there are more than shown (narrow by profile or owner, or use the metrics' counts). */
  truncated: boolean;
}

export type ScanResult = { due: number; missed: number; announced: number };

export type RenewalCounts = Record<"due" | "missed", Array<{ profile: string; owner: string; count: number }>>;

/**
 * Expiry and renewal monitoring. Every scan finds the certificates inside their profile's renewal
 * window that nobody replaced yet, and those that expired unreplaced; each is announced once
 * (`certificate.renewal_due`, `certificate.renewal_missed` audit events, which the event sinks route
 * to notifications). A renewal through any protocol marks the old certificate replaced, which takes
 * it off both lists.
 */
export class RenewalMonitor {
  private job?: LeasedJob<ScanResult>;

  constructor(private readonly store: Store, private readonly profiles: ProfileSet, private readonly audit: AuditLog, private readonly maxListed = MAX_LISTED,
    private readonly owner = INSTANCE_ID) {}

  async state(now = new Date(), filter: { profile?: string; owner?: string } = {}): Promise<RenewalState> {
    const iso = now.toISOString();
    const due = await Promise.all(this.profiles.all()
      .filter((p) => !filter.profile || p.name === filter.profile)
      .map((p) => this.store.renewalDue(p.name, iso, new Date(now.getTime() + p.renewal.windowDays * DAY).toISOString(), this.maxListed)));
    const missed = await this.store.missedRenewals(iso, this.maxListed, filter.profile);
    const truncated = missed.length >= this.maxListed || due.some((l) => l.length >= this.maxListed);
    const byOwner = (l: CertificateRecord[]) => (filter.owner === undefined ? l : l.filter((c) => (c.owner ?? "") === filter.owner));
    return { due: byOwner(due.flat()), missed: byOwner(missed), truncated };
  }

  /** Counts by profile and owner ("" for none), straight from the database: what /metrics reports. */
  async counts(now = new Date()): Promise<RenewalCounts> {
    const iso = now.toISOString();
    const due = (await Promise.all(this.profiles.all().map(async (p) =>
      (await this.store.countRenewalDue(p.name, iso, new Date(now.getTime() + p.renewal.windowDays * DAY).toISOString())).map((c) => ({ profile: p.name, ...c }))))).flat();
    return { due, missed: await this.store.countMissedRenewals(iso) };
  }

  /** One pass: announces what became due or missed since the last pass. */
  async scan(now = new Date()): Promise<ScanResult> {
    const { due, missed } = await this.state(now);
    let announced = 0;
    const at = now.toISOString();
    for (const [kind, list] of [["renewal_due", due], ["renewal_missed", missed]] as const) {
      for (const c of list) {
        // The notice and its event commit together: a certificate is announced once, and never silently skipped.
        const fresh = await this.store.transaction(async (tx) => {
          if (!(await tx.insertNotice(c.serial, kind, at))) return false;
          await this.audit.record({
            type: `certificate.${kind}`, actor: "system:lifecycle", target: c.serial,
            data: { profile: c.profile, owner: c.owner, application: c.application, environment: c.environment, criticality: c.criticality, subject: c.subject, sans: c.sans, notAfter: c.notAfter, requester: `${c.requesterKind}:${c.requesterId}` },
          }, tx);
          return true;
        });
        if (fresh) announced++;
      }
    }
    return { due: due.length, missed: missed.length, announced };
  }

  /**
   * A scheduled pass (one heartbeat of the SCAN_LEASE job): takes or renews the lease and scans when this
   * instance holds it and the last scan by any instance is `intervalMs` old; undefined otherwise. Notices are
   * also unique in the store, so even an operator's scan alongside announces each certificate once.
   */
  scanLeased(intervalMs: number, now = new Date()): Promise<ScanResult | undefined> {
    return this.scanJob(intervalMs).tick(now);
  }

  private scanJob(intervalMs: number): LeasedJob<ScanResult> {
    if (this.job?.intervalMs !== intervalMs) {
      if (this.job) void heartbeat.remove(this.job, false); // the new job holds the same lease: no release (sync without it)
      this.job = new LeasedJob(this.store.leases, SCAN_LEASE, intervalMs, (now) => this.scan(now), this.owner);
    }
    return this.job;
  }

  /**
   * Scans every `minutes` (0: never) on one instance of several: the process heartbeat keeps the SCAN_LEASE
   * lease and runs the scan when due (a dead holder's scans move to another instance within LEASE_FAILOVER_MS,
   * on the interval the dead holder kept). Does not keep the process alive.
   */
  start(minutes: number, onError: (e: unknown) => void): void {
    if (minutes <= 0) return;
    heartbeat.add(this.scanJob(minutes * 60_000), onError);
  }

  /** Stops the schedule and gives the lease up, so another instance's next heartbeat takes the scans over. */
  async stop(): Promise<void> {
    const job = this.job;
    this.job = undefined;
    if (!job) return;
    await heartbeat.remove(job);
    await job.release().catch(() => undefined); // also when only scanLeased was used; a closing store: the lease lapses by itself
  }
}
