// npm run bench:scep — SCEP (RFC 8894) enrollments per second against `gateway serve` and against micromdm's
// scepserver (Debian package `scep`) in the same run, each in its own process, driven by the same load
// generator: N workers with one keep-alive HTTP connection each, all enrolling with ONE RSA-2048 client key
// (made before timing, with its self-signed signer certificate) and distinct names from a CSR pool made
// before timing. Per server: GetCACaps + GetCACert once (encrypt to the RA when there is one, else to the
// CA, as devices do), one enrollment whose certificate `openssl verify` checks against that server's CA,
// a warm-up, then the measured window. Each enrollment is a PKCSReq with a fresh transactionID, POSTed
// PKIOperation, and the CertRep opened; it counts when the answer is SUCCESS with a certificate.
//
// The yardstick is server CPU per enrollment: utime + stime of each server process from /proc over its measured
// window (cpu.ts), the same client and the same kind of messages on both sides. One detail line per server on
// stdout, then the case line: gateway and scepserver CPU per PKCSReq, cpu_ratio (gateway / scepserver), the target
// (ratio <= TARGET_RATIO), met, the gateway's throughput and latency; errors go to stderr as well, with what the server logged. Exits 1 when a case failed: setup, the
// checked enrollment, no enrollment in the window, or any failed enrollment — except that scepserver's signed
// FAILURE answers (`refused`: its 2.1.0 file depot races under concurrency, see below) are reported, not fatal.
//
// Env: BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (2), BENCH_SCEP_CLIENTS (8), BENCH_REQUEST_TIMEOUT_MS (10000),
//      BENCH_SCEP_SERVERS=gateway|scepserver|both (both), BENCH_SCEPSERVER_KEY_BITS (2048: the size of the
//      gateway's RA key; scepserver's own default is 4096), BENCH_GATEWAY_NODE_OPTIONS (e.g. "--cpu-prof --cpu-prof-dir=DIR").
import { execFileSync } from "node:child_process";
import { randomBytes, X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import type { Agent } from "node:http";
import type { Socket } from "node:net";
import { join } from "node:path";
import { makeTempDir, removeTempDir } from "./child.js";
import { cpuRatio } from "./cpu.js";
import { CsrPool, enrollmentName, makeClientIdentity, scepCsr, type ScepClientIdentity } from "./scep-csrs.js";
import { discover, enrollOnce, makeAgents, runWindow, type ScepService, type WindowResult } from "./scep-load.js";
import { startScepGateway, startScepserver, type ScepBenchServer } from "./scep-servers.js";
import { numberEnv, percentile, round1 } from "./stats.js";

type ServerName = ScepBenchServer["name"];
/** Gateway server CPU per PKCSReq as a share of scepserver's, same client and messages, same run. */
const TARGET_RATIO = 0.33;

function serversEnv(): ServerName[] {
  const v = process.env.BENCH_SCEP_SERVERS ?? "both";
  if (v === "both") return ["gateway", "scepserver"];
  if (v === "gateway" || v === "scepserver") return [v];
  throw new Error(`BENCH_SCEP_SERVERS=${v}: expected gateway, scepserver or both`);
}


/**
 * One enrollment before any timing, checked end to end: SUCCESS, a certificate for our key that names the
 * requested host and that `openssl verify` chains to the server's CA.
 */
async function sanityCheck(server: ScepBenchServer, svc: ScepService, id: ScepClientIdentity, challenge: string, o: { agent: Agent; timeoutMs: number; tag: string }): Promise<void> {
  const name = enrollmentName(`check-${o.tag}`, 0);
  const r = await enrollOnce(svc, id, scepCsr(id, name, challenge), o.agent, o.timeoutMs);
  if (!r.ok) throw new Error(`first enrollment: ${r.error}`);
  const cert = new X509Certificate(r.cert);
  if (!Buffer.from(cert.publicKey.export({ type: "spki", format: "der" })).equals(Buffer.from(id.spki))) throw new Error("first enrollment: the certificate is not for the client key");
  if (!(cert.subjectAltName ?? "").includes(`DNS:${name}`)) throw new Error(`first enrollment: the certificate does not name ${name} (SAN: ${cert.subjectAltName ?? "none"})`);
  const dir = makeTempDir("bench-scep-check-");
  try {
    writeFileSync(join(dir, "leaf.pem"), cert.toString());
    writeFileSync(join(dir, "ca.pem"), server.rootPem);
    const args = ["verify", "-CAfile", join(dir, "ca.pem")];
    if (server.intermediatesPem) {
      writeFileSync(join(dir, "intermediates.pem"), server.intermediatesPem);
      args.push("-untrusted", join(dir, "intermediates.pem"));
    }
    execFileSync("openssl", [...args, join(dir, "leaf.pem")], { encoding: "utf8", stdio: "pipe" });
  } catch (e) {
    const err = e as Error & { stdout?: string; stderr?: string };
    throw new Error(`first enrollment: openssl verify against ${server.name}'s CA failed: ${err.message.split("\n")[0]} ${err.stdout ?? ""}${err.stderr ?? ""}`);
  } finally {
    removeTempDir(dir);
  }
}

/** The last lines of the server's log that are not routine (scepserver logs every request at info level). */
function complaints(server: ScepBenchServer): string {
  const routine = (l: string) => /\b(err|error)=null\b/.test(l) || /msg=listening/.test(l);
  const lines = server.logTail(20_000).split("\n").filter((l) => !routine(l)).slice(-8);
  return lines.length ? `the end of what it logged besides routine lines:\n${lines.join("\n")}` : "it logged nothing besides routine lines";
}

interface CaseResult {
  rate: number | null;
  failed: boolean;
  ok: number;
  cpuMsPerOp: number | null;
  p50: number | null;
  p99: number | null;
}

async function measure(server: ScepBenchServer, o: {
  id: ScepClientIdentity; challenge: string; pool: CsrPool; run: string; clients: number; warmupSeconds: number; seconds: number; requestTimeoutMs: number;
}): Promise<CaseResult> {
  const agents = makeAgents(o.clients);
  const sockets = new Set<Socket>();
  try {
    const svc = await discover(server.url, agents[0], o.requestTimeoutMs);
    await sanityCheck(server, svc, o.id, o.challenge, { agent: agents[0], timeoutMs: o.requestTimeoutMs, tag: `${server.name}-${o.run}` });
    const common = { svc, id: o.id, agents, sockets, requestTimeoutMs: o.requestTimeoutMs, serverPid: server.pid };

    // Warm-up: CSRs made as they are needed; its rate sizes the pool for the measured window.
    let w = 0;
    const warm: WindowResult | undefined = o.warmupSeconds > 0
      ? await runWindow({ ...common, seconds: o.warmupSeconds, take: () => scepCsr(o.id, enrollmentName(`w-${server.name}-${o.run}`, w++), o.challenge) })
      : undefined;
    const warmRate = warm && warm.ok > 0 ? warm.ok / warm.seconds : 200;
    const want = Math.min(Math.ceil(warmRate * 2 * o.seconds) + 8 * o.clients, 200_000);
    const grew = o.pool.size < want ? o.pool.fill(want) : 0;
    if (grew > 0) console.error(`scep bench ${server.name}: made CSRs up to ${want} in ${Math.round(grew)} ms (before timing)`);

    let next = 0;
    let madeInline = 0;
    const take = () => o.pool.at(next++) ?? scepCsr(o.id, enrollmentName(`x-${server.name}-${o.run}`, madeInline++), o.challenge);
    const r = await runWindow({ ...common, seconds: o.seconds, take });

    const sorted = [...r.latenciesMs].sort((a, b) => a - b);
    const rate = r.seconds > 0 ? r.ok / r.seconds : null;
    const errors = r.errors + (warm?.errors ?? 0);
    const refused = r.refused + (warm?.refused ?? 0);
    // Answered operations: scepserver's signed FAILUREs (its depot race, below) cost it the decryption, the
    // checks and a signature too, so they count; leaving them out would inflate its CPU per operation.
    const answered = r.ok + r.refused;
    const cpuMsPerOp = r.serverCpuMs !== null && answered > 0 ? Math.round((r.serverCpuMs / answered) * 1000) / 1000 : null;
    console.log(JSON.stringify({
      bench: "scep", server: server.name, server_cpu_ms_per_op: cpuMsPerOp, clients: o.clients, enrollmentsPerSecond: round1(rate),
      p50ms: round1(percentile(sorted, 50)), p99ms: round1(percentile(sorted, 99)), errors,
      refused, ok: r.ok, seconds: r.seconds, warmupOk: warm?.ok ?? 0, connections: sockets.size,
      clientCpuPercent: r.clientCpuPercent, serverCpuPercent: r.serverCpuPercent,
      digest: svc.digest, contentEncryption: svc.contentEncryption, encryptTo: new X509Certificate(svc.recipient).subject.replace(/\n/g, ","), ...server.notes,
    }));
    for (const e of [...(warm?.firstErrors ?? []), ...r.firstErrors].slice(0, 5)) console.error(`scep bench ${server.name} error: ${e}`);
    if (errors > 0) console.error(`scep bench ${server.name}: ${complaints(server)}`);
    if (madeInline) console.error(`scep bench ${server.name}: the CSR pool ran out; ${madeInline} CSRs were made during the measured window (load generator CPU)`);
    if (sockets.size > o.clients) console.error(`scep bench ${server.name}: ${sockets.size} connections for ${o.clients} keep-alive workers (the server closed some)`);
    // scepserver 2.1.0 (the Debian package) races on its file depot's serial file under concurrent requests
    // (fixed upstream in 2.2.0, "protect depot with mutex in SignCSR"): it answers some enrollments with a
    // signed FAILURE. Those are its result and are reported; anything else going wrong fails the case, and
    // any failed enrollment at all fails the gateway's.
    const tolerated = server.name === "scepserver" ? refused : 0;
    return { rate, failed: errors - tolerated > 0 || r.ok === 0, ok: r.ok, cpuMsPerOp, p50: round1(percentile(sorted, 50)), p99: round1(percentile(sorted, 99)) };
  } finally {
    for (const a of agents) a.destroy();
  }
}

async function main(): Promise<number> {
  const seconds = numberEnv("BENCH_SECONDS", 10, 0.1);
  const warmupSeconds = numberEnv("BENCH_WARMUP_SECONDS", 2, 0);
  const clients = numberEnv("BENCH_SCEP_CLIENTS", 8, 1);
  const requestTimeoutMs = numberEnv("BENCH_REQUEST_TIMEOUT_MS", 10_000, 100);
  const keyBits = numberEnv("BENCH_SCEPSERVER_KEY_BITS", 2048, 2048);
  const servers = serversEnv();
  const run = `${process.pid.toString(36)}${Date.now().toString(36)}`;

  // Client key, signer certificate and challenge: once per run, before any server starts.
  const dir = makeTempDir("bench-scep-client-");
  const id = makeClientIdentity(dir);
  const challenge = randomBytes(16).toString("hex"); // a PrintableString
  const pool = new CsrPool(id, `m-${run}`, challenge);
  const start: Record<ServerName, () => Promise<ScepBenchServer>> = {
    gateway: () => startScepGateway(challenge),
    scepserver: () => startScepserver(challenge, keyBits),
  };

  let failed = false;
  const rate: Partial<Record<ServerName, number | null>> = {};
  const results: Partial<Record<ServerName, CaseResult>> = {};
  try {
    for (const name of servers) {
      let server: ScepBenchServer | undefined;
      try {
        server = await start[name]();
        const r = await measure(server, { id, challenge, pool, run, clients, warmupSeconds, seconds, requestTimeoutMs });
        rate[name] = r.rate;
        results[name] = r;
        if (r.failed) failed = true;
      } catch (e) {
        // A server that cannot be measured is a failed case, not the end of the run.
        failed = true;
        rate[name] = null;
        const message = (e as Error).message;
        console.log(JSON.stringify({ bench: "scep", server: name, clients, error: message.split("\n")[0] }));
        console.error(`scep bench ${name} failed: ${message}${server ? `\n${name}: ${complaints(server)}` : ""}`);
      } finally {
        await server?.stop();
      }
    }
  } finally {
    removeTempDir(dir);
  }
  const g = results.gateway;
  if (g) {
    const refCpu = results.scepserver?.cpuMsPerOp ?? null;
    const ratio = g.cpuMsPerOp === null ? null : cpuRatio(g.cpuMsPerOp, refCpu);
    console.log(JSON.stringify({
      case: "scep-pkcsreq", ops: g.ok, gateway_cpu_ms_per_op: g.cpuMsPerOp,
      reference: "micromdm scepserver (same client, same messages, same run)", reference_cpu_ms_per_op: refCpu, cpu_ratio: ratio,
      target: `gateway server CPU per PKCSReq <= ${TARGET_RATIO} x scepserver's`, met: ratio !== null && ratio <= TARGET_RATIO,
      throughput_per_s: round1(g.rate), p50_ms: g.p50, p99_ms: g.p99, clients,
    }));
  }
  if (rate.gateway !== undefined && rate.scepserver !== undefined) {
    const ratio = rate.gateway !== null && rate.scepserver ? Math.round((rate.gateway / rate.scepserver) * 100) / 100 : null;
    console.log(JSON.stringify({ bench: "scep", compare: "gateway/scepserver", clients, ratio, target: 10 }));
  }
  return failed ? 1 : 0;
}

// Ctrl-C and kill still run the exit hook that stops the servers and removes temp dirs (see child.ts).
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

main().then((code) => process.exit(code), (e: unknown) => {
  console.error(`scep bench: ${(e as Error).message ?? String(e)}`);
  process.exit(1);
});
