import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type RequestListener, type Server, type ServerOptions } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { derToPem } from "../ca/authority.js";
import type { GatewayConfig } from "../config/schema.js";
import type { Gateway } from "../gateway.js";
import { heartbeat, LeasedJob } from "../lifecycle/job-lease.js";
import { buildApps, type Apps } from "./apps.js";
import { capConnectionsPerAddress, type ConnectionCap } from "./connection-guard.js";
import { drainAll, SHUTDOWN_GRACE_MS, trackRequests, type DrainResult } from "./shutdown.js";

export interface RunningServers {
  https: Server;
  http: Server;
  apps: Apps;
  httpsPort: number;
  httpPort: number;
  /** Open connections per client address on each listener. */
  connections: Record<"https" | "http", ConnectionCap>;
  /** Stops accepting, lets requests in flight finish within `graceMs`, closes every connection, stops the schedules. */
  close(graceMs?: number): Promise<DrainResult>;
}

/**
 * Slow clients (slowloris) lose their connection: headers and the whole request must arrive in time.
 * Node checks these deadlines every `connectionsCheckingInterval` (30 s by default, which let a
 * slow connection live up to 40 s), so the check runs several times per headers timeout.
 */
export function slowClientOptions(l: GatewayConfig["limits"]): ServerOptions {
  return {
    headersTimeout: l.headersTimeoutMs,
    requestTimeout: l.requestTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(l.headersTimeoutMs / 4))),
  };
}

/** OCSP, ACME and EST are served ahead of the HTTPS express app (each passes on what is not its own). */
function httpsListener(apps: Apps): RequestListener {
  const est = apps.est ? apps.est(apps.https, "https") : apps.https;
  return apps.ocsp.front("https", apps.acme ? apps.acme.front(est) : est);
}

/** OCSP, SCEP and CMP are served ahead of the plain HTTP express app. */
function httpListener(apps: Apps): RequestListener {
  const cmp = apps.cmp ? apps.cmp.front(apps.http, "http") : apps.http;
  return apps.ocsp.front("http", apps.scep ? apps.scep(cmp, "http") : cmp);
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

/** The job lease of the periodic CRL regeneration (the per-CA build lease in crl_state is separate). */
export const CRL_LEASE = "crl.regenerate";

/** Starts both listeners, the CRL schedule, and returns handles for a clean shutdown. */
export async function startServers(gw: Gateway): Promise<RunningServers> {
  const apps = await buildApps(gw);
  // The generated dev TLS certificate is sent with its issuing CA so clients need only the root.
  const tlsChain = readFileSync(gw.paths.tls.cert, "utf8") + (gw.config.tls ? "" : derToPem(gw.cas.issuing[0].certDer));
  // EST authenticates TLS client certificates itself (per-label trust anchors, inventory checks), so the
  // handshake asks for one but never fails for its absence or for an issuer OpenSSL does not know.
  const requestCert = gw.config.est.enabled;
  const timeouts = slowClientOptions(gw.config.limits);
  const https = createHttpsServer({
    cert: tlsChain, key: readFileSync(gw.paths.tls.key), minVersion: "TLSv1.2", requestCert, rejectUnauthorized: false,
    ...timeouts, handshakeTimeout: gw.config.limits.headersTimeoutMs,
  }, httpsListener(apps));
  const http = createHttpServer(timeouts, httpListener(apps));
  const cap = (name: "https" | "http", s: Server) =>
    capConnectionsPerAddress(s, gw.config.limits.maxConnectionsPerAddress, () => gw.metrics.connectionsRefused.inc({ listener: name }));
  const connections = { https: cap("https", https), http: cap("http", http) };
  const requests = [trackRequests(https), trackRequests(http)];
  const httpsPort = await listen(https, gw.config.listen.https.host, gw.config.listen.https.port);
  const httpPort = await listen(http, gw.config.listen.http.host, gw.config.listen.http.port);
  // Without configured external URLs, protocol documents must name the ports actually bound (port 0 in tests).
  if (!gw.config.externalUrl.https) gw.urls.https = `https://localhost:${httpsPort}`;
  if (!gw.config.externalUrl.http) gw.urls.http = `http://localhost:${httpPort}`;

  // CRLs on the configured schedule, by one instance of several: the holder of the CRL_LEASE job lease, which the
  // process heartbeat keeps (a dead holder's schedule moves to another instance within LEASE_FAILOVER_MS, keeping
  // the interval: the last publication time is in the store). When this instance does not publish on start (another
  // holds the lease, or the last run is recent), it only makes sure every CA has a current CRL (built only if
  // missing or past half its lifetime).
  const intervalMs = gw.config.crl.regenerateMinutes * 60_000;
  const failed = (ca: string) => (e: Error) => void gw.log.error({ ca, err: e.message }, "CRL generation failed");
  const publishAll = async (held: boolean) => {
    for (const ca of gw.cas.issuing) await (held ? gw.crls.publish(ca) : gw.crls.current(ca)).catch(failed(ca.name));
    return true;
  };
  const crlJob = new LeasedJob(gw.store.leases, CRL_LEASE, intervalMs, () => publishAll(true));
  const leaseFailed = (e: unknown) => void gw.log.error({ err: (e as Error).message }, "CRL schedule lease failed");
  let published: boolean | undefined;
  try {
    published = await crlJob.tick();
  } catch (e) {
    leaseFailed(e);
  }
  if (!published) await publishAll(false);
  gw.crls.start(); // revocations left dirty by other processes (CLI, another instance) are rebuilt here too
  heartbeat.add(crlJob, leaseFailed, false);

  return {
    https, http, httpsPort, httpPort, apps, connections,
    async close(graceMs = SHUTDOWN_GRACE_MS) {
      await heartbeat.remove(crlJob); // releases the lease: another instance's next heartbeat takes the schedule over
      const drained = await drainAll(requests, graceMs);
      await apps.acme?.drain();
      await apps.cmp?.close();
      return drained;
    },
  };
}
