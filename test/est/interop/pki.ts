import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { opensslAsync } from "../../helpers/openssl.js";
import { estEnv, type EstEnv } from "../setup.js";

/** Below vitest's 60 s test timeout, so a hung pki is reported with its output. */
const PKI_TIMEOUT_MS = 45_000;

export interface PkiResult {
  code: number;
  /** What pki wrote to stdout (the issued certificate for --est, the key or request for --gen/--req). */
  stdout: Buffer;
  /** stderr without the TPM plugin warnings every pki invocation prints on hosts without a TPM. */
  log: string;
}

const TPM_NOISE = /^(TPM 2\.0 - could not load .*|plugin 'tpm': failed to load .*)$/;

/**
 * Runs strongSwan's `pki` asynchronously (a synchronous child would block the event loop the
 * in-process gateway needs). A missing binary rejects, so the test fails instead of skipping.
 */
export function pki(args: string[], o: { timeoutMs?: number } = {}): Promise<PkiResult> {
  const timeout = o.timeoutMs ?? PKI_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    execFile("pki", args, { encoding: "buffer", timeout, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT") {
        reject(new Error(`strongSwan's pki could not be run (${err.message}): install the Debian package "strongswan-pki" (test/run-all.sh does this)`));
        return;
      }
      const log = stderr.toString("utf8").split("\n").filter((l) => !TPM_NOISE.test(l)).join("\n");
      const killed = err?.killed ? `\n[pki killed after ${timeout} ms]` : "";
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, log: `${log}${killed}` });
    });
  });
}

/** `pki ...` that must succeed; its stdout is written to `out`. */
export async function pkiTo(out: string, args: string[]): Promise<PkiResult> {
  const r = await pki(args);
  if (r.code !== 0) throw new Error(`pki ${args.join(" ")} failed (${r.code}):\n${r.log}`);
  writeFileSync(out, r.stdout);
  return r;
}

/** A fresh P-256 key (DER) and a PKCS#10 request for it (DER), both made by strongSwan's pki. */
export async function pkiKeyAndRequest(dir: string, name: string, dn: string, sans: string[]): Promise<{ key: string; req: string }> {
  const key = join(dir, `${name}.key.der`);
  const req = join(dir, `${name}.req.der`);
  await pkiTo(key, ["--gen", "--type", "ecdsa", "--size", "256"]);
  await pkiTo(req, ["--req", "--type", "ecdsa", "--in", key, "--dn", dn, ...sans.flatMap((s) => ["--san", s])]);
  return { key, req };
}

/**
 * The URL pki wants: scheme, host and port only. strongSwan 5.9.8 builds every request path as
 * `<url path>/.well-known/est/<operation>` itself and has no way to name a label (`--label` came
 * in 5.9.11), so only the gateway's default label is reachable.
 */
export function pkiUrl(env: EstEnv): string {
  // By address: stock Debian's /etc/hosts also maps localhost to ::1, which getaddrinfo returns first, and pki does
  // not fall back to 127.0.0.1, where the test gateway listens (the dev TLS certificate names both).
  const u = new URL(env.base);
  u.hostname = "127.0.0.1";
  return `${u.origin}/`;
}

/** `openssl x509 -noout -subject` of a DER certificate file. */
export async function derSubject(path: string): Promise<string> {
  const r = await opensslAsync(["x509", "-inform", "DER", "-in", path, "-noout", "-subject"]);
  if (r.code !== 0) throw new Error(`openssl x509 could not read ${path}:\n${r.out}`);
  return r.out.trim();
}

/** Verifies a DER certificate with `openssl verify` against the root and the issuing CA; returns it parsed. */
export async function verifyDer(env: EstEnv, der: Buffer, name: string): Promise<{ cert: X509Certificate; pemPath: string; verify: string }> {
  const cert = new X509Certificate(der);
  const pemPath = join(env.dir, `${name}.pem`);
  writeFileSync(pemPath, cert.toString());
  const v = await opensslAsync(["verify", "-CAfile", env.rootPem, "-untrusted", env.issuingPem, pemPath]);
  return { cert, pemPath, verify: v.out };
}

/**
 * A second gateway whose *default* label is `approve` (the approval profile of estEnv):
 * pki 5.9.8 cannot reach `/.well-known/est/approve/`, only `/.well-known/est/`.
 */
export function approvalEnv(retryAfterSeconds: number): Promise<EstEnv> {
  return estEnv({ defaultLabel: "approve", approveRetryAfterSeconds: retryAfterSeconds });
}
