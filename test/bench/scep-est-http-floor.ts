// The HTTP floor under the protocol benches: gateway server CPU per trivial request on each listener, over the
// same keep-alive connections the benches use — SCEP GetCACaps (plain HTTP: listener, express app, request
// context, SCEP router) and EST /cacerts (HTTPS: the same plus TLS records; the answer is a cached certs-only CMS).
// What a PKCSReq or simpleenroll costs above this is protocol layer plus engine.
//
//   node --import tsx test/bench/scep-est-http-floor.ts [scep|est|both]     Env: BENCH_SECONDS (6), BENCH_GATEWAY_NODE_OPTIONS.
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { processCpuMs } from "./cpu.js";
import { startEstGateway } from "./est-server.js";
import { startScepGateway } from "./scep-servers.js";
import { numberEnv } from "./stats.js";

const CLIENTS = 8;

async function load(pid: number, send: (worker: number) => Promise<void>, seconds: number): Promise<{ ops: number; cpu_ms_per_op: number }> {
  const window = async (ms: number) => {
    let n = 0;
    const end = performance.now() + ms;
    await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
      while (performance.now() < end) {
        await send(i);
        n++;
      }
    }));
    return n;
  };
  await window(1500); // warm-up
  const c0 = processCpuMs(pid);
  const ops = await window(seconds * 1000);
  return { ops, cpu_ms_per_op: Math.round(((processCpuMs(pid) - c0) / ops) * 1000) / 1000 };
}

function get(req: typeof httpRequest | typeof httpsRequest, url: string, agent: HttpAgent): Promise<void> {
  return new Promise((resolve, reject) => {
    const q = req(url, { agent }, (r) => {
      r.resume();
      r.on("end", () => (r.statusCode === 200 ? resolve() : reject(new Error(`${url}: HTTP ${r.statusCode}`))));
    });
    q.on("error", reject);
    q.end();
  });
}

async function main(): Promise<void> {
  const which = process.argv[2] ?? "both";
  const seconds = numberEnv("BENCH_SECONDS", 6, 0.5);
  if (which !== "est") {
    const s = await startScepGateway("floor-challenge-0123456789abcdef");
    try {
      const agents = Array.from({ length: CLIENTS }, () => new HttpAgent({ keepAlive: true, maxSockets: 1 }));
      console.log(JSON.stringify({ bench: "http-floor", case: "scep-getcacaps", ...(await load(s.pid, (i) => get(httpRequest, `${s.url}?operation=GetCACaps`, agents[i]), seconds)) }));
    } finally {
      await s.stop();
    }
  }
  if (which !== "scep") {
    const e = await startEstGateway();
    try {
      const agents = Array.from({ length: CLIENTS }, () => new HttpsAgent({ keepAlive: true, maxSockets: 1, ca: e.rootPem }));
      console.log(JSON.stringify({ bench: "http-floor", case: "est-cacerts", ...(await load(e.pid, (i) => get(httpsRequest, `${e.estBase}/cacerts`, agents[i]), seconds)) }));
    } finally {
      await e.stop();
    }
  }
}

main().then(() => process.exit(0), (e: unknown) => {
  console.error(`http floor bench: ${(e as Error).message ?? String(e)}`);
  process.exit(1);
});
