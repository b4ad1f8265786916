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

export type RenewalCounts = Record<"due" | "missed", Array<{ profile: string; owner: string; count: number }>>;

/**
 * Expiry and renewal monitoring. Every scan finds the certificates inside their profile's renewal
 * window that nobody replaced yet, and those that expired unreplaced; each is announced once
 * (`certificate.renewal_due`, `certificate.renewal_missed` audit events, which the event sinks route
 * to notifications). A renewal through any protocol marks the old certificate replaced, which takes
 * it off both lists.
 */
export class RenewalMonitor {
  private job?: LeasedJob<ReturnType<RenewalMonitor["scan"]>>;

  constructor(private readonly store: Store, private readonly profiles: ProfileSet, private readonly audit: AuditLog, private readonly maxListed = MAX_LISTED,
    private readonly owner = INSTANCE_ID) {}

  state(now = new Date(), filter: { profile?: string; owner?: string } = {}): RenewalState {
    const iso = now.toISOString();
    const due = this.profiles.all()
      .filter((p) => !filter.profile || p.name === filter.profile)
      .map((p) => this.store.renewalDue(p.name, iso, new Date(now.getTime() + p.renewal.windowDays * DAY).toISOString(), this.maxListed));
    const missed = this.store.missedRenewals(iso, this.maxListed, filter.profile);
    const truncated = missed.length >= this.maxListed || due.some((l) => l.length >= this.maxListed);
    const byOwner = (l: CertificateRecord[]) => (filter.owner === undefined ? l : l.filter((c) => (c.owner ?? "") === filter.owner));
    return { due: byOwner(due.flat()), missed: byOwner(missed), truncated };
  }

  /** Counts by profile and owner ("" for none), straight from the database: what /metrics reports. */
  counts(now = new Date()): RenewalCounts {
    const iso = now.toISOString();
    const due = this.profiles.all().flatMap((p) =>
      this.store.countRenewalDue(p.name, iso, new Date(now.getTime() + p.renewal.windowDays * DAY).toISOString()).map((c) => ({ profile: p.name, ...c })));
    return { due, missed: this.store.countMissedRenewals(iso) };
  }

  /** One pass: announces what became due or missed since the last pass. */
  scan(now = new Date()): { due: number; missed: number; announced: number } {
    const { due, missed } = this.state(now);
    let announced = 0;
    const at = now.toISOString();
    for (const [kind, list] of [["renewal_due", due], ["renewal_missed", missed]] as const) {
      for (const c of list) {
        if (!this.store.insertNotice(c.serial, kind, at)) continue;
        announced++;
        this.audit.record({
          type: `certificate.${kind}`, actor: "system:lifecycle", target: c.serial,
          data: { profile: c.profile, owner: c.owner, application: c.application, environment: c.environment, criticality: c.criticality, subject: c.subject, sans: c.sans, notAfter: c.notAfter, requester: `${c.requesterKind}:${c.requesterId}` },
        });
      }
    }
    return { due: due.length, missed: missed.length, announced };
  }

  /**
   * A scheduled pass (one heartbeat of the SCAN_LEASE job): takes or renews the lease and scans when this
   * instance holds it and the last scan by any instance is `intervalMs` old; undefined otherwise. Notices are
   * also unique in the store, so even an operator's scan alongside announces each certificate once.
   */
  scanLeased(intervalMs: number, now = new Date()): ReturnType<RenewalMonitor["scan"]> | undefined {
    return this.scanJob(intervalMs).tick(now);
  }

  private scanJob(intervalMs: number): LeasedJob<ReturnType<RenewalMonitor["scan"]>> {
    if (this.job?.intervalMs !== intervalMs) {
      if (this.job) heartbeat.remove(this.job);
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
  stop(): void {
    if (this.job) heartbeat.remove(this.job);
    try {
      this.job?.release(); // also when only scanLeased was used
    } catch {
      // the store is closing: the lease then lapses by itself
    }
    this.job = undefined;
  }
}
