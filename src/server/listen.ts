import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { derToPem } from "../ca/authority.js";
import type { Gateway } from "../gateway.js";
import { buildApps, type Apps } from "./apps.js";

export interface RunningServers {
  https: Server;
  http: Server;
  apps: Apps;
  httpsPort: number;
  httpPort: number;
  close(): Promise<void>;
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

/** Starts both listeners, the CRL schedule, and returns handles for a clean shutdown. */
export async function startServers(gw: Gateway): Promise<RunningServers> {
  const apps = await buildApps(gw);
  // The generated dev TLS certificate is sent with its issuing CA so clients need only the root.
  const tlsChain = readFileSync(gw.paths.tls.cert, "utf8") + (gw.config.tls ? "" : derToPem(gw.cas.issuing[0].certDer));
  // EST authenticates TLS client certificates itself (per-label trust anchors, inventory checks), so the
  // handshake asks for one but never fails for its absence or for an issuer OpenSSL does not know.
  const requestCert = gw.config.est.enabled;
  const https = createHttpsServer({ cert: tlsChain, key: readFileSync(gw.paths.tls.key), minVersion: "TLSv1.2", requestCert, rejectUnauthorized: false }, apps.https);
  const http = createHttpServer(apps.http);
  for (const s of [https, http]) {
    s.headersTimeout = 10_000;
    s.requestTimeout = 30_000;
    s.keepAliveTimeout = 5_000;
  }
  const httpsPort = await listen(https, gw.config.listen.https.host, gw.config.listen.https.port);
  const httpPort = await listen(http, gw.config.listen.http.host, gw.config.listen.http.port);
  // Without configured external URLs, protocol documents must name the ports actually bound (port 0 in tests).
  if (!gw.config.externalUrl.https) gw.urls.https = `https://localhost:${httpsPort}`;
  if (!gw.config.externalUrl.http) gw.urls.http = `http://localhost:${httpPort}`;

  // Fresh CRLs for every CA on start, then on the configured schedule.
  const publishAll = async () => {
    for (const ca of gw.cas.issuing) {
      await gw.crls.publish(ca).catch((e: Error) => gw.log.error({ ca: ca.name, err: e.message }, "CRL generation failed"));
    }
  };
  await publishAll();
  const timer = setInterval(() => void publishAll(), gw.config.crl.regenerateMinutes * 60_000);
  timer.unref();

  return {
    https, http, httpsPort, httpPort, apps,
    async close() {
      clearInterval(timer);
      await Promise.all([https, http].map((s) => new Promise<void>((r) => { s.close(() => r()); s.closeAllConnections(); })));
      await apps.acme?.drain();
      apps.cmp?.close();
    },
  };
}
