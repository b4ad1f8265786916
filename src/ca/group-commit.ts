import type { Store } from "../store/types.js";

interface Job {
  fn: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * Group commit for the engine's two write steps. Writes queued during one event-loop turn (concurrent
 * issuances) share one transaction: a commit writes each touched page once for all of them, which is most
 * of the cost of a small write transaction. Each job still runs exactly once, in its own savepoint when it
 * shares the transaction, and its promise settles only after the commit that made it durable: an intent
 * is committed before its signature, a certificate before it is handed out. A failing job rolls back alone;
 * the jobs after it go to the next transaction.
 */
export class GroupCommit {
  private queue: Job[] = [];
  private scheduled = false;

  constructor(private readonly store: Store, private readonly maxBatch = 128) {}

  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || !this.queue.length) return;
    this.scheduled = true;
    // setImmediate, not a microtask: every issuance that reaches its write step in this turn joins the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const jobs = this.queue.splice(0, this.maxBatch);
    if (jobs.length === 1) {
      const [job] = jobs;
      try {
        job.resolve(this.store.transaction(job.fn));
      } catch (e) {
        job.reject(e);
      }
      this.schedule();
      return;
    }
    const done: Array<{ job: Job; value: unknown }> = [];
    let failed: { job: Job; error: unknown } | undefined;
    let attempted = 0;
    let commitError: { error: unknown } | undefined;
    try {
      this.store.transaction(() => {
        for (const job of jobs) {
          attempted++;
          try {
            done.push({ job, value: this.store.transaction(job.fn) }); // nested: a savepoint
          } catch (e) {
            failed = { job, error: e };
            break; // commit what ran; the rest go to the next transaction
          }
        }
      });
    } catch (e) {
      commitError = { error: e };
    }
    if (failed) failed.job.reject(failed.error);
    const rest = jobs.slice(attempted);
    if (commitError) {
      // The transaction did not begin or commit: nothing of this batch is durable, and nothing is retried.
      for (const job of [...done.map((d) => d.job), ...rest]) job.reject(commitError.error);
      return this.schedule();
    }
    for (const d of done) d.job.resolve(d.value);
    this.queue.unshift(...rest);
    this.schedule();
  }
}
