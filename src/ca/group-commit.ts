import { AsyncLocalStorage } from "node:async_hooks";
import type { Store } from "../store/types.js";

/** A job's writes, made through the batch's transaction handle. */
export type CommitJob<T> = (tx: Store) => T | Promise<T>;

interface Job {
  fn: CommitJob<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * Group commit for the engine's two write steps. Writes queued during one event-loop turn (concurrent
 * issuances) share one transaction: a commit writes each touched page once for all of them, which is most
 * of the cost of a small write transaction. Each job's promise settles only after the commit that made it
 * durable: an intent is committed before its signature, a certificate before it is handed out.
 *
 * The jobs of a batch run back to back with no savepoint each (a SAVEPOINT/RELEASE pair per job cost more
 * than the job's own statements). When one throws, the whole batch rolls back and every job runs again in
 * a transaction of its own, so the failing one fails alone. A job must therefore keep its effects in the
 * store (or make them idempotent): the ones before a failure may run twice, and only the committed run counts.
 */
export class GroupCommit {
  private queue: Job[] = [];
  private scheduled = false;

  constructor(private readonly store: Store, private readonly maxBatch = 128) {}

  run<T>(fn: CommitJob<T>): Promise<T> {
    // Each job runs in its caller's async context (the request it belongs to, for the audit events it records),
    // not in that of whichever caller scheduled the flush.
    const inCaller = AsyncLocalStorage.snapshot();
    const job: CommitJob<unknown> = (tx) => inCaller(fn, tx);
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn: job, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || !this.queue.length) return;
    this.scheduled = true;
    // setImmediate, not a microtask: every issuance that reaches its write step in this turn joins the batch.
    setImmediate(() => {
      this.scheduled = false;
      // flush settles every job it takes (each job's promise carries its own outcome); nothing is left to reject here.
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    const jobs = this.queue.splice(0, this.maxBatch);
    if (jobs.length === 1 || (await this.runBatch(jobs)) === "job failed") {
      // Alone, or after a failed batch: a transaction per job, each settling on its own outcome.
      for (const job of jobs) {
        try {
          job.resolve(await this.store.transaction(async (tx) => job.fn(tx)));
        } catch (e) {
          job.reject(e);
        }
      }
    }
    this.schedule();
  }

  /**
   * Runs every job in one transaction and settles them after its commit. When a job throws, nothing is
   * kept or settled ("job failed": the caller runs them one by one). When the transaction itself cannot
   * begin or commit (busy, disk full), nothing of the batch is durable and every job fails with that error.
   */
  private async runBatch(jobs: Job[]): Promise<"settled" | "job failed"> {
    const values = new Array<unknown>(jobs.length);
    let jobFailed = false;
    try {
      await this.store.transaction(async (tx) => {
        for (let i = 0; i < jobs.length; i++) {
          try {
            values[i] = await jobs[i].fn(tx);
          } catch (e) {
            jobFailed = true;
            throw e;
          }
        }
      });
    } catch (e) {
      if (jobFailed) return "job failed";
      for (const job of jobs) job.reject(e);
      return "settled";
    }
    for (let i = 0; i < jobs.length; i++) jobs[i].resolve(values[i]);
    return "settled";
  }
}
