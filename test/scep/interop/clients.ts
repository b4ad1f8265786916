import { execFile } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { opensslAsync } from "../../helpers/openssl.js";
import { auditEvents } from "../../helpers/stores.js";
import type { ScepEnv } from "../setup.js";

// Real SCEP clients run against the in-process gateway of scepEnv(). Every client runs as an
// asynchronous child (a synchronous one would block the event loop the gateway answers on), and a
// missing binary rejects, so a test fails instead of passing or skipping silently.

/** Below vitest's 60 s test timeout, so a hung client is reported with its output. */
export const CLIENT_TIMEOUT_MS = 50_000;

export interface RunResult {
  /** The command line, for failure messages. */
  command: string;
  code: number;
  stdout: Buffer;
  /** stderr (for pki without the TPM plugin warnings it prints on hosts without a TPM). */
  log: string;
}

const TPM_NOISE = /^(TPM 2\.0 - could not load .*|plugin 'tpm': failed to load .*)$/;

function run(cmd: string, pkg: string, args: string[], timeout = CLIENT_TIMEOUT_MS): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: "buffer", timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT") {
        reject(new Error(`${cmd} could not be run (${err.message}): install the Debian package "${pkg}"`));
        return;
      }
      const log = stderr.toString("utf8").split("\n").filter((l) => !TPM_NOISE.test(l)).join("\n");
      const killed = err?.killed ? `\n[${cmd} killed after ${timeout} ms]` : "";
      resolve({ command: [cmd, ...args].join(" "), code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, log: `${log}${killed}` });
    });
  });
}

/** strongSwan's `pki` (Debian strongswan-pki 5.9.8; SCEP over its curl plugin). */
export function pki(args: string[], timeoutMs?: number): Promise<RunResult> {
  return run("pki", "strongswan-pki", args, timeoutMs);
}

/** micromdm's `scepclient` (Debian scep 2.1.0). It reports on stderr (logfmt) and prints its final error on stdout. */
export function scepclient(args: string[], timeoutMs?: number): Promise<RunResult> {
  return run("scepclient", "scep", args, timeoutMs);
}

/** pki --debug 2 traces every ASN.1 object it parses: left out of failure messages. */
const ASN1_TRACE = /^(L\d+ - .*|builder L\d+ .*|-- [<>] --|  '.*'|  (TRUE|FALSE|v\d|X\.509v3))$/;

/** The command and both streams of a run (stdout only if it is text), for assertion messages. */
export function output(r: RunResult): string {
  const out = r.stdout.includes(0) || r.stdout[0] === 0x30 ? `<${r.stdout.length} bytes of DER>` : r.stdout.toString("utf8");
  const log = r.log.split("\n").filter((l) => !ASN1_TRACE.test(l)).join("\n");
  return `${r.command}\nexit ${r.code}\n--- stdout ---\n${out}\n--- stderr ---\n${log}`;
}

/** A fresh RSA-2048 key made by pki (DER, PKCS#1): pki --scep certifies RSA keys only. */
export async function pkiRsaKey(dir: string, name: string): Promise<string> {
  const r = await pki(["--gen", "--type", "rsa", "--size", "2048"]);
  if (r.code !== 0) throw new Error(`pki --gen failed:\n${output(r)}`);
  const path = join(dir, `${name}.key.der`);
  writeFileSync(path, r.stdout);
  return path;
}

export interface ScepCaFiles {
  /** The RA certificate (encrypt to it, verify the CertRep with it). */
  ra: string;
  /** The root CA (pki names it `<caout>`). */
  root: string;
  /** The issuing CA (`<caout base>-1.der`). */
  issuing: string;
  log: string;
}

/** `pki --scepca`: GetCACert of `url`, the RA and CA certificates as DER files in `dir`. */
export async function pkiScepCa(url: string, dir: string): Promise<ScepCaFiles> {
  const caout = join(dir, "ca.der");
  const raout = join(dir, "ra.der");
  const r = await pki(["--scepca", "--url", url, "--caout", caout, "--raout", raout, "--force"]);
  if (r.code !== 0) throw new Error(`pki --scepca --url ${url} failed:\n${output(r)}`);
  return { ra: raout, root: caout, issuing: join(dir, "ca-1.der"), log: r.log };
}

/** SHA-256 of a certificate's DER, hex (what scepclient -ca-fingerprint takes). */
export function sha256Fingerprint(cert: X509Certificate | Uint8Array): string {
  return createHash("sha256").update(cert instanceof X509Certificate ? cert.raw : cert).digest("hex");
}

/** `openssl verify` of a certificate (PEM or DER) against the gateway's root and issuing CA; returns it parsed. */
export async function verifyCert(env: ScepEnv, certBytes: Buffer, name: string): Promise<{ cert: X509Certificate; pemPath: string; verify: string; ok: boolean }> {
  const cert = new X509Certificate(certBytes);
  const pemPath = join(env.dir, `${name}.pem`);
  writeFileSync(pemPath, cert.toString());
  const v = await opensslAsync(["verify", "-CAfile", env.rootPem, "-untrusted", env.issuingPem, pemPath]);
  return { cert, pemPath, verify: v.out, ok: v.code === 0 && v.out.includes(`${pemPath}: OK`) };
}

export interface CurlResult {
  status: number;
  body: string;
}

/** The admin API over HTTPS with the admin token, by curl (asynchronously: the gateway runs in this process). */
export function adminApi(env: ScepEnv, method: "GET" | "POST", path: string, body?: unknown): Promise<CurlResult> {
  const args = ["-sS", "--cacert", env.rootPem, "-X", method, "-H", `Authorization: Bearer ${env.t.token}`, "-w", "\n%{http_code}"];
  if (body !== undefined) args.push("-H", "Content-Type: application/json", "--data", JSON.stringify(body));
  args.push(`${env.adminBase}${path}`);
  return new Promise((resolve, reject) => {
    execFile("curl", args, { timeout: 30_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT") return reject(new Error(`curl could not be run: ${err.message}`));
      if (err) return reject(new Error(`curl ${method} ${path} failed: ${stderr}`));
      const i = stdout.lastIndexOf("\n");
      resolve({ status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) });
    });
  });
}

/**
 * Polls the admin API until a pending approval matching `match` shows up; its id. `gaveUp` says why
 * to stop early (the client already exited).
 */
export async function waitForPendingApproval(env: ScepEnv, match: (a: Record<string, unknown>) => boolean, gaveUp: () => string | undefined = () => undefined, timeoutMs = 30_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const why = gaveUp();
    if (why) throw new Error(why);
    const list = await adminApi(env, "GET", "/approvals?status=pending");
    if (list.status !== 200) throw new Error(`GET /approvals answered ${list.status}: ${list.body}`);
    const found = (JSON.parse(list.body) as { approvals: Array<Record<string, unknown>> }).approvals.find(match);
    if (found) return String(found.id);
    if (Date.now() > until) throw new Error(`no matching pending approval after ${timeoutMs} ms: ${list.body}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The gateway's `scep.request` audit events after sequence number `afterSeq`. */
export function scepAudit(env: ScepEnv, afterSeq = 0) {
  return env.t.gw.store.queryAudit({ type: "scep.request", afterSeq, limit: 1000 });
}

/** The highest audit sequence number so far (to look only at what a test caused). */
export async function auditMark(env: ScepEnv): Promise<number> {
  return (await auditEvents(env.t.gw.store)).at(-1)?.seq ?? 0;
}

/** GetCACert of `url` by curl, unpacked with `openssl pkcs7`: every certificate of the answer, in order. */
export async function getCaCerts(url: string, dir: string): Promise<X509Certificate[]> {
  const p7 = join(dir, `getcacert-${Math.random().toString(36).slice(2)}.p7b`);
  await new Promise<void>((resolve, reject) => {
    execFile("curl", ["-sS", "--fail", "-o", p7, `${url}?operation=GetCACert`], { timeout: 30_000 }, (err, _o, stderr) => {
      if (err) reject(new Error(`GetCACert of ${url} failed: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? err.message : stderr}`));
      else resolve();
    });
  });
  const r = await opensslAsync(["pkcs7", "-inform", "DER", "-in", p7, "-print_certs"]);
  if (r.code !== 0) throw new Error(`openssl pkcs7 could not read the GetCACert answer of ${url}:\n${r.out}`);
  return (r.out.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((pem) => new X509Certificate(pem));
}

/** The RA certificate of a GetCACert answer (the one that is not a CA). */
export async function raCertOf(url: string, dir: string): Promise<X509Certificate> {
  const certs = await getCaCerts(url, dir);
  const ra = certs.filter((c) => !c.ca);
  if (ra.length !== 1) throw new Error(`GetCACert of ${url} holds ${ra.length} non-CA certificates: ${certs.map((c) => c.subject).join(" | ")}`);
  return ra[0];
}
