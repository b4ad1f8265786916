import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { freePort } from "../acme/challtestsrv.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface BenchServer {
  name: "gateway" | "pebble";
  directoryUrl: string;
  caPem: string;
  stop(): void;
}

async function waitFor(url: string, caPem: string, proc: ChildProcess, what: string): Promise<void> {
  const { Agent, get } = await import("node:https");
  const agent = new Agent({ ca: caPem });
  let exited = false;
  proc.once("exit", () => (exited = true));
  for (let i = 0; i < 300; i++) {
    if (exited) throw new Error(`${what} exited during start`);
    const ok = await new Promise<boolean>((r) => get(url, { agent }, (res) => { res.resume(); r(res.statusCode === 200); }).on("error", () => r(false)));
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not answer ${url}`);
}

function started(cmd: string, args: string[], env: Record<string, string>, cwd?: string): ChildProcess {
  const p = spawn(cmd, args, { env: { ...process.env, ...env }, cwd, stdio: ["ignore", "ignore", "inherit"] });
  p.once("error", (e) => console.error(`${cmd}: ${e.message} (install the Debian package that provides it)`));
  return p;
}

/** The gateway as its own process with the SQLite store, as an operator runs it. */
export async function startGateway(o: { http01Port: number; skipValidation: boolean }): Promise<BenchServer> {
  const dir = mkdtempSync(join(tmpdir(), "bench-gw-"));
  const httpsPort = await freePort();
  const httpPort = await freePort();
  writeFileSync(join(dir, "config.yaml"), JSON.stringify({
    dataDir: join(dir, "data"), profilesDir: join(ROOT, "profiles"),
    listen: { https: { host: "127.0.0.1", port: httpsPort }, http: { host: "127.0.0.1", port: httpPort } },
    externalUrl: { https: `https://127.0.0.1:${httpsPort}`, http: `http://127.0.0.1:${httpPort}` },
    log: { level: "warn" },
    acme: {
      rateLimits: {},
      validation: { httpPort: o.http01Port, allow: ["127.0.0.0/8"], deny: [], hostOverrides: { "*.bench.test": "127.0.0.1" }, insecureSkipValidation: o.skipValidation },
    },
  }));
  // BENCH_GATEWAY_NODE_OPTIONS="--cpu-prof --cpu-prof-dir=DIR" profiles the gateway under load.
  const nodeArgs = (process.env.BENCH_GATEWAY_NODE_OPTIONS ?? "").split(" ").filter(Boolean);
  const proc = started(process.execPath, [...nodeArgs, "--import", "tsx", join(ROOT, "src/cli/main.ts"), "serve", "--config", join(dir, "config.yaml")], { NODE_ENV: "production" }, ROOT);
  // The root appears on first start; the HTTPS listener answers once it exists.
  const rootPath = join(dir, "data", "cas", "dev-root", "cert.pem");
  for (let i = 0; i < 300; i++) {
    try {
      readFileSync(rootPath);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const caPem = readFileSync(rootPath, "utf8");
  const directoryUrl = `https://127.0.0.1:${httpsPort}/acme/directory`;
  await waitFor(directoryUrl, caPem, proc, "gateway");
  return { name: "gateway", directoryUrl, caPem, stop: () => proc.kill("SIGTERM") };
}

/** Pebble (Debian package `pebble`) with pebble-challtestsrv as its DNS, no sleeps, no nonce rejection. */
export async function startPebble(o: { http01Port: number; skipValidation: boolean }): Promise<BenchServer> {
  const dir = mkdtempSync(join(tmpdir(), "bench-pebble-"));
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
    "-days", "2", "-subj", "/CN=pebble", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], { stdio: "ignore" });
  const port = await freePort();
  const dnsPort = await freePort();
  const mgmt = await freePort();
  const chall = started("pebble-challtestsrv", ["-dns01", `127.0.0.1:${dnsPort}`, "-management", `127.0.0.1:${await freePort()}`, "-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv6", ""], {});
  writeFileSync(join(dir, "pebble.json"), JSON.stringify({
    pebble: {
      listenAddress: `127.0.0.1:${port}`, managementListenAddress: `127.0.0.1:${mgmt}`, certificate: join(dir, "cert.pem"), privateKey: join(dir, "key.pem"),
      httpPort: o.http01Port, tlsPort: await freePort(), ocspResponderURL: "", externalAccountBindingRequired: false,
    },
  }));
  const env: Record<string, string> = { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0", PEBBLE_AUTHZREUSE: "0" };
  if (o.skipValidation) env.PEBBLE_VA_ALWAYS_VALID = "1";
  const proc = started("pebble", ["-config", join(dir, "pebble.json"), "-dnsserver", `127.0.0.1:${dnsPort}`], env);
  const caPem = readFileSync(join(dir, "cert.pem"), "utf8");
  const directoryUrl = `https://127.0.0.1:${port}/dir`;
  await waitFor(directoryUrl, caPem, proc, "pebble");
  return { name: "pebble", directoryUrl, caPem, stop: () => { proc.kill(); chall.kill(); } };
}
