import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { setImmediate as nextTurn } from "node:timers/promises";
import type { Logger } from "pino";
import type { CaRegistry, CertificateAuthority } from "../ca/authority.js";
import type { CrlMeta } from "../store/crl-types.js";
import type { CrlRecord, Store } from "../store/types.js";
import { CrlWriter } from "./crl-der.js";

export { buildCrl, type RevokedEntry } from "./crl-der.js";

export interface CrlPublisherOptions {
  validityHours: number;
  /** A revocation's CRL rebuild starts at most this long after the first revocation of a burst (config crl.rebuildDelaySeconds). */
  rebuildDelaySeconds: number;
  /** How often a started publisher looks for markers left by other processes (the CLI, a second instance). */
  pollSeconds?: number;
  /** Revoked rows per page (default 2000, ~7 ms of CPU); the event loop is free between pages so requests keep flowing during a large build. */
  pageSize?: number;
  /** Stored CRLs kept per CA (each may be tens of MB at fleet scale). */
  keep?: number;
  log?: Logger;
}

/** Build counters for tests and metrics: `maxInFlight` is per CA and must stay at most 1. */
export interface CrlBuildStats {
  started: number;
  completed: number;
  failed: number;
  maxInFlight: number;
}

interface Slot {
  timer?: NodeJS.Timeout;
  inflight?: Promise<CrlRecord>;
  /** A look at the marker before or after a build (the timer's, recheck's): settled() and stop() wait for it too. */
  checking?: Promise<void>;
}

const LEASE_MS = 60_000;

/**
 * Keeps one current CRL per CA in the store. Revocations only mark the CA dirty (in their own
 * transaction) and call `schedule`: one build per burst, started within the rebuild delay of the
 * burst's first revocation, never two builds of one CA at a time (in this process by a promise per
 * CA, across processes by a lease in the store). Serving reads the stored DER, cached in memory by
 * CRL number, and builds only when no CRL exists or the stored one is past half its lifetime.
 */
export class CrlPublisher {
  readonly stats: CrlBuildStats = { started: 0, completed: 0, failed: 0, maxInFlight: 0 };
  /** CRLs this process built and stored, by CA (gateway_crls_generated_total reads it when scraped). */
  readonly generated = new Map<string, number>();
  private readonly slots = new Map<string, Slot>();
  private readonly cache = new Map<string, CrlRecord>();
  private readonly active = new Map<string, number>();
  private readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  private readonly delayMs: number;
  private poller?: NodeJS.Timeout;
  /** The latest poll (it never rejects): settled() and stop() wait for the timers it may set. */
  private polling?: Promise<void>;
  private stopped = false;

  constructor(private readonly store: Store, private readonly cas: CaRegistry, private readonly opts: CrlPublisherOptions) {
    this.delayMs = opts.rebuildDelaySeconds * 1000;
  }

  /** Builds, signs and stores a CRL now, after any build of the CA already in flight. */
  async publish(ca: CertificateAuthority, now?: Date): Promise<CrlRecord> {
    const slot = this.slot(ca.name);
    while (slot.inflight) await slot.inflight.catch(() => undefined);
    const p = this.build(ca, now ?? new Date());
    slot.inflight = p;
    try {
      return await p;
    } finally {
      if (slot.inflight === p) slot.inflight = undefined;
      await this.recheck(ca.name);
    }
  }

  /** The stored CRL; a fresh one only when none exists or it is past half its lifetime (one build for all callers). */
  async current(ca: CertificateAuthority, now = new Date()): Promise<CrlRecord> {
    const fresh = (m: CrlMeta | undefined) => m !== undefined && now.getTime() < (Date.parse(m.nextUpdate) + Date.parse(m.thisUpdate)) / 2;
    let meta = await this.store.crl.latestMeta(ca.name);
    if (fresh(meta)) return this.cached(ca.name, meta!);
    const inflight = this.slots.get(ca.name)?.inflight;
    if (inflight) {
      await inflight.catch(() => undefined);
      meta = await this.store.crl.latestMeta(ca.name);
      if (fresh(meta)) return this.cached(ca.name, meta!);
    }
    return this.publish(ca, now);
  }

  /**
   * The CA's revoked list changed (the dirty marker is already in the store): build once the delay
   * since `dirtySince` has passed. A build in flight re-reads the marker when it ends instead.
   */
  schedule(caName: string, dirtySince?: string): void {
    const slot = this.slot(caName);
    if (this.stopped || slot.timer || slot.inflight) return;
    const since = dirtySince ? Date.parse(dirtySince) : Date.now();
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      // rebuildIfDirty handles its own errors; tracked so settled() does not return while it reads the marker.
      void this.track(slot, this.rebuildIfDirty(caName));
    }, Math.max(0, since + this.delayMs - Date.now()));
    slot.timer.unref();
  }

  /** Server mode: also pick up markers other processes left (CLI revocations, another instance, a restart). */
  start(): void {
    if (this.poller || this.stopped) return;
    this.polling = this.pollOnce();
    this.poller = setInterval(() => (this.polling = this.pollOnce()), (this.opts.pollSeconds ?? 5) * 1000);
    this.poller.unref();
  }

  /** Stops timers and waits for builds in flight; markers left dirty stay in the store for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.poller);
    await this.polling;
    for (const s of this.slots.values()) clearTimeout(s.timer);
    await Promise.all([...this.slots.values()].map((s) => (s.inflight ?? s.checking)?.catch(() => undefined)));
  }

  /** Resolves once no build is scheduled or running (tests; a CLI that wants the CRL out before exiting). */
  async settled(): Promise<void> {
    for (;;) {
      await this.polling;
      const busy = [...this.slots.values()].filter((s) => s.timer || s.inflight || s.checking);
      if (!busy.length) return;
      await Promise.all(busy.map((s) => (s.inflight ?? s.checking)?.catch(() => undefined) ?? new Promise((r) => setTimeout(r, 20))));
    }
  }

  private slot(caName: string): Slot {
    let s = this.slots.get(caName);
    if (!s) this.slots.set(caName, (s = {}));
    return s;
  }

  /** Never rejects (the poll timer does not wait for it). */
  private async pollOnce(): Promise<void> {
    try {
      for (const d of await this.store.crl.dirty()) if (this.cas.find(d.caName)) this.schedule(d.caName, d.dirtySince);
    } catch (e) {
      this.opts.log?.error({ err: (e as Error).message }, "CRL rebuild poll failed");
    }
  }

  /** Never throws (it runs in publish's finally): a failed look leaves the marker to the poll. */
  private async recheck(caName: string): Promise<void> {
    if (this.stopped) return;
    await this.track(
      this.slot(caName),
      (async () => {
        try {
          const st = await this.store.crl.state(caName);
          if (st.dirtySince) this.schedule(caName, st.dirtySince);
        } catch (e) {
          this.opts.log?.error({ ca: caName, err: (e as Error).message }, "CRL marker check failed");
        }
      })(),
    );
  }

  /** Marks the slot busy while `p` (which never rejects) runs. */
  private async track(slot: Slot, p: Promise<void>): Promise<void> {
    slot.checking = p;
    try {
      await p;
    } finally {
      if (slot.checking === p) slot.checking = undefined;
    }
  }

  private async rebuildIfDirty(caName: string): Promise<void> {
    const ca = this.cas.find(caName);
    if (!ca || this.stopped || this.slot(caName).inflight) return;
    try {
      // Re-checked after the read: a build may have started meanwhile (it re-reads the marker when it ends).
      if (!(await this.store.crl.state(caName)).dirtySince || this.stopped || this.slot(caName).inflight) return;
      await this.publish(ca);
    } catch (e) {
      // The marker stays set: the poll (or the next revocation) tries again.
      this.opts.log?.error({ ca: caName, err: (e as Error).message }, "CRL rebuild failed");
    }
  }

  private async cached(caName: string, meta: CrlMeta): Promise<CrlRecord> {
    const c = this.cache.get(caName);
    if (c && c.number === meta.number) return c;
    const rec = (await this.store.crl.latest(caName))!;
    this.cache.set(caName, rec);
    return rec;
  }

  private async build(ca: CertificateAuthority, asked: Date): Promise<CrlRecord> {
    await this.lease(ca.name, asked);
    const began = new Date().toISOString();
    const active = (this.active.get(ca.name) ?? 0) + 1;
    this.active.set(ca.name, active);
    this.stats.started++;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, active);
    try {
      // Another instance may have built while this one waited for the lease: this CRL's thisUpdate must not go below
      // that one's, as its number is above it (caches revalidate by Last-Modified; relying parties prefer the later CRL).
      const before = await this.store.crl.latestMeta(ca.name);
      const now = before && Date.parse(before.thisUpdate) > asked.getTime() ? new Date(Math.max(Date.now(), Date.parse(before.thisUpdate))) : asked;
      const t0 = performance.now();
      const crl = this.store.crl;
      const { generation } = await crl.state(ca.name); // every change up to this one is in the rows read below
      const number = await crl.nextNumber(ca.name);
      const next = new Date(now.getTime() + this.opts.validityHours * 3_600_000);
      const w = new CrlWriter(ca, number, now, next);
      const pageSize = this.opts.pageSize ?? 2_000;
      let cursor = await crl.forEachRevoked(ca.name, undefined, pageSize, (s, at, r) => w.add(s, at, r));
      let renewed = Date.now();
      while (cursor) {
        await nextTurn();
        if (Date.now() - renewed > LEASE_MS / 10) {
          renewed = Date.now();
          await crl.claim(ca.name, this.owner, new Date().toISOString(), new Date(renewed + LEASE_MS).toISOString());
        }
        cursor = await crl.forEachRevoked(ca.name, cursor, pageSize, (s, at, r) => w.add(s, at, r));
      }
      const t1 = performance.now();
      const der = await w.sign();
      const t2 = performance.now();
      const rec: CrlRecord = { caName: ca.name, number, thisUpdate: now.toISOString(), nextUpdate: next.toISOString(), der };
      await crl.save(rec, this.opts.keep ?? 3);
      await crl.markClean(ca.name, generation, began);
      this.cache.set(ca.name, rec);
      this.stats.completed++;
      this.generated.set(ca.name, (this.generated.get(ca.name) ?? 0) + 1);
      const ms = (a: number, b: number) => Math.round(b - a);
      this.opts.log?.info({ ca: ca.name, number, entries: w.entries, bytes: der.length, ms: { rows: ms(t0, t1), sign: ms(t1, t2), store: ms(t2, performance.now()) } }, "CRL published");
      return rec;
    } catch (e) {
      this.stats.failed++;
      throw e;
    } finally {
      this.active.set(ca.name, active - 1);
      await this.store.crl.release(ca.name, this.owner);
    }
  }

  /** Waits (bounded) while another instance holds the CA's build lease. */
  private async lease(caName: string, now: Date): Promise<void> {
    const deadline = Date.now() + 2 * LEASE_MS;
    while (!(await this.store.crl.claim(caName, this.owner, new Date().toISOString(), new Date(Date.now() + LEASE_MS).toISOString()))) {
      if (Date.now() > deadline) throw new Error(`another instance holds the CRL build lease of ${caName} (since before ${now.toISOString()})`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
