import { execFile } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Gateway } from "../../src/gateway.js";
import { startServers, type RunningServers } from "../../src/server/listen.js";
import type { AuditEvent } from "../../src/store/types.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { auditEvents } from "../helpers/stores.js";
import { genKey, tempDir } from "../helpers/openssl.js";

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

export interface CmpEnvOptions {
  confirmWaitSeconds?: number;
  /** More MAC secrets on both labels. */
  secrets?: Array<{ kid: string; secret: string }>;
  /** Further `cmp:` settings. */
  cmp?: Record<string, unknown>;
  /** A `store:` section (default: SQLite in the data dir). */
  store?: Record<string, unknown>;
}

/** A gateway on real HTTP with CMP labels: `default` (device profile, one MAC secret), `approve` (approval profile). */
export async function cmpEnv(o: CmpEnvOptions = {}): Promise<CmpEnv> {
  const dir = tempDir("cmp-");
  const secrets = [{ kid: CMP_KID, secret: CMP_SECRET }, ...(o.secrets ?? [])];
  const t = await testGateway({
    cmp: {
      labels: [{ name: "default", profile: "device", secrets }, { name: "approve", profile: "cmp-approval", secrets }], pollAfterSeconds: 1,
      ...(o.confirmWaitSeconds && { confirmWaitSeconds: o.confirmWaitSeconds }), ...o.cmp,
    },
    ...(o.store && { store: o.store }),
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

/**
 * The first audit event matching `match`, already recorded or still to come; rejects when `client` (a
 * running `openssl cmp`) ends first, with its output.
 */
export function auditEvent(gw: Gateway, match: (e: AuditEvent) => boolean, client?: Promise<{ code: number; out: string }>): Promise<AuditEvent> {
  return new Promise((resolve, reject) => {
    let done = false;
    const settle = (e: AuditEvent) => {
      if (!done && match(e)) {
        done = true;
        resolve(e);
      }
    };
    gw.audit.subscribe(settle);
    auditEvents(gw.store).then((es) => es.forEach(settle), reject);
    client?.then((r) => !done && reject(new Error(`openssl cmp ended (${r.code}) before the awaited event: ${r.out}`)), reject);
  });
}

/** The MAC counters from `/metrics`, as Prometheus serves them. */
export async function macCounters(env: CmpEnv): Promise<{ derivations: number; throttled: number; busy: number }> {
  const text = await (await fetch(`${env.http}/metrics`)).text();
  const sum = (re: RegExp) => [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
  return {
    derivations: sum(/^gateway_cmp_mac_derivations_total\{[^}]*\} (\d+)$/gm),
    throttled: sum(/^gateway_cmp_mac_refused_total\{reason="throttled"\} (\d+)$/gm),
    busy: sum(/^gateway_cmp_mac_refused_total\{reason="busy"\} (\d+)$/gm),
  };
}

/** An ir made and MAC-protected by `openssl cmp` itself, caught by a capture server (answering 500, so openssl gives up), never sent to the gateway. */
export async function capturedIr(env: CmpEnv, name: string, kid = CMP_KID, secret = CMP_SECRET): Promise<Uint8Array> {
  let captured: Buffer | undefined;
  const capture = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      if (parts.length) captured ??= Buffer.concat(parts);
      res.statusCode = 500;
      res.end();
    });
  });
  await new Promise<void>((r) => capture.listen(0, "127.0.0.1", () => r()));
  const r = await opensslCmp(["-server", `127.0.0.1:${(capture.address() as AddressInfo).port}`, "-path", ".well-known/cmp", "-ref", kid, "-secret", `pass:${secret}`,
    "-mac", "hmacWithSHA256", "-cmd", "ir", "-newkey", genKey(env.dir, name), "-subject", `/CN=${name}.example.com`, "-certout", join(env.dir, `${name}.pem`)]);
  await new Promise<void>((res) => capture.close(() => res()));
  if (!captured) throw new Error(`openssl cmp sent nothing: ${r.out}`);
  return new Uint8Array(captured);
}
