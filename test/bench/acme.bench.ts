// npm run bench:acme — full ACME flows per second against the gateway and against Pebble in the
// same run, first with real http-01 validation answered by the load generator, then with
// validation off on both sides. One JSON line per case on stdout, then one comparison line per
// mode (ratio = gateway / Pebble certificates per second); errors go to stderr as well.
//
// Env: BENCH_ACME_CLIENTS (16), BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (2), BENCH_HTTP01_PORT (5002),
//      BENCH_ACME_SERVERS=pebble|gateway|both (both), BENCH_POLL_MS (5), BENCH_REQUEST_TIMEOUT_MS (10000),
//      BENCH_GATE (1: newOrder and authorization fetches never overlap across clients, which Pebble
//      needs, see phase-gate.ts; 0 to measure the gateway without it), BENCH_GATEWAY_NODE_OPTIONS.
import { runLoad, type LoadResult } from "./acme-load.js";
import { startGateway, startPebble, type BenchServer, type BenchServerOptions } from "./acme-servers.js";
import { Http01Answers } from "./http01-answers.js";
import { numberEnv, percentile, round1 } from "./stats.js";

type ServerName = BenchServer["name"];
const START: Record<ServerName, (o: BenchServerOptions) => Promise<BenchServer>> = { gateway: startGateway, pebble: startPebble };
const MODES = [{ validation: "http-01", skip: false }, { validation: "off", skip: true }] as const;

function serversEnv(): ServerName[] {
  const v = process.env.BENCH_ACME_SERVERS ?? "both";
  if (v === "both") return ["gateway", "pebble"];
  if (v === "gateway" || v === "pebble") return [v];
  throw new Error(`BENCH_ACME_SERVERS=${v}: expected pebble, gateway or both`);
}


/** Prints the case line; returns certificates per second, or null when nothing was measured. */
function report(server: ServerName, validation: string, clients: number, gate: boolean, r: LoadResult): number | null {
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  const certsPerSecond = r.seconds > 0 ? r.certs / r.seconds : null;
  console.log(JSON.stringify({
    bench: "acme", server, validation, clients, gate, seconds: round1(r.seconds), certs: r.certs, certsPerSecond: round1(certsPerSecond),
    p50ms: round1(percentile(sorted, 50)), p99ms: round1(percentile(sorted, 99)), errors: r.errors,
    ...(r.stalledAfterSeconds !== undefined && { stalledAfterSeconds: r.stalledAfterSeconds }),
  }));
  for (const e of r.firstErrors) console.error(`acme bench ${server}/${validation} error: ${e}`);
  if (r.stalledAfterSeconds !== undefined) {
    const hint = server === "pebble" && !gate ? " (Pebble deadlocks when newOrder and authorization fetches overlap: keep BENCH_GATE=1)" : "";
    console.error(`acme bench ${server}/${validation}: stopped answering ${r.stalledAfterSeconds} s into the measured window; the rate is taken over the time before${hint}`);
  }
  return certsPerSecond;
}

async function main(): Promise<number> {
  const clients = numberEnv("BENCH_ACME_CLIENTS", 16, 1);
  const seconds = numberEnv("BENCH_SECONDS", 10, 0.1);
  const warmupSeconds = numberEnv("BENCH_WARMUP_SECONDS", 2, 0);
  const http01Port = numberEnv("BENCH_HTTP01_PORT", 5002, 1);
  const pollMs = numberEnv("BENCH_POLL_MS", 5, 0);
  const requestTimeoutMs = numberEnv("BENCH_REQUEST_TIMEOUT_MS", 10_000, 100);
  const gate = process.env.BENCH_GATE !== "0";
  const servers = serversEnv();
  const answers = await Http01Answers.listen(http01Port);
  let failed = false;
  try {
    for (const mode of MODES) {
      const rate: Partial<Record<ServerName, number | null>> = {};
      for (const name of servers) {
        let server: BenchServer | undefined;
        try {
          server = await START[name]({ http01Port, skipValidation: mode.skip });
          const r = await runLoad(server, { clients, seconds, warmupSeconds, pollMs, requestTimeoutMs, gate, answers: mode.skip ? undefined : answers });
          rate[name] = report(name, mode.validation, clients, gate, r);
        } catch (e) {
          // A server that cannot be measured is a failed case, not the end of the run.
          failed = true;
          const message = (e as Error).message;
          console.log(JSON.stringify({ bench: "acme", server: name, validation: mode.validation, error: message.split("\n")[0] }));
          console.error(`acme bench ${name}/${mode.validation} failed: ${message}`);
        } finally {
          await server?.stop();
        }
      }
      if (rate.gateway !== undefined && rate.pebble !== undefined) {
        const ratio = rate.gateway !== null && rate.pebble ? Math.round((rate.gateway / rate.pebble) * 100) / 100 : null;
        console.log(JSON.stringify({ bench: "acme", compare: "gateway/pebble", validation: mode.validation, clients, ratio }));
      }
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
