import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { get } from "node:https";
import { connect } from "node:net";
import { join } from "node:path";
import { expect, vi } from "vitest";
import { stringify } from "yaml";
import { ROOT } from "../helpers/gateway.js";
import { tempDir } from "../helpers/openssl.js";
import { freePort } from "../helpers/ports.js";

export const EST_USER = { name: "router1", password: "router1-Secret-pass" };

export interface GatewayProcess {
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  dir: string;
  logPath: string;
  httpsPort: number;
  httpPort: number;
  rootPem: string;
}

/** A config on free loopback ports with a temporary data dir and one EST label with a password user. */
export async function gatewayConfig(prefix: string): Promise<{ dir: string; config: string; httpsPort: number; httpPort: number }> {
  const dir = tempDir(prefix);
  const [httpsPort, httpPort] = [await freePort(), await freePort()];
  const config = join(dir, "config.yaml");
  writeFileSync(config, stringify({
    dataDir: join(dir, "data"), profilesDir: join(ROOT, "profiles"),
    listen: { https: { host: "127.0.0.1", port: httpsPort }, http: { host: "127.0.0.1", port: httpPort } },
    log: { level: "info" },
    est: { defaultLabel: "default", labels: [{ name: "default", profile: "device", auth: { users: [EST_USER] } }] },
  }));
  return { dir, config, httpsPort, httpPort };
}

/** Runs `command args` from the repository root with stdout and stderr into one log file, and waits for /healthz. */
export async function startGateway(prefix: string, command: string, args: (config: string) => string[]): Promise<GatewayProcess> {
  const c = await gatewayConfig(prefix);
  const logPath = join(c.dir, "gateway.log");
  const fd = openSync(logPath, "a");
  const proc = spawn(command, args(c.config), { cwd: ROOT, stdio: ["ignore", fd, fd], env: { ...process.env, NODE_ENV: "production" } });
  closeSync(fd);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once("exit", (code, signal) => r({ code, signal })));
  const g: GatewayProcess = { proc, exited, dir: c.dir, logPath, httpsPort: c.httpsPort, httpPort: c.httpPort, rootPem: join(c.dir, "data", "cas", "dev-root", "cert.pem") };
  await vi.waitFor(async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`gateway exited:\n${readFileSync(logPath, "utf8")}`);
    const r = await fetch(`http://127.0.0.1:${c.httpPort}/healthz`);
    expect(r.status).toBe(200);
  }, { timeout: 120_000, interval: 100 });
  return g;
}

export function logLines(g: GatewayProcess): Array<Record<string, unknown>> {
  return readFileSync(g.logPath, "utf8").split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Resolves with the connect error code (ECONNREFUSED once the listener is closed), or "connected". */
export function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => { s.destroy(); resolve("connected"); });
    s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** Processes alive now (zombies count as gone), with their parent pid, from /proc. */
function processTable(): Map<number, number> {
  const table = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // state, ppid, …: after the command name
      if (fields[0] !== "Z") table.set(Number(name), Number(fields[1]));
    } catch {
      // gone while reading
    }
  }
  return table;
}

/** `pid` and all its descendants that are alive now. */
export function processTree(pid: number): number[] {
  const table = processTable();
  const tree = table.has(pid) ? [pid] : [];
  for (let i = 0; i < tree.length; i++) for (const [child, parent] of table) if (parent === tree[i]) tree.push(child);
  return tree;
}

export function alive(pids: number[]): number[] {
  const table = processTable();
  return pids.filter((p) => table.has(p));
}

/** Resident set size in KiB summed over `pids` (from /proc/<pid>/status). */
export function rssKiB(pids: number[]): number {
  let sum = 0;
  for (const p of pids) {
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/status`, "utf8"));
      sum += m ? Number(m[1]) : 0;
    } catch {
      // gone
    }
  }
  return sum;
}

/** GET over the gateway's HTTPS listener (its development certificate: not verified here). */
export function httpsGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path, rejectUnauthorized: false, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d)).once("end", () => resolve({ status: res.statusCode ?? 0, body }));
    }).once("error", reject);
  });
}
