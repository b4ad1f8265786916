/**
 * Console sessions in the store, so any instance behind the load balancer accepts a session another
 * made and a logout anywhere ends it everywhere. Rows are keyed by a hash of the session token: the
 * table never holds anything a cookie could be rebuilt from. Times are ISO-8601 UTC text, like the
 * neighbouring tables (they compare in order as text).
 */
export interface SessionRecord {
  /** SHA-256 (hex) of the cookie value. */
  idHash: string;
  adminId: string;
  adminName: string;
  createdAt: string;
  /** Last request seen, written at most every few minutes (see ConsoleSessions). */
  lastSeen: string;
  /** Absolute expiry: createdAt plus the absolute limit. */
  expiresAt: string;
}

/** Which sessions are over: past their absolute expiry, or last seen before `idleBefore`. */
export interface SessionCutoffs {
  now: string;
  idleBefore: string;
}

export interface SessionStore {
  /**
   * One transaction: purges up to `purgeBatch` expired sessions, makes room under `cap` by ending the
   * oldest ones, then inserts `s`.
   */
  create(s: SessionRecord, cut: SessionCutoffs, cap: number, purgeBatch: number): Promise<void>;
  get(idHash: string): Promise<SessionRecord | undefined>;
  /** Moves last_seen forward to `at` if it is before `ifBefore` (never backwards); true when written. */
  touch(idHash: string, at: string, ifBefore: string): Promise<boolean>;
  /** Ends the session for every instance; true when it existed. */
  delete(idHash: string): Promise<boolean>;
  /** Deletes up to `limit` expired sessions; returns how many. */
  purgeExpired(cut: SessionCutoffs, limit: number): Promise<number>;
  count(): Promise<number>;
}
