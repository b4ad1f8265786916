import { generateKeyPairSync } from "node:crypto";
import { AcmeClient, AcmeTimeout, type IssueOptions } from "../helpers/acme-client.js";
import type { BenchServer } from "./acme-servers.js";
import { CpuMeter } from "./cpu.js";
import { csrForName } from "./csr-fast.js";
import type { Http01Answers } from "./http01-answers.js";
import { PhaseGate } from "./phase-gate.js";

export interface LoadOptions {
  clients: number;
  /** Full flows before the meter starts (JIT, statement caches, TLS sessions). */
  warmupOrders: number;
  /** Full flows measured: the same count on every server. */
  orders: number;
  /** Poll interval, also the cap on Retry-After: the bench measures the server's work, not its advice. */
  pollMs: number;
  /** A request unanswered this long means the server has stalled. */
  requestTimeoutMs: number;
  /** Never run a newOrder and an authorization fetch at once, across clients (see phase-gate.ts). */
  gate: boolean;
  /** Where key authorizations are published; absent when validation is off on both sides. */
  answers?: Http01Answers;
}

export interface LoadResult {
  /** Certificates issued in the measured phase. */
  certs: number;
  /** Wall time of the measured phase. */
  seconds: number;
  /** Server CPU (utime + stime from /proc) over the measured phase. */
  serverCpuMs: number;
  /** Full-flow time of each of those certificates. */
  latenciesMs: number[];
  /** Every failed flow, warm-up included. */
  errors: number;
  /** Set when a request went unanswered. */
  stalled: boolean;
  firstErrors: string[];
}

/**
 * N clients, one account each (made before timing), taking full flows
 * (newOrder → authz → challenge → poll → finalize → poll → download) from a shared count until
 * it runs out: first the warm-up count, then, with the server's CPU meter running, the measured
 * count. Each client's CSR key is its own P-256 key (never the account key), reused across its
 * orders so the load generator stays cheap. Polls go to the challenge, so the authorization is
 * fetched once per order. The first unanswered request stops the run.
 */
export async function runLoad(server: BenchServer, o: LoadOptions): Promise<LoadResult> {
  const made = await Promise.allSettled(Array.from({ length: o.clients }, async () => {
    const c = await AcmeClient.create({ directoryUrl: server.directoryUrl, caPem: server.caPem, timeoutMs: o.requestTimeoutMs });
    const res = await c.newAccount({ termsOfServiceAgreed: true });
    if (res.status !== 201) {
      c.close();
      throw new Error(`${server.name} newAccount: HTTP ${res.status} ${res.body.toString().slice(0, 300)}`);
    }
    return c;
  }));
  const clients = made.flatMap((m) => (m.status === "fulfilled" ? [m.value] : []));
  const failed = made.find((m): m is PromiseRejectedResult => m.status === "rejected");
  if (failed) {
    for (const c of clients) c.close();
    throw failed.reason;
  }
  const firstErrors: string[] = [];
  let errors = 0;
  let stalled = false;
  const answers = o.answers;
  const gate = o.gate ? new PhaseGate<"newOrder" | "authorization">() : undefined;
  const flows = clients.map((): IssueOptions => ({
    csrKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey,
    csr: (key, ids) => csrForName(key, ids[0].value),
    poll: { intervalMs: o.pollMs, maxWaitMs: o.pollMs, timeoutMs: 30_000 },
    pollChallenge: true,
    around: gate && ((step, run) => gate.run(step, run)),
    publish: answers && ((token, keyAuth, id) => answers.set(token, keyAuth, id.value)),
    seen: answers && ((token) => answers.seen(token)),
    unpublish: answers && ((token) => answers.delete(token)),
  }));
  let serial = 0;
  /** Runs `count` flows over all clients; returns each successful flow's time. */
  const phase = async (label: string, count: number): Promise<number[]> => {
    const latencies: number[] = [];
    let left = count;
    await Promise.all(clients.map(async (c, i) => {
      while (left > 0 && !stalled) {
        left--;
        const t0 = performance.now();
        try {
          await c.issue([{ type: "dns", value: `c${i}-${label}${serial++}.bench.test` }], flows[i]);
          latencies.push(performance.now() - t0);
        } catch (e) {
          errors++;
          if (e instanceof AcmeTimeout) stalled = true;
          if (firstErrors.length < 5) firstErrors.push((e as Error).message);
        }
      }
    }));
    return latencies;
  };
  try {
    await phase("w", o.warmupOrders);
    const meter = new CpuMeter(server.pid);
    const t0 = performance.now();
    const latenciesMs = await phase("m", o.orders);
    const seconds = (performance.now() - t0) / 1000;
    const { cpuMs } = meter.stop(latenciesMs.length);
    return { certs: latenciesMs.length, seconds, serverCpuMs: cpuMs, latenciesMs, errors, stalled, firstErrors };
  } finally {
    for (const c of clients) c.close();
  }
}
