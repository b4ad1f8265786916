/**
 * One measured load against one ScaleServer, through the existing load generators (acme-load.ts, est-load.ts,
 * scep-load.ts), with the CPU summed over the gateway's process tree (primary + workers) and, separately, over
 * PostgreSQL's (postmaster + backends), and this process's own CPU (the load generator) over the same window.
 */
import type { Agent } from "node:http";
import type { Socket } from "node:net";
import { runLoad } from "./acme-load.js";
import type { BenchServer } from "./acme-servers.js";
import { runEstLoad } from "./est-load.js";
import { TreeMeter } from "./scale-cpu.js";
import type { ScaleServer } from "./scale-servers.js";
import type { CsrPool, ScepClientIdentity } from "./scep-csrs.js";
import { scepCsr, enrollmentName } from "./scep-csrs.js";
import { discover, makeAgents, runWindow } from "./scep-load.js";

export interface Measured {
  ops: number;
  seconds: number;
  latenciesMs: number[];
  errors: number;
  firstErrors: string[];
  gatewayCpuMs: number;
  /** Of gatewayCpuMs, the primary (or only) process alone. */
  primaryCpuMs: number;
  postgresCpuMs: number | null;
  loadgenCpuMs: number;
  gatewayProcesses: number;
  postgresProcesses: number | null;
}

export interface LoadSettings {
  /** ACME: orders measured and warm-up orders, clients. */
  acmeOrders: number;
  acmeWarmupOrders: number;
  acmeClients: number;
  /** EST and SCEP: windows and concurrency. */
  seconds: number;
  warmupSeconds: number;
  concurrency: number;
  requestTimeoutMs: number;
  /** The postmaster, when the server's store is PostgreSQL. */
  postmasterPid?: number;
}

type Cpu = "gatewayCpuMs" | "primaryCpuMs" | "postgresCpuMs" | "loadgenCpuMs" | "gatewayProcesses" | "postgresProcesses";

function finish(m: ReturnType<TreeMeter["stop"]>, r: Omit<Measured, Cpu>, usePg: boolean): Measured {
  return {
    ...r, gatewayCpuMs: m.cpuMs[0], primaryCpuMs: m.rootCpuMs[0], postgresCpuMs: usePg ? m.cpuMs[1] : null, loadgenCpuMs: m.selfMs,
    gatewayProcesses: m.processes[0], postgresProcesses: usePg ? m.processes[1] : null,
  };
}

/**
 * ACME full flows through runLoad. runLoad opens its own single-process meter by reading `server.pid` once,
 * right after the warm-up; the `pid` getter below starts the tree meter at that same instant, so both windows
 * are exactly the measured orders (account creation and warm-up excluded).
 */
export async function measureAcme(server: ScaleServer, s: LoadSettings): Promise<Measured> {
  const usePg = server.store === "postgres";
  const meter = new TreeMeter([server.pid, usePg ? s.postmasterPid : undefined]);
  const bench: BenchServer = {
    name: "gateway", directoryUrl: `${server.https}/acme/directory`, caPem: server.rootPem,
    get pid() {
      meter.start();
      return server.pid;
    },
    stop: () => server.stop(),
  };
  const r = await runLoad(bench, {
    clients: s.acmeClients, orders: s.acmeOrders, warmupOrders: s.acmeWarmupOrders, pollMs: 5, requestTimeoutMs: s.requestTimeoutMs, gate: false,
  });
  return finish(meter.stop(), { ops: r.certs, seconds: r.seconds, latenciesMs: r.latenciesMs, errors: r.errors + (r.stalled ? 1 : 0), firstErrors: r.firstErrors }, usePg);
}

/**
 * EST simpleenroll through runEstLoad (time windows). Its window opens warmupSeconds after the call and closes
 * `seconds` later, both on timers set at the call: the tree meter uses timers set at the same instant.
 */
export async function measureEst(server: ScaleServer, s: LoadSettings, bodies: Buffer[], more: () => Buffer): Promise<Measured> {
  const usePg = server.store === "postgres";
  const meter = new TreeMeter([server.pid, usePg ? s.postmasterPid : undefined]);
  let result: ReturnType<TreeMeter["stop"]> | undefined;
  const timers = [
    setTimeout(() => meter.start(), s.warmupSeconds * 1000),
    setTimeout(() => (result = meter.stop()), (s.warmupSeconds + s.seconds) * 1000),
  ];
  const r = await runEstLoad({
    url: `${server.https}/.well-known/est/simpleenroll`, rootPem: server.rootPem, user: server.est!.user, password: server.est!.password,
    concurrency: s.concurrency, warmupSeconds: s.warmupSeconds, seconds: s.seconds, requestTimeoutMs: s.requestTimeoutMs, bodies, more,
  });
  for (const t of timers) clearTimeout(t);
  return finish(result ?? meter.stop(), { ops: r.ok, seconds: r.seconds, latenciesMs: r.latenciesMs, errors: r.errors, firstErrors: r.firstErrors }, usePg);
}

/** SCEP PKCSReq through runWindow: a warm-up window (CSRs made as needed), then the measured one from the pool. */
export async function measureScep(server: ScaleServer, s: LoadSettings, id: ScepClientIdentity, pool: CsrPool, tag: string): Promise<Measured> {
  const usePg = server.store === "postgres";
  const agents: Agent[] = makeAgents(s.concurrency);
  const sockets = new Set<Socket>();
  try {
    const svc = await discover(`${server.http}/scep`, agents[0], s.requestTimeoutMs);
    const common = { svc, id, agents, sockets, requestTimeoutMs: s.requestTimeoutMs };
    let w = 0;
    const warm = await runWindow({ ...common, seconds: s.warmupSeconds, take: () => scepCsr(id, enrollmentName(`w-${tag}`, w++), server.scepChallenge!) });
    let next = 0;
    let inline = 0;
    const take = () => pool.at(next++) ?? scepCsr(id, enrollmentName(`x-${tag}`, inline++), server.scepChallenge!);
    const meter = new TreeMeter([server.pid, usePg ? s.postmasterPid : undefined]);
    let result: ReturnType<TreeMeter["stop"]> | undefined;
    // runWindow reads the server's CPU when its window closes, on a timer set at the call: the same here.
    const timer = setTimeout(() => (result = meter.stop()), s.seconds * 1000);
    const r = await runWindow({ ...common, seconds: s.seconds, take });
    clearTimeout(timer);
    if (inline) console.error(`scale bench scep ${tag}: the CSR pool ran out; ${inline} CSRs made during the window`);
    return finish(result ?? meter.stop(), {
      ops: r.ok, seconds: r.seconds, latenciesMs: r.latenciesMs, errors: r.errors + warm.errors, firstErrors: [...warm.firstErrors, ...r.firstErrors].slice(0, 5),
    }, usePg);
  } finally {
    for (const a of agents) a.destroy();
  }
}
