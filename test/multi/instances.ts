import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { ROOT } from "../helpers/gateway.js";
import { tempDir } from "../helpers/openssl.js";
import { freePort } from "../helpers/ports.js";
import { RoundRobinProxy } from "./proxy.js";

/** One `gateway serve` process of a deployment. */
export interface Instance {
  name: string;
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  httpsPort: number;
  httpPort: number;
  /** Direct URLs of this instance (bypassing the load balancer). */
  https: string;
  http: string;
  logPath: string;
  configPath: string;
}

/**
 * Several instances as operators deploy them: one PostgreSQL database, the same configuration and CA material (a
 * shared data dir here; an HSM or a copy in production), each on its own ports, one round-robin load balancer in
 * front whose address is every instance's externalUrl (ACME signs URLs with it; certificates carry it).
 */
export interface Deployment {
  dir: string;
  dataDir: string;
  databaseUrl: string;
  instances: Instance[];
  proxy: { https: RoundRobinProxy; http: RoundRobinProxy };
  /** The load balancer's URLs (the external URLs). */
  https: string;
  http: string;
  rootPem: string;
  adminToken(): string;
  /** Starts one more instance (or restarts a stopped one under its old name and ports). */
  start(name: string): Promise<Instance>;
  stop(): Promise<void>;
}

export interface DeploymentOptions {
  databaseUrl: string;
  instances: number;
  /** Protocol sections and other config keys, the same on every instance. */
  sections?: Record<string, unknown>;
  env?: Record<string, string>;
}

async function waitHealthy(i: Instance, timeoutMs = 90_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let exited = false;
  void i.exited.then(() => { exited = true; });
  for (;;) {
    if (exited) throw new Error(`${i.name} exited before it was ready:\n${readFileSync(i.logPath, "utf8").slice(-3000)}`);
    try {
      const r = await fetch(`${i.http}/readyz`);
      if (r.status === 200) return;
    } catch { /* not listening yet */ }
    if (Date.now() > until) throw new Error(`${i.name} not ready after ${timeoutMs} ms:\n${readFileSync(i.logPath, "utf8").slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

export async function startDeployment(o: DeploymentOptions): Promise<Deployment> {
  const dir = tempDir("deploy-");
  const dataDir = join(dir, "data");
  const ports = new Map<string, { https: number; http: number }>();
  const names = Array.from({ length: o.instances }, (_, k) => String.fromCharCode(97 + k));
  for (const n of names) ports.set(n, { https: await freePort(), http: await freePort() });
  const httpsLb = new RoundRobinProxy(names.map((n) => ({ host: "127.0.0.1", port: ports.get(n)!.https })));
  const httpLb = new RoundRobinProxy(names.map((n) => ({ host: "127.0.0.1", port: ports.get(n)!.http })));
  const [lbHttps, lbHttp] = [await httpsLb.listen(), await httpLb.listen()];
  const external = { https: `https://localhost:${lbHttps}`, http: `http://127.0.0.1:${lbHttp}` };
  const instances: Instance[] = [];

  const start = async (name: string): Promise<Instance> => {
    const p = ports.get(name) ?? { https: await freePort(), http: await freePort() };
    ports.set(name, p);
    const configPath = join(dir, `${name}.yaml`);
    writeFileSync(configPath, stringify({
      dataDir, profilesDir: join(ROOT, "profiles"),
      listen: { https: { host: "127.0.0.1", port: p.https }, http: { host: "127.0.0.1", port: p.http } },
      externalUrl: external,
      store: { kind: "postgres", url: { env: "GATEWAY_TEST_DATABASE_URL" }, poolSize: 4 },
      log: { level: "info" },
      ...o.sections,
    }));
    const logPath = join(dir, `${name}.log`);
    const fd = openSync(logPath, "a");
    const proc = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "serve", "--config", configPath], {
      cwd: ROOT, stdio: ["ignore", fd, fd], env: { ...process.env, NODE_ENV: "production", GATEWAY_TEST_DATABASE_URL: o.databaseUrl, ...o.env },
    });
    closeSync(fd);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once("exit", (code, signal) => r({ code, signal })));
    const inst: Instance = {
      name, proc, exited, httpsPort: p.https, httpPort: p.http, https: `https://localhost:${p.https}`, http: `http://127.0.0.1:${p.http}`, logPath, configPath,
    };
    await waitHealthy(inst);
    const old = instances.findIndex((x) => x.name === name);
    if (old >= 0) instances[old] = inst; else instances.push(inst);
    return inst;
  };

  // The first instance makes the development PKI in the shared data dir; the others start once it exists.
  await start(names[0]);
  await Promise.all(names.slice(1).map(start));
  return {
    dir, dataDir, databaseUrl: o.databaseUrl, instances, proxy: { https: httpsLb, http: httpLb },
    https: external.https, http: external.http, rootPem: join(dataDir, "cas", "dev-root", "cert.pem"),
    adminToken: () => readFileSync(join(dataDir, "admin-token"), "utf8").trim(),
    start,
    async stop() {
      for (const i of instances) if (i.proc.exitCode === null && i.proc.signalCode === null) i.proc.kill("SIGTERM");
      await Promise.all(instances.map((i) => Promise.race([i.exited, new Promise((r) => setTimeout(r, 15_000))])));
      for (const i of instances) if (i.proc.exitCode === null && i.proc.signalCode === null) i.proc.kill("SIGKILL");
      await Promise.all([httpsLb.close(), httpLb.close()]);
    },
  };
}
