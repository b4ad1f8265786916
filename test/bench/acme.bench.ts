// npm run bench:acme — server CPU per certificate of the full ACME flow (newOrder → authz → challenge →
// finalize → download), gateway against Pebble in the same run, driven by the same client with the
// same number of orders: first with validation off on both sides, then with real http-01 validation
// (both servers fetching from the load generator's own responder). CPU is utime + stime of the server
// process from /proc over the measured orders only (after a warm-up). One JSON line per case on
// stdout; errors on stderr. Exits 1 when a case failed.
//
// Env: BENCH_ACME_ORDERS (400), BENCH_ACME_WARMUP_ORDERS (200), BENCH_ACME_CLIENTS (8),
//      BENCH_ACME_MODES (off,http-01), BENCH_ACME_SERVERS=pebble|gateway|both (both),
//      BENCH_HTTP01_PORT (5002), BENCH_POLL_MS (5), BENCH_REQUEST_TIMEOUT_MS (10000),
//      BENCH_GATE (1: newOrder and authorization fetches never overlap across clients, which Pebble
//      needs, see phase-gate.ts), BENCH_GATEWAY_NODE_OPTIONS (e.g. "--cpu-prof --cpu-prof-dir=DIR").
import { runLoad, type LoadResult } from "./acme-load.js";
import { startGateway, startPebble, type BenchServer, type BenchServerOptions } from "./acme-servers.js";
import { cpuRatio } from "./cpu.js";
import { Http01Answers } from "./http01-answers.js";
import { numberEnv, percentile, round1 } from "./stats.js";

type ServerName = BenchServer["name"];
const START: Record<ServerName, (o: BenchServerOptions) => Promise<BenchServer>> = { gateway: startGateway, pebble: startPebble };
const MODES = { off: { skip: true }, "http-01": { skip: false } } as const;
type Mode = keyof typeof MODES;
const TARGET_RATIO = 0.5;

function serversEnv(): ServerName[] {
  const v = process.env.BENCH_ACME_SERVERS ?? "both";
  if (v === "both") return ["gateway", "pebble"];
  if (v === "gateway" || v === "pebble") return [v];
  throw new Error(`BENCH_ACME_SERVERS=${v}: expected pebble, gateway or both`);
}

function modesEnv(): Mode[] {
  const raw = process.env.BENCH_ACME_MODES || "off,http-01";
  const list = raw.split(",").map((s) => s.trim());
  for (const m of list) if (!(m in MODES)) throw new Error(`BENCH_ACME_MODES=${raw}: expected off and/or http-01`);
  return list as Mode[];
}

interface Measured {
  cpuMsPerCert: number | null;
  certsPerSecond: number | null;
  p50: number | null;
  p99: number | null;
  certs: number;
  errors: number;
}

function summarise(r: LoadResult): Measured {
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  return {
    cpuMsPerCert: r.certs > 0 ? Math.round((r.serverCpuMs / r.certs) * 1000) / 1000 : null,
    certsPerSecond: r.seconds > 0 ? round1(r.certs / r.seconds) : null,
    p50: round1(percentile(sorted, 50)), p99: round1(percentile(sorted, 99)), certs: r.certs, errors: r.errors,
  };
}

async function main(): Promise<number> {
  const orders = numberEnv("BENCH_ACME_ORDERS", 400, 1);
  const warmupOrders = numberEnv("BENCH_ACME_WARMUP_ORDERS", 200, 0);
  const clients = numberEnv("BENCH_ACME_CLIENTS", 8, 1);
  const http01Port = numberEnv("BENCH_HTTP01_PORT", 5002, 1);
  const pollMs = numberEnv("BENCH_POLL_MS", 5, 0);
  const requestTimeoutMs = numberEnv("BENCH_REQUEST_TIMEOUT_MS", 10_000, 100);
  const gate = process.env.BENCH_GATE !== "0";
  const servers = serversEnv();
  const answers = await Http01Answers.listen(http01Port);
  let failed = false;
  try {
    for (const mode of modesEnv()) {
      const got: Partial<Record<ServerName, Measured>> = {};
      for (const name of servers) {
        let server: BenchServer | undefined;
        try {
          server = await START[name]({ http01Port, skipValidation: MODES[mode].skip });
          const r = await runLoad(server, { clients, orders, warmupOrders, pollMs, requestTimeoutMs, gate, answers: MODES[mode].skip ? undefined : answers });
          got[name] = summarise(r);
          for (const e of r.firstErrors) console.error(`acme bench ${name}/${mode} error: ${e}`);
          if (r.stalled) console.error(`acme bench ${name}/${mode}: a request went unanswered; the run was cut short`);
          if (r.errors > 0 || r.stalled) failed = true;
        } catch (e) {
          // A server that cannot be measured is a failed case, not the end of the run.
          failed = true;
          console.error(`acme bench ${name}/${mode} failed: ${(e as Error).message}`);
        } finally {
          await server?.stop();
        }
      }
      const g = got.gateway;
      const p = got.pebble;
      const ratio = g?.cpuMsPerCert != null ? cpuRatio(g.cpuMsPerCert, p?.cpuMsPerCert) : null;
      console.log(JSON.stringify({
        case: `acme-full-flow/validation-${mode}`, ops: g?.certs ?? p?.certs ?? 0, clients, gate,
        gateway_cpu_ms_per_op: g?.cpuMsPerCert ?? null, reference: "pebble", reference_cpu_ms_per_op: p?.cpuMsPerCert ?? null,
        cpu_ratio: ratio, target: `gateway server CPU per certificate <= ${TARGET_RATIO} x Pebble`, met: ratio !== null && ratio <= TARGET_RATIO,
        throughput_per_s: g?.certsPerSecond ?? null, p50_ms: g?.p50 ?? null, p99_ms: g?.p99 ?? null, errors: g?.errors ?? null,
        reference_ops: p?.certs ?? null, reference_throughput_per_s: p?.certsPerSecond ?? null, reference_p50_ms: p?.p50 ?? null,
        reference_p99_ms: p?.p99 ?? null, reference_errors: p?.errors ?? null,
      }));
    }
  } finally {
    await answers.close();
  }
  return failed ? 1 : 0;
}

// Ctrl-C and kill still run the exit hook that stops the servers (see child.ts).
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

main().then((code) => process.exit(code), (e: unknown) => {
  console.error(`acme bench: ${(e as Error).message ?? String(e)}`);
  process.exit(1);
});
