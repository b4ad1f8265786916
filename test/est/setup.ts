import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startServers, type RunningServers } from "../../src/server/listen.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { genKey, openssl, opensslAsync, tempDir } from "../helpers/openssl.js";

export const EST_USER = { name: "router1", password: "router1-Secret-pass" };
/** curl arguments: Basic auth as EST_USER, and the PKCS#10 media type of enrollment requests. */
export const basicUser = ["-u", `${EST_USER.name}:${EST_USER.password}`];
export const pkcs10 = ["-H", "Content-Type: application/pkcs10"];

/** EST devices whose every request waits for an operator. */
export const approvalProfile = (validityDays = 30) => `
name: device-approval
protocols: [est]
approval: true
keys: [{ type: ec, curves: [P-256] }]
subject: { commonName: fromCsr }
names: { dns: { suffixes: [example.com] }, requireSan: false }
validity: { default: ${validityDays}d, max: 90d }
keyUsage: [digitalSignature]
extendedKeyUsage: [clientAuth]
`;
const APPROVAL_PROFILE = approvalProfile();

const ROTATE_PROFILE = `
name: device-rotate
protocols: [est]
keys: [{ type: ec, curves: [P-256] }, { type: rsa, minBits: 2048 }]
subject: { commonName: fromCsr, fixed: { O: Rotating Devices } }
names: { dns: { suffixes: [example.com] }, requireSan: false }
validity: { default: 30d, max: 90d }
keyUsage: [digitalSignature]
extendedKeyUsage: [clientAuth]
renewal: { windowDays: 10, revokeReplaced: true }
`;

export interface Bootstrap {
  caCert: string;
  deviceCert: string;
  deviceKey: string;
}

/** A manufacturer-style CA (like an IDevID root) and one device certificate under it, made with OpenSSL. */
export function makeBootstrapPki(dir: string, name = "boot"): Bootstrap {
  const caKey = genKey(dir, `${name}-ca`);
  const caCert = join(dir, `${name}-ca.pem`);
  openssl(["req", "-x509", "-new", "-key", caKey, "-subj", `/O=Device Maker/CN=${name} IDevID Root`, "-days", "30", "-out", caCert,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  const deviceKey = genKey(dir, `${name}-device`);
  const csr = join(dir, `${name}-device.csr`);
  openssl(["req", "-new", "-key", deviceKey, "-subj", `/serialNumber=SN-0042/CN=${name}-device-42`, "-out", csr]);
  const ext = join(dir, `${name}-ext.cnf`);
  writeFileSync(ext, "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=clientAuth\nsubjectKeyIdentifier=hash\n");
  const deviceCert = join(dir, `${name}-device.pem`);
  openssl(["x509", "-req", "-in", csr, "-CA", caCert, "-CAkey", caKey, "-CAcreateserial", "-days", "10", "-extfile", ext, "-out", deviceCert]);
  return { caCert, deviceCert, deviceKey };
}

export interface EstEnv {
  t: TestGateway;
  servers: RunningServers;
  dir: string;
  /** https://localhost:<port>/.well-known/est */
  base: string;
  adminBase: string;
  /** The dev root: the TLS trust anchor and the top of every chain. */
  rootPem: string;
  issuingPem: string;
  boot: Bootstrap;
  close(): Promise<void>;
}

/**
 * A gateway on real HTTPS with EST labels: `default` (device profile, Basic user, one-time
 * secrets, bootstrap CA), `approve` (approval profile), `pop` (channel binding required),
 * `rotate` (revokes replaced certificates), `certonly` (Basic off).
 */
export async function estEnv(o: { extraLabels?: Array<Record<string, unknown>>; defaultLabel?: string; approveRetryAfterSeconds?: number } = {}): Promise<EstEnv> {
  const dir = tempDir("est-");
  const boot = makeBootstrapPki(dir);
  const users = [EST_USER];
  const t = await testGateway({
    est: {
      labels: [
        { name: "default", profile: "device", auth: { users, trustAnchors: [boot.caCert] } },
        { name: "approve", profile: "device-approval", auth: { users }, retryAfterSeconds: o.approveRetryAfterSeconds ?? 7 },
        { name: "pop", profile: "device", popLinking: true, auth: { users } },
        { name: "rotate", profile: "device-rotate", auth: { users }, reenrollGraceDays: 2 },
        { name: "certonly", profile: "device", auth: { basic: false, trustAnchors: [boot.caCert] } },
        ...(o.extraLabels ?? []),
      ],
      defaultLabel: o.defaultLabel ?? "default",
    },
  }, { "device-approval": APPROVAL_PROFILE, "device-rotate": ROTATE_PROFILE });
  const servers = await startServers(t.gw);
  const rootPem = join(t.gw.paths.data, "cas", "dev-root", "cert.pem");
  const issuingPem = join(t.gw.paths.data, "cas", "dev-issuing", "cert.pem");
  return {
    t, servers, dir, boot, rootPem, issuingPem,
    base: `https://localhost:${servers.httpsPort}/.well-known/est`,
    adminBase: `https://localhost:${servers.httpsPort}/admin/api/v1`,
    async close() {
      await servers.close();
      await t.gw.close();
    },
  };
}

export interface CurlResult {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** curl against the in-process server (asynchronously: a synchronous child would block it). */
export function curl(env: EstEnv, args: string[]): Promise<CurlResult> {
  const headerFile = join(env.dir, `h-${Math.random().toString(36).slice(2)}.txt`);
  return new Promise((resolve, reject) => {
    execFile("curl", ["-sS", "--cacert", env.rootPem, "-D", headerFile, "-o", "-", ...args], { encoding: "buffer", timeout: 30_000, maxBuffer: 1 << 22 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT") return reject(err);
      if (err) return reject(new Error(`curl ${args.join(" ")} failed: ${stderr.toString()}`));
      const raw = readFileSync(headerFile, "latin1").split(/\r\n\r\n(?=HTTP\/)/).pop()!;
      const [statusLine, ...lines] = raw.trim().split("\r\n");
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(":");
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(" ")[1]), headers, body: stdout });
    });
  });
}

export { makeCsr } from "../helpers/csr.js";

/** The certificates of a base64 certs-only PKCS#7 body, as PEM, via `openssl pkcs7 -print_certs`. */
export async function pkcs7Certs(dir: string, name: string, base64Body: Buffer): Promise<{ pem: string; path: string; text: string }> {
  const der = join(dir, `${name}.p7`);
  writeFileSync(der, Buffer.from(base64Body.toString("latin1").replace(/\s+/g, ""), "base64"));
  const path = join(dir, `${name}.pem`);
  const r = await opensslAsync(["pkcs7", "-inform", "DER", "-in", der, "-print_certs", "-out", path]);
  if (r.code !== 0) throw new Error(`openssl pkcs7 rejected the EST answer:\n${r.out}`);
  const pem = readFileSync(path, "utf8");
  return { pem, path, text: pem };
}
