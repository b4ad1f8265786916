// npm run bench:est — EST simpleenroll requests per second against `gateway serve` (its own process,
// SQLite store, issuing CA key ECDSA P-256 inside SoftHSM2, made by `gateway ca init --pkcs11`), over
// keep-alive HTTPS with HTTP Basic, at several concurrencies, next to the core's issuance rate with the
// same SoftHSM-backed key type measured in this process in the same run. The yardstick is server CPU
// per enrollment (utime + stime of the gateway process from /proc over the measured window, see cpu.ts)
// against the target TARGET_CPU_MS; the reference is the engine alone (policy, build, sign, store, audit
// in this process, its CPU per issuance), so cpu_ratio shows what EST + HTTP + TLS add on top of it.
// One JSON line per case on stdout, then one comparison line per concurrency (ratio = simpleenroll/s ÷
// engine issuances/s); errors go to stderr as well. Exits 1 when a case failed (any answer other than 200, or none).
//
// Env: BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (2), BENCH_EST_CONCURRENCY (1,8,32),
//      BENCH_REQUEST_TIMEOUT_MS (10000), BENCH_GATEWAY_NODE_OPTIONS (e.g. "--cpu-prof --cpu-prof-dir=DIR").
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir } from "./child.js";
import { cpuRatio } from "./cpu.js";
import { makeCsrPool } from "./est-csrs.js";
import { measureEngine } from "./est-engine.js";
import { enrollOnce, runEstLoad, type EstLoadResult } from "./est-load.js";
import { startEstGateway, type EstServer } from "./est-server.js";
import { numberEnv, percentile, round1 } from "./stats.js";

const SIGNER = "softhsm-p256";
/** Server CPU per simpleenroll, engine included, over keep-alive HTTPS with Basic. */
const TARGET_CPU_MS = 1.5;

function concurrencyEnv(): number[] {
  const raw = process.env.BENCH_EST_CONCURRENCY || "1,8,32";
  const list = raw.split(",").map((s) => Number(s.trim()));
  if (!list.length || list.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`BENCH_EST_CONCURRENCY=${raw}: expected positive integers, comma-separated`);
  return list;
}

const base64Body = (der: Uint8Array) => Buffer.from(Buffer.from(der).toString("base64"));

/**
 * One enrollment before any timing, checked end to end: 200, certs-only CMS whose certificate
 * chains to the root through the SoftHSM-backed issuing CA and names the CSR's host.
 */
async function sanityCheck(server: EstServer, requestTimeoutMs: number): Promise<void> {
  const [csr] = makeCsrPool(1, `sanity-${process.pid}`);
  const name = `d0-sanity-${process.pid}.bench.example.com`; // makeCsrPool's name for its first CSR
  const a = await enrollOnce({ url: `${server.estBase}/simpleenroll`, rootPem: server.rootPem, user: server.user, password: server.password, requestTimeoutMs }, base64Body(csr));
  if (a.status !== 200) throw new Error(`first simpleenroll: HTTP ${a.status} ${a.contentType}: ${a.body.toString("utf8").slice(0, 500)}`);
  if (!a.contentType.startsWith("application/pkcs7-mime")) throw new Error(`first simpleenroll: Content-Type ${a.contentType}, expected application/pkcs7-mime`);
  const dir = makeTempDir("bench-est-check-");
  try {
    const leaf = execFileSync("openssl", ["pkcs7", "-inform", "DER", "-print_certs"], { input: Buffer.from(a.body.toString("latin1"), "base64"), encoding: "utf8" });
    writeFileSync(join(dir, "leaf.pem"), leaf);
    writeFileSync(join(dir, "root.pem"), server.rootPem);
    writeFileSync(join(dir, "issuing.pem"), server.issuingPem);
    execFileSync("openssl", ["verify", "-CAfile", join(dir, "root.pem"), "-untrusted", join(dir, "issuing.pem"), join(dir, "leaf.pem")], { encoding: "utf8", stdio: "pipe" });
    if (!leaf.includes(name)) throw new Error(`first simpleenroll: the certificate does not name ${name}:\n${leaf}`);
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`first simpleenroll: the answer is not a certificate chaining to the bench root: ${err.message.split("\n")[0]} ${err.stderr ?? ""}`);
  } finally {
    removeTempDir(dir);
  }
}

function report(concurrency: number, r: EstLoadResult, engineCpuMs: number): number | null {
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  const requestsPerSecond = r.seconds > 0 ? r.ok / r.seconds : null;
  const gatewayCpu = r.serverCpuMs !== null && r.ok > 0 ? Math.round((r.serverCpuMs / r.ok) * 1000) / 1000 : null;
  console.log(JSON.stringify({
    case: `est-simpleenroll-c${concurrency}`, ops: r.ok, gateway_cpu_ms_per_op: gatewayCpu,
    reference: "engine alone, in-process (EnrollmentService.enroll, same SoftHSM P-256 key type)", reference_cpu_ms_per_op: engineCpuMs,
    cpu_ratio: gatewayCpu === null ? null : cpuRatio(gatewayCpu, engineCpuMs),
    target: `gateway server CPU <= ${TARGET_CPU_MS} ms per simpleenroll (engine included)`, met: gatewayCpu !== null && gatewayCpu <= TARGET_CPU_MS,
    throughput_per_s: round1(requestsPerSecond), p50_ms: round1(percentile(sorted, 50)), p99_ms: round1(percentile(sorted, 99)),
    bench: "est", op: "simpleenroll", signer: SIGNER, concurrency, requestsPerSecond: round1(requestsPerSecond),
    p50ms: round1(percentile(sorted, 50)), p99ms: round1(percentile(sorted, 99)), errors: r.errors,
    ok: r.ok, seconds: r.seconds, connections: r.connections, clientCpuPercent: r.clientCpuPercent,
  }));
  for (const e of r.firstErrors) console.error(`est bench c=${concurrency} error: ${e}`);
  if (r.madeInline) console.error(`est bench c=${concurrency}: the CSR pool ran out; ${r.madeInline} CSRs were made during the run (load generator CPU)`);
  if (r.connections > concurrency) console.error(`est bench c=${concurrency}: ${r.connections} TLS connections for ${concurrency} keep-alive workers (the server closed some)`);
  return requestsPerSecond;
}

async function main(): Promise<number> {
  const seconds = numberEnv("BENCH_SECONDS", 10, 0.1);
  const warmupSeconds = numberEnv("BENCH_WARMUP_SECONDS", 2, 0);
  const requestTimeoutMs = numberEnv("BENCH_REQUEST_TIMEOUT_MS", 10_000, 100);
  const concurrencies = concurrencyEnv();
  const run = `${process.pid.toString(36)}${Date.now().toString(36)}`;

  // The core first, before the gateway process exists; SoftHSM loads in this process here.
  const engine = await measureEngine({ warmupSeconds, seconds, csrs: makeCsrPool(2000, `e-${run}`) });
  console.log(JSON.stringify({
    bench: "est", case: "engine-raw", signer: SIGNER, issuancesPerSecond: round1(engine.issuancesPerSecond), cpu_ms_per_op: engine.cpuMsPerIssuance,
    issued: engine.issued, seconds: round1(engine.seconds), key: engine.signer,
  }));

  let failed = false;
  const rates = new Map<number, number | null>();
  let server: EstServer | undefined;
  try {
    server = await startEstGateway();
    await sanityCheck(server, requestTimeoutMs);
    let extra = 0;
    const more = () => base64Body(makeCsrPool(1, `x${extra++}-${run}`)[0]);
    for (const concurrency of concurrencies) {
      // Enough distinct CSRs for 1.5× the engine's rate, made before the clock starts.
      const count = Math.ceil(engine.issuancesPerSecond * 1.5 * (warmupSeconds + seconds)) + 4 * concurrency;
      const bodies = makeCsrPool(count, `c${concurrency}-${run}`).map(base64Body);
      try {
        const r = await runEstLoad({
          url: `${server.estBase}/simpleenroll`, rootPem: server.rootPem, user: server.user, password: server.password,
          concurrency, warmupSeconds, seconds, requestTimeoutMs, bodies, more, serverPid: server.pid,
        });
        rates.set(concurrency, report(concurrency, r, engine.cpuMsPerIssuance));
        if (r.errors > 0 || r.ok === 0) failed = true;
      } catch (e) {
        failed = true;
        rates.set(concurrency, null);
        const message = (e as Error).message;
        console.log(JSON.stringify({ bench: "est", op: "simpleenroll", signer: SIGNER, concurrency, error: message.split("\n")[0] }));
        console.error(`est bench c=${concurrency} failed: ${message}`);
      }
    }
  } catch (e) {
    failed = true;
    const message = (e as Error).message;
    console.log(JSON.stringify({ bench: "est", op: "simpleenroll", signer: SIGNER, error: message.split("\n")[0] }));
    console.error(`est bench: ${message}`);
  } finally {
    await server?.stop();
  }
  for (const [concurrency, rate] of rates) {
    const ratio = rate !== null && engine.issuancesPerSecond > 0 ? Math.round((rate / engine.issuancesPerSecond) * 100) / 100 : null;
    console.log(JSON.stringify({ bench: "est", compare: "simpleenroll/engine", concurrency, ratio }));
  }
  return failed ? 1 : 0;
}

// Ctrl-C and kill still run the exit hook that stops the gateway and removes temp dirs (see child.ts).
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

main().then((code) => process.exit(code), (e: unknown) => {
  console.error(`est bench: ${(e as Error).message ?? String(e)}`);
  process.exit(1);
});
