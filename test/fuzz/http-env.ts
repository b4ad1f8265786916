import { readFileSync } from "node:fs";
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { join } from "node:path";
import { startServers, type RunningServers } from "../../src/server/listen.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";

export const EST_USER = { name: "fuzz-router", password: "fuzz-Router-pass-1" };
export const SCEP_CHALLENGE = "fuzz-Static-challenge-1";
export const CMP_KID = "fuzz-client";
export const CMP_SECRET = "cmp-Fuzz-secret-2";

/**
 * One gateway with every front-end on real loopback ports: HTTPS (ACME, EST; EST reads the TLS socket) and
 * plain HTTP (SCEP, CMP). Rate limits are raised (and CMP MAC-failure
 * throttles turned off) so that fuzzing reaches the parsers, not the token buckets.
 */
export interface FuzzGateway {
  t: TestGateway;
  servers: RunningServers;
  /** https://localhost:<port> */
  main: string;
  /** http://127.0.0.1:<port> */
  plain: string;
  send(url: string, init?: { method?: string; headers?: Record<string, string>; body?: string | Uint8Array }): Promise<Answer>;
  close(): Promise<void>;
}

export interface Answer {
  status: number;
  type: string;
  body: Buffer;
  headers: IncomingHttpHeaders;
}

export async function fuzzGateway(): Promise<FuzzGateway> {
  const bucket = { perSecond: 100_000, burst: 100_000 };
  const t = await testGateway({
    acme: { rateLimits: { perAccount: bucket, perAddress: bucket } },
    est: { labels: [{ name: "default", profile: "device", auth: { users: [EST_USER] } }], defaultLabel: "default" },
    scep: { endpoints: [{ name: "default", profile: "device", challenge: { static: SCEP_CHALLENGE } }] },
    // MAC-failure throttles off: mutated messages fail their MAC by design, and must still reach the readers.
    cmp: { labels: [{ name: "default", profile: "device", secrets: [{ kid: CMP_KID, secret: CMP_SECRET }] }], macFailures: { perKid: 0, perAddress: 0 } },
  });
  const servers = await startServers(t.gw);
  const ca = readFileSync(join(t.gw.paths.data, "cas", "dev-root", "cert.pem"), "utf8");
  const agents = { https: new HttpsAgent({ keepAlive: true, ca }), http: new HttpAgent({ keepAlive: true }) };
  const send: FuzzGateway["send"] = (url, init = {}) => new Promise((resolve, reject) => {
    const tls = url.startsWith("https:");
    const req = (tls ? httpsRequest : httpRequest)(url, { method: init.method ?? "GET", headers: init.headers, agent: tls ? agents.https : agents.http }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"] ?? ""), body: Buffer.concat(chunks), headers: res.headers }));
    });
    req.setTimeout(20_000, () => req.destroy(new Error(`${url}: no answer in 20 s`)));
    req.on("error", reject);
    req.end(init.body === undefined ? undefined : Buffer.from(init.body));
  });
  return {
    t, servers, send,
    main: `https://localhost:${servers.httpsPort}`,
    plain: `http://127.0.0.1:${servers.httpPort}`,
    async close() {
      agents.https.destroy();
      agents.http.destroy();
      await servers.close();
      await t.gw.close();
    },
  };
}
