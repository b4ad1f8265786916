// npm run bench (ACME part) — full ACME flows per second against the gateway and against Pebble in the
// same run, with real http-01 validation answered by the load generator, then with validation off on both.
// One JSON line per case, then one comparison line per mode with ratio = gateway / Pebble.
import { runLoad, Http01Answers, type LoadResult } from "./acme-load.js";
import { startGateway, startPebble, type BenchServer } from "./acme-servers.js";

const CLIENTS = Number(process.env.BENCH_ACME_CLIENTS ?? 16);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const HTTP01_PORT = Number(process.env.BENCH_HTTP01_PORT ?? 5002);
const SERVERS = (process.env.BENCH_ACME_SERVERS ?? "both") === "both" ? ["gateway", "pebble"] : [process.env.BENCH_ACME_SERVERS!];

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
}

function line(server: string, validation: string, r: LoadResult): Record<string, unknown> {
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  const row = {
    bench: "acme", server, validation, clients: CLIENTS, seconds: r.seconds, certs: r.certs,
    certsPerSecond: Math.round((r.certs / r.seconds) * 10) / 10,
    p50ms: Math.round(percentile(sorted, 50) * 10) / 10, p99ms: Math.round(percentile(sorted, 99) * 10) / 10, errors: r.errors,
  };
  console.log(JSON.stringify(row));
  for (const e of r.firstErrors) console.error(`  ${server}/${validation} error: ${e}`);
  return row;
}

async function main(): Promise<void> {
  const answers = await Http01Answers.listen(HTTP01_PORT);
  try {
    for (const skip of [false, true]) {
      const mode = skip ? "off" : "http-01";
      const rows: Record<string, Record<string, unknown>> = {};
      for (const name of SERVERS) {
        const start = name === "gateway" ? startGateway : startPebble;
        let server: BenchServer | undefined;
        try {
          server = await start({ http01Port: HTTP01_PORT, skipValidation: skip });
          rows[name] = line(name, mode, await runLoad(server, { clients: CLIENTS, seconds: SECONDS, warmupSeconds: WARMUP, answers, tag: `${name}-${mode}` }));
        } finally {
          server?.stop();
          await new Promise((r) => setTimeout(r, 300));
        }
      }
      if (rows.gateway && rows.pebble) {
        const ratio = Number(rows.gateway.certsPerSecond) / Number(rows.pebble.certsPerSecond);
        console.log(JSON.stringify({ bench: "acme", compare: "gateway/pebble", validation: mode, ratio: Math.round(ratio * 100) / 100 }));
      }
    }
  } finally {
    await answers.close();
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
