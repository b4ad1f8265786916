import { generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { Agent } from "node:http";
import { CmpClient, type Transaction } from "./cmp-client.js";
import { opensslVerify, startCmpGateway, startOpensslMock, type CmpBenchServer } from "./cmp-servers.js";
import { makeTempDir, removeTempDir } from "./child.js";
import { readFileSync } from "node:fs";
import { CpuMeter, cpuRatio, selfCpuMs } from "./cpu.js";
import { numberEnv, percentile } from "./stats.js";

/*
 * CMP `cr` transactions (cr → cp, certConf → pkiconf), PasswordBasedMac, driven by the in-process client of
 * cmp-client.ts against the gateway (`gateway serve` in its own process) and, in the same run with the same
 * client and the same number of transactions, OpenSSL's own CMP mock server (`openssl cmp -port`, which
 * neither signs nor stores). The yardstick is server CPU per transaction: utime + stime of each server
 * process (all its threads, so the gateway's PBM workers count) from /proc over the measured transactions.
 *
 * Cases, one JSON line each:
 *   cmp-cr-certconf/c<N>             the client keeps one PBM salt (its key derived once), N concurrent clients
 *                                    for each N of BENCH_CMP_CONCURRENCY (default 1,16).
 *   cmp-cr-certconf/fresh-salt/c1    a new salt for every message, as `openssl cmp` itself sends: each side
 *                                    derives a key per message (BENCH_CMP_FRESH_SALT=0 leaves it out).
 * Target: gateway CPU per transaction <= 2 x the mock's.
 *
 * Settings: BENCH_CMP_TRANSACTIONS measured per side (default 1000), BENCH_CMP_WARMUP transactions before
 * (default 200), BENCH_CMP_MAC_ITERATIONS (default 1000). Each client has its own keep-alive connection, so
 * cr and its certConf share one, as a device does; against the mock the connection is closed with each
 * certConf (it closes it then anyway, see cmp-client.ts); BENCH_CMP_CONNECTION_PER_TRANSACTION=1 does the
 * same against the gateway. Exits non-zero when a server does not start, a transaction fails, or the
 * gateway's certificate does not verify.
 */

const KID = "bench";
const TARGET_RATIO = 2;
const concurrencies = (process.env.BENCH_CMP_CONCURRENCY ?? "1,16").split(",").map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);
const transactions = numberEnv("BENCH_CMP_TRANSACTIONS", 1000, 1);
const warmup = numberEnv("BENCH_CMP_WARMUP", 200, 0);
const iterations = numberEnv("BENCH_CMP_MAC_ITERATIONS", 1000, 100);
const connectionPerTransaction = process.env.BENCH_CMP_CONNECTION_PER_TRANSACTION === "1";
const freshSaltCase = process.env.BENCH_CMP_FRESH_SALT !== "0";
const timeoutMs = 30_000;

interface Side {
  ops: number;
  errors: string[];
  cpuMsPerOp: number;
  sysMsPerOp: number;
  clientCpuMsPerOp: number;
  throughput: number;
  p50: number | null;
  p99: number | null;
}

interface Case {
  name: string;
  concurrency: number;
  freshSalt: boolean;
}

/** System (kernel) CPU ms of a process so far: how much of its CPU goes to sockets rather than its own code. */
function sysCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[12]) * 1000) / 100; // stime, field 15, USER_HZ 100
}

const r2 = (n: number | null) => (n === null || !Number.isFinite(n) ? null : Math.round(n * 100) / 100);

let serial = 0;
const commonName = (server: string) => `bench-${server}-${process.pid}-${++serial}.example.com`;

function clientsFor(srv: CmpBenchServer, c: Case, secret: Uint8Array, key: KeyObject): { clients: CmpClient[]; agents: Agent[] } {
  const agents = Array.from({ length: c.concurrency }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
  const closeAfterTransaction = srv.name === "openssl-mock" || connectionPerTransaction;
  const clients = agents.map((agent) => new CmpClient({ url: srv.url, kid: KID, secret, key, agent, iterations, timeoutMs, closeAfterTransaction, freshSalt: c.freshSalt }));
  return { clients, agents };
}

/** Exactly `count` transactions shared out among the clients, each running them back to back. */
async function drive(srv: CmpBenchServer, clients: CmpClient[], count: number): Promise<{ latencies: number[]; errors: string[]; seconds: number }> {
  const latencies: number[] = [];
  const errors: string[] = [];
  let left = count;
  const t0 = performance.now();
  await Promise.all(clients.map(async (c) => {
    while (left > 0) {
      left--;
      const r: Transaction = await c.transaction(commonName(srv.name));
      if (r.ok) latencies.push(r.ms);
      else errors.push(r.error);
    }
  }));
  return { latencies, errors, seconds: (performance.now() - t0) / 1000 };
}

async function measure(srv: CmpBenchServer, c: Case, secret: Uint8Array, key: KeyObject): Promise<Side> {
  const { clients, agents } = clientsFor(srv, c, secret, key);
  try {
    const warm = await drive(srv, clients, warmup);
    const meter = new CpuMeter(srv.pid);
    const sys0 = sysCpuMs(srv.pid);
    const own0 = selfCpuMs();
    const run = await drive(srv, clients, transactions);
    const ops = run.latencies.length;
    const cpu = meter.stop(ops);
    const sorted = run.latencies.sort((a, b) => a - b);
    const errors = [...warm.errors, ...run.errors];
    if (errors.length) {
      const distinct = [...new Set(errors)].slice(0, 5);
      process.stderr.write(`cmp ${srv.name} ${c.name}: ${errors.length} failed transaction(s), e.g.:\n${distinct.map((e) => `  ${e}`).join("\n")}\n${srv.logTail(15)}\n`);
    }
    return {
      ops, errors, cpuMsPerOp: cpu.cpuMsPerOp, sysMsPerOp: ops ? (sysCpuMs(srv.pid) - sys0) / ops : NaN, clientCpuMsPerOp: ops ? (selfCpuMs() - own0) / ops : NaN,
      throughput: ops / run.seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99),
    };
  } finally {
    for (const a of agents) a.destroy();
  }
}

/** One transaction before timing: the answer must be a certificate, and the gateway's must verify with `openssl verify`. */
async function check(srv: CmpBenchServer, secret: Uint8Array, key: KeyObject, dir: string): Promise<void> {
  const { clients, agents } = clientsFor(srv, { name: "check", concurrency: 1, freshSalt: false }, secret, key);
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

function report(c: Case, g: Side | undefined, m: Side | undefined): void {
  const ratio = g && m ? cpuRatio(g.cpuMsPerOp, m.cpuMsPerOp) : null;
  console.log(JSON.stringify({
    case: c.name, ops: g?.ops ?? 0, concurrency: c.concurrency, mac: `PasswordBasedMac SHA-256/HMAC-SHA256, ${iterations} iterations, ${c.freshSalt ? "fresh salt per message" : "one salt per client"}`,
    gateway_cpu_ms_per_op: r2(g?.cpuMsPerOp ?? null), reference: "openssl cmp -port (mock server, same client, same run)", reference_cpu_ms_per_op: r2(m?.cpuMsPerOp ?? null),
    cpu_ratio: ratio, target: `gateway server CPU per cr+certConf transaction <= ${TARGET_RATIO} x openssl cmp mock server`, met: ratio !== null && ratio <= TARGET_RATIO,
    throughput_per_s: r2(g?.throughput ?? null), p50_ms: r2(g?.p50 ?? null), p99_ms: r2(g?.p99 ?? null), errors: g?.errors.length ?? null,
    gateway_connection: connectionPerTransaction ? "one per transaction" : "keep-alive per client",
    gateway_sys_cpu_ms_per_op: r2(g?.sysMsPerOp ?? null), reference_sys_cpu_ms_per_op: r2(m?.sysMsPerOp ?? null), client_cpu_ms_per_op: r2(g?.clientCpuMsPerOp ?? null),
    reference_ops: m?.ops ?? null, reference_throughput_per_s: r2(m?.throughput ?? null), reference_p50_ms: r2(m?.p50 ?? null), reference_p99_ms: r2(m?.p99 ?? null),
    reference_errors: m?.errors.length ?? null, reference_client_cpu_ms_per_op: r2(m?.clientCpuMsPerOp ?? null),
  }));
}

async function main(): Promise<number> {
  if (!concurrencies.length) throw new Error("BENCH_CMP_CONCURRENCY names no positive concurrency");
  const cases: Case[] = concurrencies.map((n) => ({ name: `cmp-cr-certconf/c${n}`, concurrency: n, freshSalt: false }));
  if (freshSaltCase) cases.push({ name: "cmp-cr-certconf/fresh-salt/c1", concurrency: 1, freshSalt: true });
  const secretText = randomBytes(24).toString("base64url");
  const secret = new TextEncoder().encode(secretText);
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const dir = makeTempDir("bench-cmp-");
  const servers: CmpBenchServer[] = [];
  let failed = false;
  try {
    for (const start of [startCmpGateway, startOpensslMock]) {
      let srv: CmpBenchServer | undefined;
      try {
        srv = await start(KID, secretText);
        await check(srv, secret, privateKey, dir);
        servers.push(srv);
      } catch (e) {
        failed = true;
        process.stderr.write(`cmp ${start === startCmpGateway ? "gateway" : "openssl-mock"}: ${(e as Error).message}\n`);
        await srv?.stop();
      }
    }
    for (const c of cases) {
      const got: Partial<Record<CmpBenchServer["name"], Side>> = {};
      for (const srv of servers) {
        const side = await measure(srv, c, secret, privateKey);
        if (side.errors.length || !side.ops) failed = true;
        got[srv.name] = side;
      }
      report(c, got.gateway, got["openssl-mock"]);
    }
    for (const s of servers) process.stderr.write(`cmp ${s.name}: ${JSON.stringify(s.notes)}\n`);
    process.stderr.write(`cmp: ${transactions} transactions per side and case after ${warmup} warm-up; one P-256 key reused\n`);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    removeTempDir(dir);
  }
  return failed ? 1 : 0;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`cmp bench failed: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
