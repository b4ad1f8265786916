// npm run bench:scale — the gateway on all cores and on PostgreSQL (issue 16). One JSON line per case on stdout.
//
// Part "protocols": ACME full flow (validation off), EST simpleenroll and SCEP PKCSReq against `gateway serve` with
// 1 and 2 workers, on SQLite and on PostgreSQL, the same load for all four (ACME: the same order counts; EST/SCEP:
// the same concurrency and windows, the same pre-made CSRs). Server CPU per operation is utime + stime SUMMED over
// the gateway's process tree (the primary, which accepts and hands out connections, plus its workers), and,
// on PostgreSQL, over the postmaster's tree (postmaster + backends), reported separately because part of the work
// moves into the database. Every gateway gets a fresh store (new SQLite file / new database).
// Part "audit": the audit-append rate with 4 writer processes on one PostgreSQL database, chain verified after.
// Part "curves": flat cost curves on PostgreSQL (a requester holding N certificates; an N-entry CRL), see scale-curves.ts.
//
// The machine has 2 cores and the load generator (this process) runs on them too: CPU per operation does not
// depend on that, throughput does. Each protocol line carries loadgen_cpu_ms_per_op and cores_busy (all measured
// CPU over wall time) so it shows when the cores, not the gateway, were the limit.
//
// Env: BENCH_SCALE_PARTS (protocols,audit,curves), BENCH_SCALE_PROTOCOLS (acme,est,scep), BENCH_SCALE_STORES
//      (sqlite,postgres), BENCH_SCALE_WORKERS (1,2), BENCH_ACME_ORDERS (400), BENCH_ACME_WARMUP_ORDERS (150),
//      BENCH_ACME_CLIENTS (8), BENCH_SECONDS (8), BENCH_WARMUP_SECONDS (2), BENCH_SCALE_CONCURRENCY (8),
//      BENCH_SCALE_POOL (10, connections per gateway process), BENCH_AUDIT_WRITERS (4), BENCH_AUDIT_EVENTS (2500
//      per writer), BENCH_AUDIT_INFLIGHT (1 per writer), BENCH_CURVE_BASE (1000), BENCH_CURVE_BIG (1000000),
//      BENCH_CURVE_OPS (500), BENCH_CURVE_CASES (holding,crl), BENCH_PG_SHARED_BUFFERS (2GB),
//      BENCH_PG_STATEMENTS (0; 1 prints each curve side's statements from pg_stat_statements to stderr),
//      BENCH_PG_HUGE_PAGES (auto: the cluster's buffer cache on 2 MiB pages when root can reserve them; off), see
//      huge-pages.ts.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { startPostgres, type PgCluster } from "../helpers/postgres.js";
import { makeTempDir, removeTempDir } from "./child.js";
import { makeCsrPool } from "./est-csrs.js";
import { auditAppendRate } from "./scale-audit.js";
import { postmasterPid } from "./scale-cpu.js";
import { reserveHugePages } from "./huge-pages.js";
import { crlCurve, holdingCurve } from "./scale-curves.js";
import { measureAcme, measureEst, measureScep, type LoadSettings, type Measured } from "./scale-protocols.js";
import { startScaleServer, type Protocol, type StoreKind } from "./scale-servers.js";
import { CsrPool, makeClientIdentity } from "./scep-csrs.js";
import { numberEnv, percentile, round1 } from "./stats.js";

const list = (name: string, fallback: string) => (process.env[name] || fallback).split(",").map((s) => s.trim()).filter(Boolean);
const r3 = (v: number) => Math.round(v * 1000) / 1000;
const CORES = 2;

function line(protocol: Protocol, store: StoreKind, workers: number, m: Measured, ref: Measured | undefined, s: LoadSettings): void {
  const per = (ms: number | null) => (ms === null || m.ops === 0 ? null : r3(ms / m.ops));
  const gw = per(m.gatewayCpuMs);
  const total = per(m.gatewayCpuMs + (m.postgresCpuMs ?? 0));
  const refTotal = ref && ref.ops ? (ref.gatewayCpuMs + (ref.postgresCpuMs ?? 0)) / ref.ops : null;
  const sorted = [...m.latenciesMs].sort((a, b) => a - b);
  const windowMs = m.seconds * 1000;
  console.log(JSON.stringify({
    case: `scale-${protocol}/${store}/workers-${workers}`, ops: m.ops, protocol, store, workers,
    gateway_cpu_ms_per_op: gw, primary_cpu_ms_per_op: workers > 1 ? per(m.primaryCpuMs) : null, postgres_cpu_ms_per_op: per(m.postgresCpuMs), total_server_cpu_ms_per_op: total,
    loadgen_cpu_ms_per_op: per(m.loadgenCpuMs),
    reference: workers === 1 ? null : `scale-${protocol}/${store}/workers-1`, cpu_ratio: total !== null && refTotal ? r3(total / refTotal) : null,
    target: "informative: CPU per operation summed over all gateway processes (+ PostgreSQL separately)", met: m.errors === 0 && m.ops > 0,
    throughput_per_s: round1(m.ops / m.seconds), p50_ms: round1(percentile(sorted, 50)), p99_ms: round1(percentile(sorted, 99)), errors: m.errors,
    cores_busy: round1((m.gatewayCpuMs + (m.postgresCpuMs ?? 0) + m.loadgenCpuMs) / windowMs), cores: CORES,
    gateway_processes: m.gatewayProcesses, postgres_processes: m.postgresProcesses,
    load: protocol === "acme" ? `${s.acmeOrders} orders (+${s.acmeWarmupOrders} warm-up), ${s.acmeClients} clients, validation off` : `${s.seconds} s (+${s.warmupSeconds} s warm-up), ${s.concurrency} keep-alive clients`,
  }));
  for (const e of m.firstErrors) console.error(`scale bench ${protocol}/${store}/w${workers} error: ${e}`);
}

async function protocols(cluster: PgCluster | undefined, postmaster: number | undefined): Promise<boolean> {
  const stores = list("BENCH_SCALE_STORES", "sqlite,postgres") as StoreKind[];
  const workerCounts = list("BENCH_SCALE_WORKERS", "1,2").map(Number);
  const s: LoadSettings = {
    acmeOrders: numberEnv("BENCH_ACME_ORDERS", 400, 1), acmeWarmupOrders: numberEnv("BENCH_ACME_WARMUP_ORDERS", 150, 0), acmeClients: numberEnv("BENCH_ACME_CLIENTS", 8, 1),
    seconds: numberEnv("BENCH_SECONDS", 8, 1), warmupSeconds: numberEnv("BENCH_WARMUP_SECONDS", 2, 0.5), concurrency: numberEnv("BENCH_SCALE_CONCURRENCY", 8, 1),
    requestTimeoutMs: numberEnv("BENCH_REQUEST_TIMEOUT_MS", 15_000, 100), postmasterPid: postmaster,
  };
  const poolSize = numberEnv("BENCH_SCALE_POOL", 10, 1);
  const run = `${process.pid.toString(36)}${Date.now().toString(36)}`;
  const scepChallenge = randomBytes(16).toString("hex");
  const dir = makeTempDir("bench-scale-client-");
  let ok = true;
  try {
    // Same load for every configuration: the CSRs are made once, before any server starts.
    const estBodies = makeCsrPool(Math.ceil(700 * (s.seconds + s.warmupSeconds)), `scale-${run}`).map((der) => Buffer.from(Buffer.from(der).toString("base64")));
    let extra = 0;
    const moreEst = () => Buffer.from(Buffer.from(makeCsrPool(1, `x${extra++}-${run}`)[0]).toString("base64"));
    const id = makeClientIdentity(dir);
    const scepPool = new CsrPool(id, `scale-${run}`, scepChallenge);
    for (const protocol of list("BENCH_SCALE_PROTOCOLS", "acme,est,scep") as Protocol[]) {
      if (protocol === "scep") scepPool.fill(Math.ceil(300 * s.seconds));
      for (const store of stores) {
        let ref: Measured | undefined;
        for (const workers of workerCounts) {
          const server = await startScaleServer({ protocol, store, workers, pgUrl: cluster?.url, poolSize, http01Port: 5002, scepChallenge }).catch((e: unknown) => {
            console.error(`scale bench ${protocol}/${store}/w${workers}: start failed: ${(e as Error).message}`);
            return undefined;
          });
          if (!server) {
            ok = false;
            console.log(JSON.stringify({ case: `scale-${protocol}/${store}/workers-${workers}`, error: "server did not start", met: false }));
            continue;
          }
          try {
            const m = protocol === "acme" ? await measureAcme(server, s)
              : protocol === "est" ? await measureEst(server, s, estBodies, moreEst)
              : await measureScep(server, s, id, scepPool, `${store}-w${workers}-${run}`);
            line(protocol, store, workers, m, ref, s);
            if (workers === 1) ref = m;
            if (m.errors > 0 || m.ops === 0) ok = false;
          } catch (e) {
            ok = false;
            console.error(`scale bench ${protocol}/${store}/w${workers} failed: ${(e as Error).message}`);
            console.log(JSON.stringify({ case: `scale-${protocol}/${store}/workers-${workers}`, error: (e as Error).message.split("\n")[0], met: false }));
          } finally {
            await server.stop();
          }
        }
      }
    }
  } finally {
    removeTempDir(dir);
  }
  return ok;
}

async function main(): Promise<number> {
  const parts = list("BENCH_SCALE_PARTS", "protocols,audit,curves");
  const needPg = parts.some((p) => p !== "protocols") || list("BENCH_SCALE_STORES", "sqlite,postgres").includes("postgres");
  console.error(`scale bench: ${CORES} cores shared by the load generator, the gateway and PostgreSQL; load average at start: ${readFileSync("/proc/loadavg", "utf8").trim()}`);
  // A buffer cache that holds the curves' data, as a server sized for a 1,000,000-certificate inventory has (the
  // tests' 32 MB would send every lookup's pages to the OS cache, which measures the cache size, not the curve).
  const settings: Record<string, string> = { shared_buffers: process.env.BENCH_PG_SHARED_BUFFERS ?? "2GB" };
  // BENCH_PG_STATEMENTS=1: per-statement figures (pg_stat_statements) of the curves' two sides, on stderr.
  if (process.env.BENCH_PG_STATEMENTS === "1") Object.assign(settings, { shared_preload_libraries: "pg_stat_statements", "pg_stat_statements.track": "all" });
  const huge = needPg ? reserveHugePages(settings.shared_buffers) : undefined;
  let cluster: PgCluster | undefined;
  if (huge) {
    cluster = await startPostgres({ ...settings, huge_pages: huge.setting }).catch((e: unknown) => {
      if (huge.setting === "off") throw e;
      console.error(`scale bench: PostgreSQL did not start on huge pages (${(e as Error).message.split("\n")[0]}); without them`);
      huge.release();
      Object.assign(huge, { setting: "off", reason: "PostgreSQL could not map them" });
      return startPostgres({ ...settings, huge_pages: "off" });
    });
    console.error(`scale bench: PostgreSQL shared_buffers ${settings.shared_buffers}, huge pages ${huge.setting}${huge.reason ? ` (${huge.reason})` : ""}`);
  }
  const postmaster = cluster ? postmasterPid(cluster.dir) : undefined;
  let ok = true;
  try {
    if (parts.includes("protocols")) ok = (await protocols(cluster, postmaster)) && ok;
    if (parts.includes("audit")) {
      ok = (await auditAppendRate(cluster!.url, postmaster!, {
        writers: numberEnv("BENCH_AUDIT_WRITERS", 4, 1), events: numberEnv("BENCH_AUDIT_EVENTS", 2500, 1), inflight: numberEnv("BENCH_AUDIT_INFLIGHT", 1, 1),
      })) && ok;
    }
    if (parts.includes("curves")) {
      const o = {
        base: numberEnv("BENCH_CURVE_BASE", 1000, 100), big: numberEnv("BENCH_CURVE_BIG", 1_000_000, 100), ops: numberEnv("BENCH_CURVE_OPS", 500, 50), warmup: 100,
        server: { pg_shared_buffers: settings.shared_buffers, pg_huge_pages: huge!.setting === "on" },
      };
      const cases = list("BENCH_CURVE_CASES", "holding,crl");
      if (cases.includes("holding")) await holdingCurve(cluster!.url, postmaster!, o);
      if (cases.includes("crl")) await crlCurve(cluster!.url, postmaster!, o);
    }
  } finally {
    await cluster?.stop();
    huge?.release();
  }
  return ok ? 0 : 1;
}

// Ctrl-C and kill still run the exit hooks that stop the servers (child.ts) and the cluster (its watchdog).
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

main().then((code) => process.exit(code), (e: unknown) => {
  console.error(`scale bench: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});
