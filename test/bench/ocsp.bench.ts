// npm run bench:ocsp — OCSP responses per server CPU millisecond: `gateway serve` against `openssl ocsp -index`
// (OpenSSL 3, EC P-256 delegated responder, -nmin like the gateway's validity) in the same run, each in its
// own process, both knowing the same BENCH_OCSP_SERIALS serials (1 in 100 revoked): the gateway in its
// SQLite store, openssl in index.txt. The same load generator (node:http, BENCH_OCSP_CLIENTS in flight)
// sends both the same pre-made requests (one CertID, SHA-1, as OpenSSL sends them).
//
// OpenSSL 3.0's responder speaks HTTP/1.0 and closes the connection after every answer, so the compared
// cases open a new TCP connection per request on both sides; keep-alive cases (gateway only) show what a
// client that keeps its connection costs, against the same openssl figure.
//
// Cases (one JSON line each; a detail line per server first):
//   post-cached   POST, known serials, no nonce, after a warm-up pass over the request set (steady state:
//                 the gateway serves pre-signed responses). Target: cpu_ratio <= 1.
//   post-cold     POST, serials never asked before (the gateway signs each once). Reported against openssl.
//   get-cached    GET /ocsp/<base64>, as post-cached. Target: cpu_ratio <= 1.
//   nonce         POST with a fresh nonce each (both sides sign every response). Target: cpu_ratio <= 2
//                 (the gateway verifies every signature it makes before sending it; openssl does not).
//   post-keepalive, get-keepalive   gateway only, keep-alive. Target: <= 0.1 ms CPU per response (>= 10,000/s on one core).
//
// Env: BENCH_OCSP_SERIALS (10000), BENCH_OCSP_DISTINCT (2000: distinct serials per cached request set),
//      BENCH_OCSP_OPS (4000 per case and server), BENCH_OCSP_CLIENTS (8), BENCH_OCSP_VALIDITY_MINUTES (60),
//      BENCH_OCSP_WARMUP_OPS (1500), BENCH_OCSP_CASES (comma list; all), BENCH_GATEWAY_NODE_OPTIONS (e.g. "--cpu-prof --cpu-prof-dir=DIR").
import { CpuMeter, cpuRatio } from "./cpu.js";
import { runOcspLoad, type OcspLoadResult } from "./ocsp-load.js";
import { makeSerials, startOcspGateway, startOpensslOcsp, type OcspBenchServer } from "./ocsp-servers.js";
import { OcspRequests } from "./soak-ocsp.js";
import { numberEnv, percentile, round1 } from "./stats.js";

const SERIALS = numberEnv("BENCH_OCSP_SERIALS", 10_000, 100);
const DISTINCT = Math.min(SERIALS / 2, numberEnv("BENCH_OCSP_DISTINCT", 2000, 1));
const OPS = numberEnv("BENCH_OCSP_OPS", 4000, 10);
const CLIENTS = numberEnv("BENCH_OCSP_CLIENTS", 8, 1);
const VALIDITY = numberEnv("BENCH_OCSP_VALIDITY_MINUTES", 60, 1);
const WARMUP_OPS = numberEnv("BENCH_OCSP_WARMUP_OPS", 1500, 0);
const TIMEOUT_MS = 10_000;
const ALL_CASES = ["post-cached", "post-cold", "get-cached", "nonce", "post-keepalive", "get-keepalive"] as const;
type CaseName = (typeof ALL_CASES)[number];
const CASES = new Set((process.env.BENCH_OCSP_CASES ?? ALL_CASES.join(",")).split(",").map((s) => s.trim()).filter(Boolean));
for (const c of CASES) if (!(ALL_CASES as readonly string[]).includes(c)) throw new Error(`BENCH_OCSP_CASES: unknown case ${c}`);
const KEEPALIVE_TARGET_MS = 0.1;

interface Measured {
  server: string;
  cpuMsPerOp: number;
  load: OcspLoadResult;
}

async function measure(server: OcspBenchServer, method: "POST" | "GET", keepAlive: boolean, bodies: Uint8Array[], ops: number, warmup: Uint8Array[]): Promise<Measured> {
  const run = (b: Uint8Array[], n: number) => runOcspLoad({ url: server.url, method, keepAlive, concurrency: CLIENTS, ops: n, bodies: b, timeoutMs: TIMEOUT_MS });
  if (warmup.length) {
    // Every request of the set once (the gateway keeps their responses), and at least WARMUP_OPS for the JIT.
    const w = await run(warmup, Math.max(warmup.length, WARMUP_OPS));
    if (w.errors) throw new Error(`${server.name} warm-up: ${w.errors} failed (${w.firstError})`);
  }
  const meter = new CpuMeter(server.pid);
  const load = await run(bodies, ops);
  const { cpuMsPerOp } = meter.stop(load.ok);
  if (load.errors || !load.ok) throw new Error(`${server.name}: ${load.errors} of ${ops} failed (${load.firstError})`);
  const line = { detail: true, server: server.name, method, keep_alive: keepAlive, ops: load.ok, cpu_ms_per_op: cpuMsPerOp, ...latency(load) };
  console.log(JSON.stringify(line));
  return { server: server.name, cpuMsPerOp, load };
}

function latency(l: OcspLoadResult) {
  return { throughput_per_s: Math.round(l.ok / l.seconds), p50_ms: round1(percentile(l.latencies, 50)), p99_ms: round1(percentile(l.latencies, 99)) };
}

function report(name: CaseName, g: Measured, ref: { name: string; cpuMsPerOp: number } | null, target: string, met: (ratio: number | null) => boolean): boolean {
  const ratio = cpuRatio(g.cpuMsPerOp, ref?.cpuMsPerOp);
  const ok = met(ratio);
  console.log(JSON.stringify({
    case: `ocsp-${name}`, ops: g.load.ok, gateway_cpu_ms_per_op: g.cpuMsPerOp, reference: ref?.name ?? null, reference_cpu_ms_per_op: ref?.cpuMsPerOp ?? null,
    cpu_ratio: ratio, target, met: ok, ...latency(g.load), clients: CLIENTS, serials: SERIALS,
  }));
  return ok;
}

async function main(): Promise<void> {
  const serials = makeSerials(SERIALS, 100);
  const gateway = await startOcspGateway(serials, VALIDITY);
  let openssl: OcspBenchServer | undefined;
  try {
    openssl = await startOpensslOcsp(serials, VALIDITY);
    const ask = { gateway: new OcspRequests(gateway.issuerDer), openssl: new OcspRequests(openssl.issuerDer) };
    // Cached set: the first DISTINCT serials; cold set: serials after them, each asked once.
    const cachedSet = serials.all.slice(0, DISTINCT);
    const coldSet = serials.all.slice(DISTINCT, Math.min(serials.all.length, DISTINCT + OPS));
    const reqs = (side: keyof typeof ask, list: string[], nonce = false) => list.map((s) => ask[side].request(s, nonce));
    const cached = { gateway: reqs("gateway", cachedSet), openssl: reqs("openssl", cachedSet) };
    const results: boolean[] = [];
    const ratioAtMost = (max: number) => (r: number | null) => r !== null && r <= max;
    const opensslClose: Record<string, number> = {};

    const pair = async (name: CaseName, method: "POST" | "GET", g: Uint8Array[], o: Uint8Array[], ops: number, warm: boolean, maxRatio: number) => {
      const gm = await measure(gateway, method, false, g, ops, warm ? g : []);
      const om = await measure(openssl!, method, false, o, ops, warm ? o.slice(0, 200) : []);
      opensslClose[method] = om.cpuMsPerOp;
      results.push(report(name, gm, { name: "openssl ocsp -index (connection per request)", cpuMsPerOp: om.cpuMsPerOp }, `cpu_ratio <= ${maxRatio} (connection per request on both sides)`, ratioAtMost(maxRatio)));
    };
    if (CASES.has("post-cached")) await pair("post-cached", "POST", cached.gateway, cached.openssl, OPS, true, 1);
    if (CASES.has("get-cached")) await pair("get-cached", "GET", cached.gateway, cached.openssl, OPS, true, 1);
    if (CASES.has("post-cold")) {
      // Both sides sign every one of these; the gateway then keeps them, so this case runs once.
      await pair("post-cold", "POST", reqs("gateway", coldSet), reqs("openssl", coldSet), coldSet.length, false, 2);
    }
    if (CASES.has("nonce")) await pair("nonce", "POST", reqs("gateway", cachedSet.slice(0, OPS), true), reqs("openssl", cachedSet.slice(0, OPS), true), Math.min(OPS, cachedSet.length), false, 2);
    for (const [name, method] of [["post-keepalive", "POST"], ["get-keepalive", "GET"]] as const) {
      if (!CASES.has(name)) continue;
      const gm = await measure(gateway, method, true, cached.gateway, OPS * 4, cached.gateway);
      const ref = opensslClose[method] ?? (await measure(openssl, method, false, cached.openssl, OPS, cached.openssl.slice(0, 200))).cpuMsPerOp;
      results.push(report(name, gm, { name: "openssl ocsp -index (connection per request; it has no keep-alive)", cpuMsPerOp: ref },
        `gateway_cpu_ms_per_op <= ${KEEPALIVE_TARGET_MS} (>= 10,000 responses/s on one core)`, () => gm.cpuMsPerOp <= KEEPALIVE_TARGET_MS));
    }
    // A missed target is reported (met: false), not a failure of the run.
    void results;
  } finally {
    await openssl?.stop();
    await gateway.stop();
  }
}

main().catch((e: Error) => {
  console.error(e.stack ?? e.message);
  process.exit(1);
});
