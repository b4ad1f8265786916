import { execFile } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Child, freePort, makeTempDir, probe, removeTempDir, waitUntil } from "./child.js";
import { launchGateway } from "./gateway-process.js";

const run = promisify(execFile);

/** A CMP server under load, in its own process, stopped at the end. */
export interface CmpBenchServer {
  name: "gateway" | "openssl-mock";
  /** `http://127.0.0.1:<port>/<path>`: where the client POSTs its PKIMessages. */
  url: string;
  /** What an issued certificate must verify against (gateway: dev root and issuing CA). */
  rootPath?: string;
  issuingPath?: string;
  /** A path only this server's command line holds. */
  marker: string;
  /** The server's process: its CPU time is read from /proc/<pid>/stat (all its threads). */
  pid: number;
  /** Free-form facts for the report. */
  notes: Record<string, string | number>;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

/**
 * The gateway as an operator runs it: `gateway serve` in its own process, a fresh data dir (SQLite, dev PKI
 * with an ECDSA P-256 issuing CA), log level warn, one CMP label `default` for the `device` profile with one
 * MAC secret (kid `kid`, the secret read from the environment, so it is in neither the config nor the command line).
 */
export async function startCmpGateway(kid: string, secret: string): Promise<CmpBenchServer> {
  const gw = await launchGateway("bench-cmp-gw-", { cmp: { labels: [{ name: "default", profile: "device", secrets: [{ kid, secret: { env: "BENCH_CMP_SECRET" } }] }] } }, { BENCH_CMP_SECRET: secret });
  const { child, dataDir, https, http, stop } = gw;
  try {
    await waitUntil("gateway /healthz", child, async () => (await probe(`${https}/healthz`, { insecure: true })) === 200, 60_000);
    const url = `${http}/.well-known/cmp`;
    const status = await probe(url); // a GET: 405 from the CMP router, 404 when CMP is not mounted
    if (status !== 405) throw new Error(`gateway GET ${url}: ${status === undefined ? "no answer" : `HTTP ${status}`}, expected 405 from the CMP router (protocols/cmp not mounted or not enabled?)\n${child.tail()}`);
    const rootPath = join(dataDir, "cas", "dev-root", "cert.pem");
    const issuingPath = join(dataDir, "cas", "dev-issuing", "cert.pem");
    if (!existsSync(rootPath) || !existsSync(issuingPath)) throw new Error(`gateway is up but its dev PKI (${rootPath}, ${issuingPath}) is missing`);
    return { name: "gateway", url, rootPath, issuingPath, marker: join(gw.dir, "config.yaml"), pid: child.proc.pid!, notes: { issuingKey: "ec-p256 (software)", store: "sqlite" }, logTail: (n) => child.tail(n), stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run("openssl", args, { cwd });
  } catch (e) {
    const err = e as Error & { stdout?: string; stderr?: string };
    throw new Error(`openssl ${args.join(" ")} failed: ${err.message.split("\n")[0]}\n${err.stdout ?? ""}${err.stderr ?? ""}`);
  }
}

/**
 * OpenSSL's own CMP mock server: `openssl cmp -port <port> -srv_ref <kid> -srv_secret env:… -rsp_cert <cert>`.
 * It answers every certificate request with the fixed -rsp_cert (an ECDSA P-256 certificate made here, signed
 * with SHA-256 by a throwaway CA, so certConf's certHash is SHA-256 as with the gateway), protected with
 * PasswordBasedMac under the same secret (its own PBM parameters: HMAC-SHA1, 500 iterations). One process, one
 * thread, one OSSL_CMP_CTX: it holds one open transaction (a new cr aborts the one before) and serves one
 * connection at a time, keeping it only while its transaction is open; so concurrent clients, each on its own
 * connection, are served one transaction after the other. Measured as it is. It listens on all interfaces.
 */
export async function startOpensslMock(kid: string, secret: string): Promise<CmpBenchServer> {
  const dir = makeTempDir("bench-cmp-mock-");
  const p = (n: string) => join(dir, n);
  try {
    writeFileSync(p("ext.cnf"), "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n[ee]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n");
    await openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", p("ca.key"), "-subj", "/CN=CMP mock CA",
      "-days", "2", "-sha256", "-extensions", "ca", "-config", p("ext.cnf"), "-out", p("ca.pem")], dir);
    await openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", p("rsp.key"), "-subj", "/CN=mock.example.com", "-out", p("rsp.csr")], dir);
    await openssl(["x509", "-req", "-in", p("rsp.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"), "-CAcreateserial", "-days", "1", "-sha256",
      "-extfile", p("ext.cnf"), "-extensions", "ee", "-out", p("rsp.pem")], dir);
  } catch (e) {
    removeTempDir(dir);
    throw e;
  }
  const port = await freePort();
  const args = ["cmp", "-port", String(port), "-srv_ref", kid, "-srv_secret", "env:BENCH_CMP_SECRET", "-rsp_cert", p("rsp.pem")];
  const child = Child.start("openssl cmp -port", "openssl", args, { cwd: dir, logPath: p("mock.log"), env: { ...process.env, BENCH_CMP_SECRET: secret } });
  const stop = async () => {
    await child.stop();
    removeTempDir(dir);
  };
  try {
    // Its "ACCEPT [::]:<port>" line, not a probe connection: an empty connection makes it sleep a second.
    await waitUntil("openssl cmp -port listening", child, async () => new RegExp(`ACCEPT \\S*:${port}\\b`).test(readFileSync(p("mock.log"), "utf8")), 20_000);
    const version = (await run("openssl", ["version"])).stdout.trim();
    return {
      name: "openssl-mock", url: `http://127.0.0.1:${port}/pkix/`, rootPath: p("ca.pem"), marker: p("rsp.pem"), pid: child.proc.pid!,
      notes: { openssl: version, rspCert: "ec-p256, fixed" }, logTail: (n) => child.tail(n), stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** `openssl verify` of a DER certificate against a root (and intermediate); throws with openssl's output when it does not verify. */
export async function opensslVerify(certDer: Uint8Array, rootPath: string, issuingPath: string | undefined, dir: string): Promise<string> {
  const certPath = join(dir, "verify-me.pem");
  writeFileSync(certPath, `-----BEGIN CERTIFICATE-----\n${Buffer.from(certDer).toString("base64").match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`);
  const args = ["verify", "-CAfile", rootPath, ...(issuingPath ? ["-untrusted", issuingPath] : []), certPath];
  try {
    const { stdout } = await run("openssl", args);
    if (!stdout.includes(": OK")) throw new Error(stdout);
    return stdout.trim();
  } catch (e) {
    const err = e as Error & { stdout?: string; stderr?: string };
    throw new Error(`openssl ${args.join(" ")}: ${err.stdout ?? ""}${err.stderr ?? err.message}\n${readFileSync(certPath, "utf8")}`);
  }
}
