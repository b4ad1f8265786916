import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import type { BenchServer, BenchServerOptions } from "./acme-servers.js";
import { Child, freePort, makeTempDir, probe, removeTempDir, waitUntil } from "./child.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * The gateway as an operator runs it: `gateway serve` in its own process with a fresh SQLite data
 * dir and dev PKI, http-01 pointed at the load generator, rate limits out of the way.
 */
export async function startGateway(o: BenchServerOptions): Promise<BenchServer> {
  const dir = makeTempDir("bench-gw-");
  const dataDir = join(dir, "data");
  const [httpsPort, httpPort] = [await freePort(), await freePort()];
  const base = `https://127.0.0.1:${httpsPort}`;
  const configPath = join(dir, "config.yaml");
  writeFileSync(configPath, stringify({
    dataDir, profilesDir: join(ROOT, "profiles"),
    listen: { https: { host: "127.0.0.1", port: httpsPort }, http: { host: "127.0.0.1", port: httpPort } },
    // JWS `url`s are checked against these, so they must be the addresses the clients use.
    externalUrl: { https: base, http: `http://127.0.0.1:${httpPort}` },
    log: { level: "warn" },
    acme: {
      validation: { httpPort: o.http01Port, allow: ["127.0.0.0/8"], deny: [], hostOverrides: { "*.bench.test": "127.0.0.1" }, insecureSkipValidation: o.skipValidation },
      rateLimits: { perAccount: { perSecond: 100_000, burst: 100_000 }, perAddress: { perSecond: 100_000, burst: 100_000 } },
    },
  }));
  // `node --import tsx` is what node_modules/.bin/tsx runs, minus its extra supervising process;
  // BENCH_GATEWAY_NODE_OPTIONS="--cpu-prof --cpu-prof-dir=DIR" profiles the gateway under load.
  const nodeArgs = (process.env.BENCH_GATEWAY_NODE_OPTIONS ?? "").split(" ").filter(Boolean);
  const child = Child.start("gateway", process.execPath, [...nodeArgs, "--import", "tsx", join(ROOT, "src/cli/main.ts"), "serve", "--config", configPath], {
    cwd: ROOT, logPath: join(dir, "gateway.log"), env: { ...process.env, NODE_ENV: "production" },
  });
  const stop = async () => {
    await child.stop();
    removeTempDir(dir);
  };
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
    return { name: "gateway", directoryUrl, caPem, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
