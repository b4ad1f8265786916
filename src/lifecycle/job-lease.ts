import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { LeaseStore } from "../store/lease-types.js";

/** This process's owner id for job leases: made once at start, so a restarted process is a new owner. */
export const INSTANCE_ID = `${hostname()}:${process.pid}:${randomBytes(6).toString("hex")}`;

/** A job lease lapses this long after its holder's last heartbeat. */
export const LEASE_TTL_MS = 60_000;
/** Every instance renews the leases it holds, and tries the free ones, this often (a third of the TTL: two missed beats are survived). */
export const LEASE_TICK_MS = 20_000;
/** A dead holder's jobs move to a live instance within this long of its last heartbeat. */
export const LEASE_FAILOVER_MS = LEASE_TTL_MS + LEASE_TICK_MS;

/**
 * A periodic job that must run on one instance at a time. The lease is short (LEASE_TTL_MS) and kept by the
 * heartbeat, independent of the job's interval; the job runs on the holder when the last run recorded in the
 * store (by whichever instance held it then) is `intervalMs` old. So a new holder neither re-runs a job the
 * dead holder just ran nor waits a whole interval for an overdue one.
 */
export class LeasedJob<T> {
  /** True from the run's claim until it settles: a heartbeat meanwhile only renews the lease. */
  private busy = false;

  constructor(private readonly leases: LeaseStore, readonly name: string, readonly intervalMs: number,
    private readonly run: (now: Date) => T | Promise<T>, readonly owner: string = INSTANCE_ID, readonly ttlMs = LEASE_TTL_MS) {}

  /** Takes or renews the lease (one statement); false while another live instance holds it. */
  hold(now = new Date()): Promise<boolean> {
    return this.leases.acquire(this.name, this.owner, this.ttlMs, now);
  }

  /**
   * One heartbeat: takes or renews the lease (one UPSERT) and, when held and due, claims the run in the store
   * (one UPDATE, once per interval) and runs it (`run` overrides the job's function for this call). Resolves to the
   * run's result, or undefined when it did not run (not held, not due, or the previous run still going).
   */
  async tick(now = new Date(), run: (now: Date) => T | Promise<T> = this.run): Promise<T | undefined> {
    const lease = await this.leases.take(this.name, this.owner, this.ttlMs, now);
    if (!lease || this.busy) return undefined;
    if (lease.lastRun !== undefined && Date.parse(lease.lastRun) > now.getTime() - this.intervalMs) return undefined;
    // Busy before the claim's await: a second heartbeat arriving meanwhile must not claim and run alongside.
    this.busy = true;
    try {
      if (!(await this.leases.claimRun(this.name, this.owner, this.intervalMs, now))) return undefined;
      return await run(now);
    } finally {
      this.busy = false;
    }
  }

  /** Gives the lease up (keeping the last run time): another instance's next heartbeat takes it. */
  release(): Promise<void> {
    return this.leases.release(this.name, this.owner);
  }
}

/**
 * The heartbeat: one unref'd timer per process for all its leased jobs. Every LEASE_TICK_MS it ticks each job
 * (renew or take, run when due), so a standby takes a dead holder's lease within LEASE_FAILOVER_MS.
 */
export class LeaseHeartbeat {
  private readonly jobs = new Map<LeasedJob<unknown>, (e: unknown) => void>();
  private timer?: NodeJS.Timeout;

  constructor(readonly tickMs = LEASE_TICK_MS) {}

  /** Adds a job; it is ticked on the next turn of the event loop when `first`, then on every beat. */
  add(job: LeasedJob<unknown>, onError: (e: unknown) => void, first = true): void {
    this.jobs.set(job, onError);
    // Errors go to onError; the catch only keeps an onError that throws from becoming an unhandled rejection.
    if (first) setImmediate(() => this.jobs.has(job) && this.tickOne(job, onError, new Date()).catch(() => undefined)).unref();
    if (!this.timer) {
      this.timer = setInterval(() => this.beat().catch(() => undefined), this.tickMs);
      this.timer.unref();
    }
  }

  /**
   * Removes a job and releases its lease (if the store is already closing, the lease lapses by itself). `release`
   * false keeps the lease, for a job replaced by one of the same name and owner (a late release would drop the new one's).
   */
  async remove(job: LeasedJob<unknown>, release = true): Promise<void> {
    if (!this.jobs.delete(job)) return;
    if (this.jobs.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    if (release) await job.release().catch(() => undefined); // the store is closing
  }

  /** One beat over all jobs (the timer's; tests call it with their own clock); settles when every job's tick has. */
  async beat(now = new Date()): Promise<void> {
    await Promise.all([...this.jobs].map(([job, onError]) => this.tickOne(job, onError, now)));
  }

  /** A job's tick; its error goes to onError. */
  private tickOne(job: LeasedJob<unknown>, onError: (e: unknown) => void, now: Date): Promise<void> {
    return job.tick(now).then(() => undefined, onError);
  }
}

/** This process's heartbeat. */
export const heartbeat = new LeaseHeartbeat();
