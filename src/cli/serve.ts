import cluster from "node:cluster";
import { availableParallelism } from "node:os";
import type { Logger } from "pino";
import type { GatewayConfig } from "../config/schema.js";
import { openGateway, prepareGateway } from "../gateway.js";
import { createLogger } from "../log.js";
import { servePreflight } from "./serve-preflight.js";
import { clusterWideMetrics, isReadyMessage, superviseWorkers, WORKER_SLOT_ENV, type ReadyMessage } from "../server/cluster.js";
import { exitOnSignals, type DrainResult } from "../server/shutdown.js";

export const SERVE_USAGE = "serve [--workers N|auto]      start the gateway (HTTPS 8443, HTTP 8080 by default); N worker processes share the listeners";

/**
 * The worker count: `--workers` wins over the config's `workers`; "auto" is one per core. Undefined for
 * anything else than a whole number from 1 to 1024 (a usage error).
 */
export function resolveWorkers(flag: string | boolean | undefined, fromConfig: GatewayConfig["workers"]): number | undefined {
  if (typeof flag === "boolean") return undefined; // `--workers` without a value
  const v = (flag ?? String(fromConfig)).trim();
  if (v === "auto") return availableParallelism();
  if (!/^[1-9][0-9]{0,3}$/.test(v) || Number(v) > 1024) return undefined;
  return Number(v);
}

/** `gateway serve`: -1 keeps the process running (one process, or a worker); a primary resolves with its exit code. */
export async function serveCommand(config: GatewayConfig, source: string, workersFlag: string | boolean | undefined): Promise<number> {
  if (cluster.isWorker) return serveWorker(config, source);
  const workers = resolveWorkers(workersFlag, config.workers);
  if (workers === undefined) {
    console.error(`error: --workers must be a whole number from 1 to 1024 or "auto" (got ${JSON.stringify(workersFlag ?? config.workers)})`);
    return 2;
  }
  if (!servePreflight(config)) return 2;
  if (workers === 1) return serveInProcess(config, source, createLogger(config.log.level));
  return servePrimary(config, workers);
}

interface Started {
  banner: string;
  stop(): Promise<DrainResult>;
}

/** Opens the gateway, binds both listeners and starts the schedules: what one process of `serve` runs. */
async function startGateway(config: GatewayConfig, source: string, log: Logger): Promise<Started> {
  const gw = await openGateway(config, log);
  const { startServers } = await import("../server/listen.js");
  const { acmeDirectoryUrls } = await import("../../protocols/acme/index.js");
  const { estUrls } = await import("../../protocols/est/index.js");
  const { scepUrls } = await import("../../protocols/scep/index.js");
  const { cmpUrls } = await import("../../protocols/cmp/index.js");
  const servers = await startServers(gw);
  const https = `https://localhost:${servers.httpsPort}`;
  const http = `http://localhost:${servers.httpPort}`;
  const banner = [
    `enrollment gateway ready (config: ${source}, data: ${gw.paths.data})`,
    ...acmeDirectoryUrls(gw).map((u) => `  ACME directory ${u}`),
    ...estUrls(gw).map((u) => `  EST            ${u}`),
    ...scepUrls(gw).map((u) => `  SCEP           ${u}`),
    ...cmpUrls(gw).map((u) => `  CMP            ${u}`),
    `  console        ${https}/console/   (sign in with an admin token)`,
    `  admin API      ${https}/admin/api/v1   (Authorization: Bearer <token from ${gw.paths.adminToken}${gw.createdAdminToken ? ", created now" : ""}>)`,
    `  health         ${https}/healthz  ${http}/healthz  /readyz`,
    `  metrics        ${http}/metrics`,
    ...gw.cas.all.map((c) => `  CRL ${c.name.padEnd(10)} ${http}/crl/${c.name}.crl     certificate ${http}/ca/${c.name}.crt`),
    `  OCSP           ${http}/ocsp`,
    `  TLS cert       ${gw.paths.tls.cert}   root CA for clients: ${http}/ca/${gw.cas.all.find((c) => c.role === "root")?.name ?? gw.cas.issuing[0].name}.crt`,
  ].join("\n");
  gw.lifecycle.start(config.lifecycle.scanIntervalMinutes, (e) => gw.log.error({ err: (e as Error).message }, "renewal scan failed"));
  gw.retention.start((e) => gw.log.error({ err: (e as Error).message }, "inventory archiving failed"));
  if (cluster.isWorker) {
    // Each worker's series stay apart under a `worker` label; a scrape of any worker returns all of them.
    gw.metrics.registry.setDefaultLabels({ worker: process.env[WORKER_SLOT_ENV] ?? String(cluster.worker?.id ?? 0) });
    clusterWideMetrics(gw.metrics.registry, log);
  }
  return {
    banner,
    async stop() {
      const drained = await servers.close();
      await gw.close();
      return drained;
    },
  };
}

async function serveInProcess(config: GatewayConfig, source: string, log: Logger): Promise<number> {
  const s = await startGateway(config, source, log);
  console.error(s.banner); // stderr: stdout carries the JSON log stream
  exitOnSignals(s.stop, log);
  return -1;
}

/** A cluster worker: the same gateway on listeners shared through the primary; it reports ready over IPC. */
async function serveWorker(config: GatewayConfig, source: string): Promise<number> {
  const log = createLogger(config.log.level).child({ pid: process.pid, worker: Number(process.env[WORKER_SLOT_ENV] ?? 0) });
  const s = await startGateway(config, source, log);
  exitOnSignals(s.stop, log);
  const ready: ReadyMessage = { gateway: "ready", banner: s.banner };
  process.send?.(ready);
  return -1;
}

/**
 * The primary does no request work. It makes the first-start material (database schema, dev PKI, TLS
 * certificate, admin token, seal key) once, before any worker exists, so workers only read it; then it
 * supervises the workers and exits when they have.
 */
async function servePrimary(config: GatewayConfig, workers: number): Promise<number> {
  const log = createLogger(config.log.level).child({ pid: process.pid, role: "primary" });
  const createdAdminToken = await prepareGateway(config, log);
  let pids: number[] = [];
  return superviseWorkers({
    workers, log,
    onReady(m: ReadyMessage, all: number[]) {
      pids = all;
      const banner = createdAdminToken ? m.banner.replace(/(Authorization: Bearer <token from [^>]*)>/, "$1, created now>") : m.banner;
      console.error(`${banner}\n  workers        ${workers} processes (pids ${pids.join(", ")}), primary pid ${process.pid}`);
    },
    isReady: isReadyMessage,
  }).exited;
}
