import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { BenchServer, BenchServerOptions } from "./acme-servers.js";
import { probe, waitUntil } from "./child.js";
import { launchGateway } from "./gateway-process.js";

/**
 * The gateway as an operator runs it: `gateway serve` in its own process with a fresh SQLite data
 * dir and dev PKI, http-01 pointed at the load generator, rate limits out of the way.
 */
export async function startGateway(o: BenchServerOptions): Promise<BenchServer> {
  const gw = await launchGateway("bench-gw-", {
    acme: {
      validation: { httpPort: o.http01Port, allow: ["127.0.0.0/8"], deny: [], hostOverrides: { "*.bench.test": "127.0.0.1" }, insecureSkipValidation: o.skipValidation },
      rateLimits: { perAccount: { perSecond: 100_000, burst: 100_000 }, perAddress: { perSecond: 100_000, burst: 100_000 } },
    },
  });
  const { child, dataDir, stop } = gw;
  // JWS `url`s are checked against the external URLs, which launchGateway sets to the addresses the clients use.
  const base = gw.https;
  try {
    // Readiness only: the dev root that signs this listener is read once it answers.
    await waitUntil("gateway /healthz", child, async () => (await probe(`${base}/healthz`, { insecure: true })) === 200, 60_000);
    const rootPath = join(dataDir, "cas", "dev-root", "cert.pem");
    if (!existsSync(rootPath)) throw new Error(`gateway is up but its dev root ${rootPath} is missing (devPki disabled or renamed?)`);
    const caPem = readFileSync(rootPath, "utf8");
    const directoryUrl = `${base}/acme/directory`;
    const status = await probe(directoryUrl, { caPem });
    if (status === 404) throw new Error(`gateway answers /healthz but ${directoryUrl} is 404: its ACME server (protocols/acme) is not mounted or not enabled`);
    if (status !== 200) throw new Error(`gateway ACME directory ${directoryUrl}: ${status === undefined ? "no answer (TLS or connection error)" : `HTTP ${status}`}\n${child.tail()}`);
    if (child.proc.pid === undefined) throw new Error(`gateway has no pid: ${child.failure()}`);
    return { name: "gateway", directoryUrl, caPem, pid: child.proc.pid, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
