import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { LeaseStore } from "../store/lease-sqlite.js";

/** This process's owner id for job leases: made once at start, so a restarted process is a new owner. */
export const INSTANCE_ID = `${hostname()}:${process.pid}:${randomBytes(6).toString("hex")}`;

/**
 * A periodic job that must run on one instance at a time. Each tick takes or renews the lease for
 * `ttlMs` (twice the interval by default), so the holder keeps it from tick to tick and the others'
 * ticks are refused. The holder releases it on a clean stop; if it dies instead, its lease lapses at
 * most `ttlMs` after its last tick and the next tick of another instance takes over: the job moves
 * within ttlMs + one interval (3 intervals by default) of the holder's last run.
 */
export class JobLease {
  constructor(private readonly leases: LeaseStore, readonly name: string, readonly ttlMs: number, readonly owner: string = INSTANCE_ID) {}

  /** Takes or renews the lease; false while another live instance holds it. */
  hold(now?: Date): boolean {
    return this.leases.acquire(this.name, this.owner, this.ttlMs, now);
  }

  release(): void {
    this.leases.release(this.name, this.owner);
  }
}

/** The TTL of a job run every `intervalMs`: long enough that timer drift never lets the holder's lease lapse between ticks. */
export const leaseTtl = (intervalMs: number): number => 2 * intervalMs;
