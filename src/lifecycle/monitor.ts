import type { AuditLog } from "../audit/audit-log.js";
import type { ProfileSet } from "../policy/profile.js";
import type { CertificateRecord, Store } from "../store/types.js";
import { INSTANCE_ID, JobLease, leaseTtl } from "./job-lease.js";

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
  private timer?: NodeJS.Timeout;
  private lease?: JobLease;

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
   * A scheduled pass: scans only while this instance holds the SCAN_LEASE job lease (taken or renewed for
   * `ttlMs` now); undefined when another instance holds it. Notices are also unique in the store, so even an
   * operator's scan alongside announces each certificate once.
   */
  scanLeased(ttlMs: number, now = new Date()): ReturnType<RenewalMonitor["scan"]> | undefined {
    if (this.lease?.ttlMs !== ttlMs) this.lease = new JobLease(this.store.leases, SCAN_LEASE, ttlMs, this.owner);
    return this.lease.hold() ? this.scan(now) : undefined;
  }

  /**
   * Scans now and then every `minutes` (0: never), on one instance of several (scanLeased, TTL two intervals:
   * a dead holder's scans move to another instance within three intervals); the timer does not keep the process alive.
   */
  start(minutes: number, onError: (e: unknown) => void): void {
    if (minutes <= 0) return;
    const ttl = leaseTtl(minutes * 60_000);
    const run = () => {
      try {
        this.scanLeased(ttl);
      } catch (e) {
        onError(e);
      }
    };
    setImmediate(run).unref();
    this.timer = setInterval(run, minutes * 60_000);
    this.timer.unref();
  }

  /** Stops the schedule and gives the lease up, so another instance's next tick takes the scans over. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    try {
      this.lease?.release();
    } catch {
      // the store is closing: the lease then lapses by itself
    }
    this.lease = undefined;
  }
}
