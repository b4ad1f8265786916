import { availableParallelism } from "node:os";
import { pbkdf2 } from "node:crypto";
import { Worker } from "node:worker_threads";
import type { MacPlan } from "./mac.js";

/**
 * The iterated-hash PasswordBasedMac key, key = owf^n(secret ‖ salt) (RFC 4211 §4.4), as plain JavaScript
 * evaluated in each worker: nothing to resolve on disk, so it loads the same under tsx and from `dist/`.
 * The loop's cost is the call per hash, not the hash: crypto.hash (Node >= 20.12) with a latin1 string digest
 * written back into one buffer allocates no Buffer per round (a quarter of createHash per round, measured).
 */
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const crypto = require("node:crypto");
const SIZE = { sha256: 32, sha384: 48, sha512: 64 };
function derive(m) {
  const first = crypto.createHash(m.owf).update(m.secret).update(m.salt).digest();
  if (typeof crypto.hash !== "function" || first.length !== SIZE[m.owf]) {
    let key = first;
    for (let i = 1; i < m.iterations; i++) key = crypto.createHash(m.owf).update(key).digest();
    return key;
  }
  const buf = first;
  for (let i = 1; i < m.iterations; i++) buf.write(crypto.hash(m.owf, buf, "latin1"), 0, "latin1");
  return buf;
}
parentPort.on("message", (m) => parentPort.postMessage(derive(m)));
`;

/** The queue is full: the caller answers "busy" (CMP systemUnavail) instead of piling work up. */
export class MacPoolBusy extends Error {
  constructor() {
    super("MAC key derivation is busy");
    this.name = "MacPoolBusy";
  }
}

export interface MacPoolOptions {
  /** Derivations running at once (default min(2, cores)): each holds a worker thread or a libuv thread. */
  threads?: number;
  /** Derivations allowed to wait for a free slot; one more is refused with MacPoolBusy. */
  maxQueued: number;
  /** Called as each derivation starts (a metric). */
  onDerive?: (kind: MacPlan["kind"]) => void;
}

interface Job {
  plan: MacPlan;
  secret: Uint8Array;
  resolve: (key: Buffer) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker?: Worker;
  job?: Job;
}

/**
 * Derives MAC keys off the event loop under one bound: PasswordBasedMac in a few worker threads (started on
 * first use, referenced only while they work, so an idle pool never keeps the process alive), PBMAC1 by async PBKDF2 on libuv's thread pool.
 * Both kinds share the same slots, so hostile iteration counts cannot occupy every libuv thread that file
 * and DNS work also need, and a full queue is refused at once.
 */
export class MacKeyPool {
  private readonly slots: Slot[];
  private readonly queue: Job[] = [];
  private closed = false;

  constructor(private readonly o: MacPoolOptions) {
    const threads = o.threads ?? Math.min(2, availableParallelism());
    this.slots = Array.from({ length: Math.max(1, threads) }, () => ({}));
  }

  /** Derivations running or waiting. */
  get pending(): number {
    return this.queue.length + this.slots.filter((s) => s.job).length;
  }

  /**
   * The key for `plan` and `secret`. `unbounded` skips the queue limit: for keys of answers, which follow a
   * verified MAC and are cached, so refusing them would waste the work already done.
   */
  derive(plan: MacPlan, secret: Uint8Array, o: { unbounded?: boolean } = {}): Promise<Buffer> {
    if (this.closed) return Promise.reject(new Error("MAC key pool is closed"));
    const free = this.slots.find((s) => !s.job);
    if (!free && !o.unbounded && this.queue.length >= this.o.maxQueued) return Promise.reject(new MacPoolBusy());
    return new Promise((resolve, reject) => {
      const job = { plan, secret, resolve, reject };
      if (free) this.run(free, job);
      else this.queue.push(job);
    });
  }

  /** Refuses what waits and stops the workers. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error("MAC key pool is closed"));
    await Promise.all(this.slots.map((s) => s.worker?.terminate()));
  }

  private run(slot: Slot, job: Job): void {
    slot.job = job;
    this.o.onDerive?.(job.plan.kind);
    const p = job.plan;
    try {
      if (p.kind === "pbmac1") {
        pbkdf2(job.secret, p.salt, p.iterations, p.keyLength, p.prf, (err, key) => this.finish(slot, err ?? undefined, key));
        return;
      }
      slot.worker ??= this.spawn(slot);
      slot.worker.ref(); // held while it works, like any I/O in flight; idle again in finish
      slot.worker.postMessage({ owf: p.owf, secret: job.secret, salt: p.salt, iterations: p.iterations });
    } catch (e) {
      this.finish(slot, e instanceof Error ? e : new Error(String(e)));
    }
  }

  private spawn(slot: Slot): Worker {
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.on("message", (key: Uint8Array) => this.finish(slot, undefined, Buffer.from(key.buffer, key.byteOffset, key.byteLength)));
    w.on("error", (e) => {
      if (slot.worker === w) slot.worker = undefined;
      this.finish(slot, e);
    });
    w.on("exit", () => {
      if (slot.worker !== w) return;
      slot.worker = undefined;
      this.finish(slot, new Error("MAC worker exited"));
    });
    w.unref(); // after the listeners: adding a "message" listener refs the worker again
    return w;
  }

  private finish(slot: Slot, err: Error | undefined, key?: Buffer): void {
    const job = slot.job;
    if (!job) return;
    slot.job = undefined;
    slot.worker?.unref();
    if (err || !key) job.reject(err ?? new Error("MAC key derivation failed"));
    else job.resolve(key);
    const next = this.closed ? undefined : this.queue.shift();
    if (next) this.run(slot, next);
  }
}
