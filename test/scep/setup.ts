import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { EnrollmentSecrets } from "../../src/enrollment/secrets.js";
import { startServers, type RunningServers } from "../../src/server/listen.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { genKey, openssl, tempDir } from "../helpers/openssl.js";

export const STATIC_CHALLENGE = "static-Challenge-0001";

const APPROVAL_PROFILE = `
name: scep-approval
protocols: [scep]
approval: true
keys: [{ type: rsa, minBits: 2048 }, { type: ec, curves: [P-256] }]
subject: { commonName: fromCsr }
names: { dns: { suffixes: [example.com] }, requireSan: false }
validity: { default: 30d, max: 90d }
keyUsage: [digitalSignature, keyEncipherment]
extendedKeyUsage: [clientAuth]
`;

/** The MDM side of dynamic challenges: allows the challenges in `allowed`, records every call. */
export class WebhookStub {
  readonly allowed = new Set<string>();
  readonly calls: Array<Record<string, unknown>> = [];
  private constructor(private readonly server: Server, readonly url: string) {}

  static async start(): Promise<WebhookStub> {
    let stub: WebhookStub | undefined;
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        const call: Record<string, unknown> = { ...(JSON.parse(body) as Record<string, unknown>), signature: req.headers["x-gateway-signature"] };
        stub!.calls.push(call);
        const allow = stub!.allowed.has(String(call.challenge));
        res.setHeader("Content-Type", "application/json");
        res.end(JSON.stringify(allow ? { allow: true } : { allow: false, reason: "unknown device" }));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    stub = new WebhookStub(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/validate`);
    return stub;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

export interface ScepEnv {
  t: TestGateway;
  /** The rollover CA certificate the `legacy` endpoint offers with GetNextCACert. */
  nextCaCert: string;
  servers: RunningServers;
  dir: string;
  /** http://127.0.0.1:<port> */
  http: string;
  adminBase: string;
  rootPem: string;
  issuingPem: string;
  webhook: WebhookStub;
  secrets: EnrollmentSecrets;
  /** A one-time challenge for `endpoint`'s profile. */
  challenge(o?: { profile?: string; subject?: string; ttlMinutes?: number }): Promise<string>;
  close(): Promise<void>;
}

/**
 * A gateway on real HTTP with SCEP endpoints: `default` (device profile, static and one-time
 * challenges), `approve` (approval profile), `legacy` (SHA-1/3DES allowed), `mdm` (webhook challenges), `des`
 * (single DES allowed, one-time challenges only).
 */
export async function scepEnv(): Promise<ScepEnv> {
  const dir = tempDir("scep-");
  const webhook = await WebhookStub.start();
  // A CA certificate standing in for the next CA of a rollover (GetNextCACert on `legacy`).
  const nextCaKey = genKey(dir, "next-ca");
  const nextCaCert = join(dir, "next-ca.pem");
  openssl(["req", "-x509", "-new", "-key", nextCaKey, "-subj", "/O=Enrollment Gateway/CN=Next Issuing CA", "-days", "30", "-out", nextCaCert, "-addext", "basicConstraints=critical,CA:TRUE"]);
  const t = await testGateway({
    scep: {
      endpoints: [
        { name: "default", profile: "device", challenge: { static: STATIC_CHALLENGE } },
        { name: "approve", profile: "scep-approval" },
        { name: "legacy", profile: "device", legacyAlgorithms: true, challenge: { static: STATIC_CHALLENGE }, nextCaCertFile: nextCaCert },
        { name: "mdm", profile: "device", challenge: { oneTimeSecrets: false, webhook: { url: webhook.url, hmacSecret: "hook-secret" } } },
        { name: "des", profile: "device", allowSingleDes: true },
      ],
    },
  }, { "scep-approval": APPROVAL_PROFILE });
  const servers = await startServers(t.gw);
  const secrets = new EnrollmentSecrets(t.gw.store, t.gw.profiles, t.gw.audit);
  return {
    t, servers, dir, webhook, secrets, nextCaCert,
    http: `http://127.0.0.1:${servers.httpPort}`,
    adminBase: `https://localhost:${servers.httpsPort}/admin/api/v1`,
    rootPem: join(t.gw.paths.data, "cas", "dev-root", "cert.pem"),
    issuingPem: join(t.gw.paths.data, "cas", "dev-issuing", "cert.pem"),
    challenge: async (o = {}) => (await secrets.mint({ profile: o.profile ?? "device", subject: o.subject, protocols: ["scep"], ttlMinutes: o.ttlMinutes }, "test")).secret,
    async close() {
      await servers.close();
      await t.gw.close();
      await webhook.close();
    },
  };
}
