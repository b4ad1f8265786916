// npm run bench:inventory — CPU per issuance against the size of the inventory and of one requester's
// history, in process (openGateway on a temp dataDir). One JSON line per case; each large case is compared
// with the 1,000-certificate baseline (target: within 10 %).
//
// Large inventories are seeded through a fast path this bench owns: prepared INSERTs straight into the
// certificates table (test/store/seed.ts) in transactions of 100,000 rows; above 100,000 rows the seeder drops
// the secondary indexes and triggers, inserts, and recreates them from their own SQL, so the schema measured
// is the production one, built by sorting; realistic values (random serials, ~520-byte DER, JSON SAN list, names_key) and a large page cache
// for the seeding only. Issuances go through gw.enrollment.enroll with pre-made CSRs.
//
// INVENTORY_BENCH_TOTAL (default 10,000,000) sizes case (b); INVENTORY_BENCH_HOLDING (default 1,000,000) case (a);
// INVENTORY_BENCH_OPS issuances measured per case (default 1000); INVENTORY_BENCH_CASES=holding,inventory picks cases.
import { generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { validateConfig } from "../../src/config/load.js";
import { EnrollmentService } from "../../src/enrollment/service.js";
import { openGateway, type Gateway } from "../../src/gateway.js";
import type { SqliteStore } from "../../src/store/sqlite/store.js";
import { seedCertificates } from "../store/seed.js";
import { cpuRatio, selfCpuMs } from "./cpu.js";
import { csrForName } from "./csr-fast.js";
import { numberEnv, percentile, round1 } from "./stats.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TOTAL = numberEnv("INVENTORY_BENCH_TOTAL", 10_000_000, 2000);
const HOLDING = numberEnv("INVENTORY_BENCH_HOLDING", 1_000_000, 2000);
const OPS = numberEnv("INVENTORY_BENCH_OPS", 1000, 10);
const WARMUP = 300;
const BASE = 1000;
const DAY = 86_400_000;
const CASES = (process.env.INVENTORY_BENCH_CASES ?? "holding,inventory").split(",");
const REQUESTER = { kind: "mdm", id: "fleet-1" };
const iso = (ms: number) => new Date(ms).toISOString();
const device = (i: number) => `dev-${i}.fleet.example.com`;

interface Opened { gw: Gateway; dir: string; db: string }

async function open(): Promise<Opened> {
  const dir = mkdtempSync(join(tmpdir(), "gw-inventory-bench-"));
  const dataDir = join(dir, "data");
  mkdirSync(dataDir, { recursive: true });
  const config = validateConfig({ dataDir, profilesDir: join(ROOT, "profiles"), log: { level: "silent" }, retention: { intervalMinutes: 0 }, lifecycle: { scanIntervalMinutes: 0 } });
  const gw = await openGateway(config, pino({ level: "silent" }));
  // Experiments only: INVENTORY_BENCH_PRAGMAS="cache_size=-65536;mmap_size=1073741824" on the gateway's connection.
  for (const p of (process.env.INVENTORY_BENCH_PRAGMAS ?? "").split(";").filter(Boolean)) (gw.store as SqliteStore).raw.pragma(p);
  return { gw, dir, db: gw.paths.db };
}

function dbBytes(path: string): number {
  return ["", "-wal"].reduce((n, s) => n + (statSync(`${path}${s}`, { throwIfNoEntry: false })?.size ?? 0), 0);
}

/**
 * `count` certificates in time order, each valid 90 days; `holder(i)` says whose it is and what name it holds.
 * "history": notAfter spread over three years before now and 89 days ahead (~7.5 % still valid, a fleet
 * renewing every 90 days); "valid": every notAfter within the next 89 days.
 */
function seed(o: Opened, count: number, spread: "history" | "valid", holder: (i: number) => { requester: { kind: string; id: string }; name: string; replaced: boolean }): { seconds: number; rows: number } {
  const raw = (o.gw.store as SqliteStore).raw;
  const t0 = performance.now();
  const cache = raw.pragma("cache_size", { simple: true }) as number;
  raw.pragma("cache_size = -4000000"); // seeding only: ~4 GB of pages; measured cases run with the store's own setting
  const now = Date.now();
  const start = spread === "history" ? now - 3 * 365 * DAY : now + DAY;
  const span = now + 89 * DAY - start;
  const serials = randomBytes(16 * Math.min(count, 100_000));
  seedCertificates(raw, {
    count, txSize: 100_000, bulk: count > 100_000,
    serial: (i) => `5${serials.toString("hex", (i % 100_000) * 16, (i % 100_000) * 16 + 12).slice(1)}${i.toString(16).padStart(8, "0")}`,
    row: (i) => {
      const h = holder(i);
      const notAfter = start + Math.floor((i * span) / count);
      return {
        requester: h.requester, sans: [`dns:${h.name}`], notBefore: iso(notAfter - 90 * DAY), notAfter: iso(notAfter),
        replacedBy: h.replaced && notAfter < now ? "renewed" : undefined, owner: `team-${i % 50}`,
      };
    },
  });
  raw.pragma("wal_checkpoint(TRUNCATE)");
  raw.pragma(`cache_size = ${cache}`);
  return { seconds: Math.round((performance.now() - t0) / 100) / 10, rows: count };
}

/** Pre-made CSRs: op i renews device i of the requester's holding when even, enrolls a new device when odd. */
function csrs(count: number, held: number): Uint8Array[] {
  const keys: KeyObject[] = Array.from({ length: 16 }, () => generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey);
  return Array.from({ length: count }, (_, i) => csrForName(keys[i % 16], i % 2 ? `new-${i}.fleet.example.com` : device((i * 7919) % held)));
}

interface Issuance { ops: number; cpuMsPerOp: number; perSecond: number; p50: number | null; p99: number | null; replaced: number }

/** One side of a paired measurement: a gateway, its CSRs, and what it used so far. */
class Side {
  readonly lat: number[] = [];
  cpu = 0;
  wall = 0;
  next = 0;
  private replacedBefore = 0;
  constructor(readonly gw: Gateway, private readonly pool: Uint8Array[]) {}

  async run(n: number, measured: boolean): Promise<void> {
    if (measured && !this.lat.length) this.replacedBefore = countReplaced(this.gw);
    for (let k = 0; k < n; k++) {
      const csr = this.pool[this.next++];
      const c0 = selfCpuMs();
      const t0 = performance.now();
      const out = await this.gw.enrollment.enroll({ requestId: EnrollmentService.newRequestId(), protocol: "admin", requester: REQUESTER, profile: "tls-server", csr });
      if (out.status !== "issued") throw new Error(`not issued: ${out.status}`);
      if (!measured) continue;
      const ms = performance.now() - t0;
      this.cpu += selfCpuMs() - c0;
      this.wall += ms;
      this.lat.push(ms);
    }
  }

  result(): Issuance {
    const lat = [...this.lat].sort((a, b) => a - b);
    const ops = lat.length;
    return { ops, cpuMsPerOp: Math.round((this.cpu / ops) * 1000) / 1000, perSecond: Math.round(ops / (this.wall / 1000)), p50: round1(percentile(lat, 50)), p99: round1(percentile(lat, 99)), replaced: countReplaced(this.gw) - this.replacedBefore };
  }
}

/**
 * Baseline and large case measured interleaved, 50 issuances each in turn: machine load (2 cores shared with
 * other jobs) drifts over minutes, and alternating puts both sides under the same drift.
 */
async function paired(base: Side, big: Side): Promise<[Issuance, Issuance]> {
  await base.run(WARMUP, false);
  await big.run(WARMUP, false);
  for (let done = 0; done < OPS; done += 50) {
    await base.run(Math.min(50, OPS - done), true);
    await big.run(Math.min(50, OPS - done), true);
  }
  return [base.result(), big.result()];
}

function countReplaced(gw: Gateway): number {
  return ((gw.store as SqliteStore).raw.prepare("SELECT count(*) AS n FROM audit_events WHERE type = 'certificate.replaced'").get() as { n: number }).n;
}

/** CPU of one /metrics scrape (the registry's collect, as the endpoint runs it), median of `n`. */
async function scrape(gw: Gateway, n = 20): Promise<number> {
  const cpu: number[] = [];
  for (let i = 0; i < n + 3; i++) {
    const c0 = selfCpuMs();
    await gw.metrics.registry.metrics();
    if (i >= 3) cpu.push(selfCpuMs() - c0);
  }
  return Math.round((cpu.sort((a, b) => a - b)[Math.floor(n / 2)]) * 1000) / 1000;
}

function line(o: Record<string, unknown>): void {
  console.log(JSON.stringify(o));
}

function report(name: string, r: Issuance, ref: Issuance | null, extra: Record<string, unknown>): void {
  const ratio = ref ? cpuRatio(r.cpuMsPerOp, ref.cpuMsPerOp) : null;
  line({
    case: name, ops: r.ops, gateway_cpu_ms_per_op: r.cpuMsPerOp, reference: ref ? `issuance-requester-${BASE}` : null, reference_cpu_ms_per_op: ref?.cpuMsPerOp ?? null,
    cpu_ratio: ratio, target: ref ? "cpu_ratio <= 1.10 (within 10 % of the 1,000-certificate baseline)" : "baseline", met: ref ? ratio !== null && ratio <= 1.1 : true,
    throughput_per_s: r.perSecond, p50_ms: r.p50, p99_ms: r.p99, implicit_renewals: r.replaced, ...extra,
  });
}

async function baseline(): Promise<{ o: Opened; side: Side; extra: Record<string, unknown> }> {
  const o = await open();
  const sd = seed(o, BASE, "valid", (i) => ({ requester: REQUESTER, name: device(i), replaced: false }));
  return { o, side: new Side(o.gw, csrs(WARMUP + OPS, BASE)), extra: { requester_holding: BASE, inventory: BASE, seed_seconds: sd.seconds } };
}

async function close(o: Opened): Promise<void> {
  await o.gw.close();
  rmSync(o.dir, { recursive: true, force: true });
}

if (CASES.includes("holding")) {
  // (a) one requester holding HOLDING valid certificates of one profile, one name each.
  const b = await baseline();
  const o = await open();
  const sd = seed(o, HOLDING, "valid", (i) => ({ requester: REQUESTER, name: device(i), replaced: false }));
  const [ref, r] = await paired(b.side, new Side(o.gw, csrs(WARMUP + OPS, HOLDING)));
  report(`issuance-requester-${BASE}`, ref, null, { ...b.extra, paired_with: `issuance-requester-${HOLDING}`, db_mb: Math.round(dbBytes(b.o.db) / 1e6) });
  report(`issuance-requester-${HOLDING}`, r, ref, { requester_holding: HOLDING, inventory: HOLDING, seed_seconds: sd.seconds, db_mb: Math.round(dbBytes(o.db) / 1e6) });
  await close(o);
  await close(b.o);
}

if (CASES.includes("inventory")) {
  // (b) TOTAL certificates over three years, mostly expired and renewed (98 % of expired ones replaced), 20,000
  // other requesters; the measured requester holds BASE of them, as in the baseline.
  const b = await baseline();
  const o = await open();
  const others = 20_000;
  const stride = Math.max(1, Math.floor(TOTAL / BASE));
  const sd = seed(o, TOTAL, "history", (i) => (i % stride === 0 && i / stride < BASE
    ? { requester: REQUESTER, name: device(i / stride), replaced: false }
    : { requester: { kind: i % 3 ? "mdm" : "acme", id: `tenant-${i % others}` }, name: `host-${i % (others * 40)}.t${i % others}.example.com`, replaced: i % 50 !== 0 }));
  // The measured requester's certificates are spread over three years too: most expired, the last ones valid.
  const [ref, r] = await paired(b.side, new Side(o.gw, csrs(WARMUP + OPS, BASE)));
  report(`issuance-requester-${BASE}`, ref, null, { ...b.extra, paired_with: `issuance-inventory-${TOTAL}` });
  report(`issuance-inventory-${TOTAL}`, r, ref, { inventory: TOTAL, requester_holding: BASE, seed_seconds: sd.seconds, db_mb: Math.round(dbBytes(o.db) / 1e6) });
  const baseScrape = await scrape(b.o.gw);
  const scrapeMs = await scrape(o.gw);
  line({
    case: `metrics-scrape-inventory-${TOTAL}`, ops: 20, gateway_cpu_ms_per_op: scrapeMs, reference: `metrics-scrape-inventory-${BASE}`, reference_cpu_ms_per_op: baseScrape,
    cpu_ratio: cpuRatio(scrapeMs, baseScrape), target: "bounded by the certificates counted (renewal window, expiring soon, missed), never the whole inventory; informational", met: null,
  });
  // Retention over the backlog: CPU per archived certificate, a bounded number of batches.
  const batches = numberEnv("INVENTORY_BENCH_ARCHIVE_BATCHES", 50, 1);
  const c0 = selfCpuMs();
  const t0 = performance.now();
  const run = await o.gw.retention.run(new Date(), batches);
  const cpu = selfCpuMs() - c0;
  line({
    case: `retention-archive-inventory-${TOTAL}`, ops: run.archived, gateway_cpu_ms_per_op: run.archived ? Math.round((cpu / run.archived) * 1000) / 1000 : null, reference: null,
    reference_cpu_ms_per_op: null, cpu_ratio: null, target: "informational: CPU per archived certificate (batches of 1000, one transaction and one audit event each)", met: null,
    batches: run.batches, ms_per_batch: run.batches ? round1((performance.now() - t0) / run.batches) : null, more: run.more,
  });
  await close(o);
  await close(b.o);
}
