import { generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { Agent } from "node:http";
import { CmpClient, type Transaction } from "./cmp-client.js";
import { opensslVerify, startCmpGateway, startOpensslMock, type CmpBenchServer } from "./cmp-servers.js";
import { makeTempDir, removeTempDir } from "./child.js";
import { processCpuSeconds } from "./scep-load.js";

/*
 * CMP `cr` transactions per second (cr → cp, certConf → pkiconf), driven by the in-process client of
 * cmp-client.ts at each concurrency of BENCH_CMP_CONCURRENCY (default 1,16), against the gateway (`gateway
 * serve` in its own process) and, in the same run with the same client, OpenSSL's own CMP mock server
 * (`openssl cmp -port`). Warm-up BENCH_CMP_WARMUP_SECONDS (default 2), then BENCH_SECONDS (default 10) per case.
 *
 * Each concurrent client has its own keep-alive connection (an Agent with one socket), so cr and its certConf
 * go over one connection, as a device does. Against the mock the connection is closed with each certConf
 * (the mock closes it then anyway, see cmp-client.ts); BENCH_CMP_CONNECTION_PER_TRANSACTION=1 does the same
 * against the gateway.
 *
 * Prints one JSON line per case and one compare line (gateway / openssl-mock) per concurrency; exits non-zero
 * when a server does not start, a transaction fails, or the gateway's certificate does not verify.
 */

const KID = "bench";
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const warmupSeconds = Number(process.env.BENCH_CMP_WARMUP_SECONDS ?? 2);
const concurrencies = (process.env.BENCH_CMP_CONCURRENCY ?? "1,16").split(",").map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);
const iterations = Number(process.env.BENCH_CMP_MAC_ITERATIONS ?? 1000);
const connectionPerTransaction = process.env.BENCH_CMP_CONNECTION_PER_TRANSACTION === "1";
const timeoutMs = 30_000;

interface CaseResult {
  bench: "cmp";
  server: CmpBenchServer["name"];
  concurrency: number;
  transactionsPerSecond: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  transactions: number;
  seconds: number;
  /** CPU (user + system) per completed transaction during the timed run: the server's process, and this load generator's. */
  serverCpuMsPerTransaction: number | null;
  clientCpuMsPerTransaction: number | null;
  error?: string;
}

const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : NaN);
const round = (n: number, d = 2) => (Number.isFinite(n) ? Math.round(n * 10 ** d) / 10 ** d : null);

let serial = 0;
const commonName = (server: string) => `bench-${server}-${process.pid}-${++serial}.example.com`;

function clientsFor(srv: CmpBenchServer, n: number, secret: Uint8Array, key: KeyObject): { clients: CmpClient[]; agents: Agent[] } {
  const agents = Array.from({ length: n }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
  const closeAfterTransaction = srv.name === "openssl-mock" || connectionPerTransaction;
  const clients = agents.map((agent) => new CmpClient({ url: srv.url, kid: KID, secret, key, agent, iterations, timeoutMs, closeAfterTransaction }));
  return { clients, agents };
}

/** Every client runs transactions back to back until `ms` have passed; the ones started before then are awaited. */
async function drive(srv: CmpBenchServer, clients: CmpClient[], ms: number): Promise<{ latencies: number[]; errors: string[]; elapsed: number }> {
  const latencies: number[] = [];
  const errors: string[] = [];
  const t0 = performance.now();
  const end = t0 + ms;
  await Promise.all(clients.map(async (c) => {
    while (performance.now() < end) {
      const r: Transaction = await c.transaction(commonName(srv.name));
      if (r.ok) latencies.push(r.ms);
      else errors.push(r.error);
    }
  }));
  return { latencies, errors, elapsed: (performance.now() - t0) / 1000 };
}

async function runCase(srv: CmpBenchServer, concurrency: number, secret: Uint8Array, key: KeyObject): Promise<CaseResult> {
  const { clients, agents } = clientsFor(srv, concurrency, secret, key);
  try {
    const warm = await drive(srv, clients, warmupSeconds * 1000);
    const cpu0 = processCpuSeconds(srv.marker);
    const own0 = process.cpuUsage();
    const run = await drive(srv, clients, seconds * 1000);
    const cpu1 = processCpuSeconds(srv.marker);
    const own = process.cpuUsage(own0);
    const sorted = run.latencies.sort((a, b) => a - b);
    const all = [...warm.errors, ...run.errors];
    const result: CaseResult = {
      bench: "cmp", server: srv.name, concurrency,
      transactionsPerSecond: round(sorted.length / run.elapsed, 1) ?? 0,
      p50ms: round(percentile(sorted, 50)) ?? NaN, p99ms: round(percentile(sorted, 99)) ?? NaN,
      errors: run.errors.length, transactions: sorted.length, seconds: round(run.elapsed) ?? 0,
      serverCpuMsPerTransaction: cpu0 !== undefined && cpu1 !== undefined && sorted.length ? round(((cpu1 - cpu0) * 1000) / sorted.length) : null,
      clientCpuMsPerTransaction: sorted.length ? round((own.user + own.system) / 1000 / sorted.length) : null,
    };
    if (warm.errors.length) process.stderr.write(`cmp ${srv.name} c=${concurrency}: ${warm.errors.length} error(s) during warm-up\n`);
    if (all.length) {
      const distinct = [...new Set(all)].slice(0, 5);
      result.error = distinct.join(" | ");
      process.stderr.write(`cmp ${srv.name} c=${concurrency}: ${all.length} failed transaction(s), e.g.:\n${distinct.map((e) => `  ${e}`).join("\n")}\n${srv.logTail(15)}\n`);
    }
    if (!sorted.length && !result.error) result.error = "no transaction completed";
    return result;
  } finally {
    for (const a of agents) a.destroy();
  }
}

/** One transaction before timing: the answer must be a certificate, and the gateway's must verify with `openssl verify`. */
async function check(srv: CmpBenchServer, secret: Uint8Array, key: KeyObject, dir: string): Promise<void> {
  const { clients, agents } = clientsFor(srv, 1, secret, key);
  try {
    const r = await clients[0].transaction(commonName(srv.name));
    if (!r.ok) throw new Error(`${srv.name}: the first cr transaction failed: ${r.error}\n${srv.logTail(15)}`);
    if (srv.name === "gateway") {
      const out = await opensslVerify(r.cert, srv.rootPath!, srv.issuingPath, dir);
      process.stderr.write(`cmp gateway: issued certificate verifies against the dev root (${out.split("\n").pop()})\n`);
    }
  } finally {
    for (const a of agents) a.destroy();
  }
}

async function main(): Promise<number> {
  if (!concurrencies.length) throw new Error("BENCH_CMP_CONCURRENCY names no positive concurrency");
  const secretText = randomBytes(24).toString("base64url");
  const secret = new TextEncoder().encode(secretText);
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const dir = makeTempDir("bench-cmp-");
  const servers: CmpBenchServer[] = [];
  const results: CaseResult[] = [];
  let failed = false;
  try {
    for (const start of [startCmpGateway, startOpensslMock]) {
      const name = start === startCmpGateway ? "gateway" : "openssl-mock";
      try {
        const srv = await start(KID, secretText);
        servers.push(srv);
        await check(srv, secret, privateKey, dir);
      } catch (e) {
        failed = true;
        process.stderr.write(`cmp ${name}: ${(e as Error).message}\n`);
        for (const c of concurrencies) {
          console.log(JSON.stringify({ bench: "cmp", server: name, concurrency: c, transactionsPerSecond: null, p50ms: null, p99ms: null, errors: null, error: (e as Error).message.split("\n")[0] }));
        }
        const srv = servers.find((s) => s.name === name);
        if (srv) {
          servers.splice(servers.indexOf(srv), 1);
          await srv.stop();
        }
      }
    }
    for (const c of concurrencies) {
      for (const srv of servers) {
        const r = await runCase(srv, c, secret, privateKey);
        if (r.error) failed = true;
        results.push(r);
        console.log(JSON.stringify(r));
      }
      const gw = results.find((r) => r.server === "gateway" && r.concurrency === c);
      const mock = results.find((r) => r.server === "openssl-mock" && r.concurrency === c);
      if (gw && mock && mock.transactionsPerSecond > 0) {
        console.log(JSON.stringify({ bench: "cmp", compare: "gateway/openssl-mock", concurrency: c, ratio: round(gw.transactionsPerSecond / mock.transactionsPerSecond) }));
      }
    }
    for (const s of servers) process.stderr.write(`cmp ${s.name}: ${JSON.stringify(s.notes)}\n`);
    process.stderr.write(`cmp: PasswordBasedMac SHA-256/HMAC-SHA256, ${iterations} iterations; one P-256 key reused; ${warmupSeconds}s warm-up, ${seconds}s per case\n`);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    removeTempDir(dir);
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`cmp bench failed: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
