import { execFile } from "node:child_process";
import { join } from "node:path";
import { startServers, type RunningServers } from "../../src/server/listen.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { tempDir } from "../helpers/openssl.js";

export const CMP_KID = "client1";
export const CMP_SECRET = "cmp-Shared-secret-1";

const APPROVAL_PROFILE = `
name: cmp-approval
protocols: [cmp]
approval: true
keys: [{ type: ec, curves: [P-256] }, { type: rsa, minBits: 2048 }]
subject: { commonName: fromCsr }
names: { dns: { suffixes: [example.com] }, requireSan: false }
validity: { default: 30d, max: 90d }
keyUsage: [digitalSignature]
extendedKeyUsage: [clientAuth]
`;

export interface CmpEnv {
  t: TestGateway;
  servers: RunningServers;
  dir: string;
  /** 127.0.0.1:<port> for `openssl cmp -server`. */
  server: string;
  http: string;
  rootPem: string;
  issuingPem: string;
  close(): Promise<void>;
}

/** A gateway on real HTTP with CMP labels: `default` (device profile, one MAC secret), `approve` (approval profile). */
export async function cmpEnv(o: { confirmWaitSeconds?: number } = {}): Promise<CmpEnv> {
  const dir = tempDir("cmp-");
  const secrets = [{ kid: CMP_KID, secret: CMP_SECRET }];
  const t = await testGateway({
    cmp: { labels: [{ name: "default", profile: "device", secrets }, { name: "approve", profile: "cmp-approval", secrets }], pollAfterSeconds: 1, ...(o.confirmWaitSeconds && { confirmWaitSeconds: o.confirmWaitSeconds }) },
  }, { "cmp-approval": APPROVAL_PROFILE });
  const servers = await startServers(t.gw);
  return {
    t, servers, dir,
    server: `127.0.0.1:${servers.httpPort}`,
    http: `http://127.0.0.1:${servers.httpPort}`,
    rootPem: join(t.gw.paths.data, "cas", "dev-root", "cert.pem"),
    issuingPem: join(t.gw.paths.data, "cas", "dev-issuing", "cert.pem"),
    async close() {
      await servers.close();
      await t.gw.close();
    },
  };
}

/** `openssl cmp` as an async child (the gateway answers in this same process). */
export function opensslCmp(args: string[], timeoutMs = 45_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    execFile("openssl", ["cmp", ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT") return reject(err);
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, out: `${stdout}${stderr}` });
    });
  });
}
