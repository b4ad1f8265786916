import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { Child, freePort, makeTempDir, removeTempDir } from "./child.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface GatewayProcess {
  child: Child;
  dir: string;
  dataDir: string;
  https: string;
  http: string;
  stop(): Promise<void>;
}

export interface LaunchOptions {
  /** Script run in place of src/cli/main.ts (it must hand over to the CLI with the same arguments). */
  entry?: string;
  nodeArgs?: string[];
  /** An IPC channel to the child. */
  ipc?: boolean;
}

/**
 * `gateway serve` as an operator runs it, in its own process: a fresh data dir (SQLite, dev PKI), both
 * listeners on free loopback ports, log level warn, plus the protocol sections given. Secrets go in `env`,
 * so they are in neither the config file nor the command line. BENCH_GATEWAY_NODE_OPTIONS (e.g.
 * "--cpu-prof --cpu-prof-dir=DIR") is passed to node.
 */
export async function launchGateway(prefix: string, sections: Record<string, unknown>, env: Record<string, string> = {}, o: LaunchOptions = {}): Promise<GatewayProcess> {
  const dir = makeTempDir(prefix);
  const dataDir = join(dir, "data");
  const [httpsPort, httpPort] = [await freePort(), await freePort()];
  const https = `https://127.0.0.1:${httpsPort}`;
  const http = `http://127.0.0.1:${httpPort}`;
  const configPath = join(dir, "config.yaml");
  writeFileSync(configPath, stringify({
    dataDir, profilesDir: join(ROOT, "profiles"),
    listen: { https: { host: "127.0.0.1", port: httpsPort }, http: { host: "127.0.0.1", port: httpPort } },
    externalUrl: { https, http },
    log: { level: "warn" },
    ...sections,
  }));
  const nodeArgs = (process.env.BENCH_GATEWAY_NODE_OPTIONS ?? "").split(" ").filter(Boolean);
  const child = Child.start("gateway", process.execPath, [...nodeArgs, ...(o.nodeArgs ?? []), "--import", "tsx", o.entry ?? join(ROOT, "src/cli/main.ts"), "serve", "--config", configPath], {
    cwd: ROOT, logPath: join(dir, "gateway.log"), env: { ...process.env, NODE_ENV: "production", ...env }, ipc: o.ipc,
  });
  return {
    child, dir, dataDir, https, http,
    async stop() {
      await child.stop();
      removeTempDir(dir);
    },
  };
}
