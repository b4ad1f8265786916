/** Who holds a job lease, and until when (ISO-8601 UTC). */
export interface LeaseHolder {
  owner: string;
  until: string;
}


/**
 * Named leases for jobs that must run on one instance at a time (table job_leases, migrations 12-13). A lease
 * is taken or renewed in one statement (the holder's heartbeat renews it well within its TTL); a holder that
 * dies simply stops renewing, and the lease is free again once `until` passes. Each lease also records when
 * its job last ran, so runs keep their interval across a change of holder. Expiry is judged by the clock of
 * the instance asking, so instance clocks must agree to well within a lease's TTL (NTP).
 */
export interface LeaseStore {
  /** Takes `name` for `ttlMs` from now if it is free, lapsed, or already `owner`'s (then renews it); true when held. */
  acquire(name: string, owner: string, ttlMs: number, now?: Date): Promise<boolean>;
  /** acquire, also saying when the job last ran (ISO-8601 UTC; undefined: never); undefined while another holds it. */
  take(name: string, owner: string, ttlMs: number, now?: Date): Promise<{ lastRun?: string } | undefined>;
  /**
   * Claims a run at `now` for `owner`: true only while it holds the lease unlapsed and the last run (by any holder)
   * is at least `intervalMs` old, so one run per interval even if two instances briefly both think they hold it.
   */
  claimRun(name: string, owner: string, intervalMs: number, now?: Date): Promise<boolean>;
  /** Gives the lease up if `owner` holds it (a clean shutdown: another instance takes over at its next try). */
  release(name: string, owner: string): Promise<void>;
  holder(name: string): Promise<LeaseHolder | undefined>;
}
