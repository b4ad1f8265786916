import { generateKeyPairSync } from "node:crypto";
import { AcmeClient, AcmeTimeout, type IssueOptions } from "../helpers/acme-client.js";
import type { BenchServer } from "./acme-servers.js";
import { csrForName } from "./csr-fast.js";
import type { Http01Answers } from "./http01-answers.js";
import { PhaseGate } from "./phase-gate.js";

export interface LoadOptions {
  clients: number;
  warmupSeconds: number;
  seconds: number;
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
  /** Certificates whose whole flow ended inside the measured window. */
  certs: number;
  /** Length of the measured window: BENCH_SECONDS, or less when the server stalled. */
  seconds: number;
  /** Full-flow time of each of those certificates. */
  latenciesMs: number[];
  /** Every failed flow, warm-up included. */
  errors: number;
  /** Set when a request went unanswered: the window then ends where the server stopped answering. */
  stalledAfterSeconds?: number;
  firstErrors: string[];
}

/**
 * N clients, one account each (made before timing), each looping full flows
 * (newOrder → authz → challenge → poll → finalize → poll → download) until the window closes.
 * Flows still running then finish but do not count. Each client's CSR key is its own P-256 key
 * (never the account key), reused across its orders so the load generator stays cheap.
 *
 * Polls go to the challenge, so the authorization is fetched once per order.
 * The first unanswered request stops the run: the server is taken to have stalled when that
 * request was sent, and the window is cut there rather than averaging in dead time.
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
  const done: Array<{ at: number; ms: number }> = [];
  const firstErrors: string[] = [];
  let errors = 0;
  let stalledAt: number | undefined;
  const answers = o.answers;
  const gate = o.gate ? new PhaseGate<"newOrder" | "authorization">() : undefined;
  const from = performance.now() + o.warmupSeconds * 1000;
  const to = from + o.seconds * 1000;
  try {
    await Promise.all(clients.map(async (c, i) => {
      const flow: IssueOptions = {
        csrKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey,
        csr: (key, ids) => csrForName(key, ids[0].value),
        poll: { intervalMs: o.pollMs, maxWaitMs: o.pollMs, timeoutMs: 30_000 },
        pollChallenge: true,
        around: gate && ((step, run) => gate.run(step, run)),
        publish: answers && ((token, keyAuth, id) => answers.set(token, keyAuth, id.value)),
        seen: answers && ((token) => answers.seen(token)),
        unpublish: answers && ((token) => answers.delete(token)),
      };
      for (let n = 0; performance.now() < to && stalledAt === undefined; n++) {
        const t0 = performance.now();
        try {
          await c.issue([{ type: "dns", value: `c${i}-o${n}.bench.test` }], flow);
          const t1 = performance.now();
          done.push({ at: t1, ms: t1 - t0 });
        } catch (e) {
          errors++;
          if (e instanceof AcmeTimeout) stalledAt = Math.min(stalledAt ?? Infinity, performance.now() - o.requestTimeoutMs);
          if (firstErrors.length < 5) firstErrors.push((e as Error).message);
        }
      }
    }));
  } finally {
    for (const c of clients) c.close();
  }
  const end = Math.min(to, stalledAt ?? to);
  const counted = done.filter((d) => d.at >= from && d.at <= end);
  return {
    certs: counted.length,
    seconds: Math.max(0, (end - from) / 1000),
    latenciesMs: counted.map((d) => d.ms),
    errors,
    stalledAfterSeconds: stalledAt === undefined ? undefined : Math.round(((stalledAt - from) / 1000) * 10) / 10,
    firstErrors,
  };
}
