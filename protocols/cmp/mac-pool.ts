import { availableParallelism } from "node:os";
import { pbkdf2 } from "node:crypto";
import { Worker } from "node:worker_threads";
import type { MacPlan } from "./mac.js";

/**
 * The iterated-hash PasswordBasedMac key, key = owf^n(secret ‖ salt) (RFC 4211 §4.4), as plain JavaScript
 * evaluated in each worker: nothing to resolve on disk, so it loads the same under tsx and from `dist/`.
 * After the first hash every input is the 32-byte digest, one padded block: for SHA-256 the block function
 * runs here on eight words, no call into OpenSSL and no Buffer per round (about 2.5 x faster than
 * crypto.hash per round, which costs mostly its call). Other owfs use crypto.hash (Node >= 20.12).
 */
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const crypto = require("node:crypto");
const once = typeof crypto.hash === "function" ? (alg, d) => crypto.hash(alg, d, "buffer") : (alg, d) => crypto.createHash(alg).update(d).digest();
const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);
const H0 = Int32Array.from([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
const w = new Int32Array(64);
// h = SHA-256(h), n times, h a 32-byte digest as 8 big-endian words: one block of h, 0x80 padding and length 256.
function sha256Rounds(h, n) {
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < 8; i++) w[i] = h[i];
    w[8] = 0x80000000 | 0;
    for (let i = 9; i < 15; i++) w[i] = 0;
    w[15] = 256;
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15], y = w[i - 2];
      w[i] = (w[i - 16] + (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + w[i - 7] + (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10))) | 0;
    }
    let a = H0[0], b = H0[1], c = H0[2], d = H0[3], e = H0[4], f = H0[5], g = H0[6], k = H0[7];
    for (let i = 0; i < 64; i++) {
      const t1 = (k + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
      const t2 = ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      k = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h[0] = (H0[0] + a) | 0; h[1] = (H0[1] + b) | 0; h[2] = (H0[2] + c) | 0; h[3] = (H0[3] + d) | 0;
    h[4] = (H0[4] + e) | 0; h[5] = (H0[5] + f) | 0; h[6] = (H0[6] + g) | 0; h[7] = (H0[7] + k) | 0;
  }
}
parentPort.on("message", (m) => {
  let key = crypto.createHash(m.owf).update(m.secret).update(m.salt).digest();
  if (m.owf === "sha256") {
    const h = new Int32Array(8);
    for (let i = 0; i < 8; i++) h[i] = key.readInt32BE(i * 4);
    sha256Rounds(h, m.iterations - 1);
    for (let i = 0; i < 8; i++) key.writeInt32BE(h[i], i * 4);
  } else {
    for (let i = 1; i < m.iterations; i++) key = once(m.owf, key);
  }
  parentPort.postMessage(key);
});
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
