/**
 * Lets any number of tasks of one phase run together, but never two phases at once; waiters
 * are admitted in arrival order of phases, so neither phase starves.
 *
 * The load generator uses it to keep newOrder requests and authorization fetches apart across all
 * clients. Pebble needs that: its Authz handler holds an authorization's write lock while taking
 * the store's read lock, and newOrder's FindValidAuthorization holds the store's read lock while
 * taking every authorization's read lock; with a store writer queued in between, Pebble (2.4, and
 * upstream as of this writing) deadlocks within seconds at 16 clients. Both servers get the same
 * gated client, so the comparison stays like for like.
 */
export class PhaseGate<P extends string> {
  private active: P | undefined;
  private running = 0;
  private waiting: Array<{ phase: P; admit: () => void }> = [];

  async run<T>(phase: P, task: () => Promise<T>): Promise<T> {
    if (this.running === 0 || (this.active === phase && this.waiting.length === 0)) {
      this.active = phase;
      this.running++;
    } else {
      await new Promise<void>((admit) => this.waiting.push({ phase, admit })); // counted in by release()
    }
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private release(): void {
    if (--this.running > 0 || this.waiting.length === 0) return;
    const phase = this.waiting[0].phase;
    const admitted = this.waiting.filter((w) => w.phase === phase);
    this.waiting = this.waiting.filter((w) => w.phase !== phase);
    this.active = phase;
    this.running = admitted.length;
    for (const w of admitted) w.admit();
  }
}
