import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Like `openssl` but returns stdout+stderr (OpenSSL prints verdicts such as "verify OK" on stderr) and the exit status. */
export function opensslStatus(args: string[], cwd?: string): { code: number; out: string } {
  const r = spawnSync("openssl", args, { cwd, stdio: ["pipe", "pipe", "pipe"] });
  if (r.error) throw r.error; // openssl missing: fail, never pass silently
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/**
 * Asynchronous form, for talking to a server in this same process: a synchronous
 * child would block the event loop the server needs to answer.
 */
export function opensslAsync(args: string[], timeoutMs = 20_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    execFile("openssl", args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT") reject(err);
      else resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

/** Runs the real OpenSSL CLI; returns stdout+stderr, throws with both when it fails. */
export function openssl(args: string[], opts: { cwd?: string } = {}): string {
  const r = opensslStatus(args, opts.cwd);
  if (r.code !== 0) throw new Error(`openssl ${args[0]} failed (${r.code}):\n${r.out}`);
  return r.out;
}

const made: string[] = [];

/** Removes every directory tempDir made (called after each test file by test/helpers/cleanup.ts). */
export function removeTempDirs(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A fresh directory, removed after the test file. */
export function tempDir(prefix = "gw-test-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

export type KeyKind = "ec-p256" | "ec-p384" | "rsa-1024" | "rsa-2048" | "rsa-3072" | "ed25519";

export function genKey(dir: string, name: string, kind: KeyKind = "ec-p256"): string {
  const path = join(dir, `${name}.key`);
  const args = kind.startsWith("ec")
    ? ["genpkey", "-algorithm", "EC", "-pkeyopt", `ec_paramgen_curve:${kind === "ec-p384" ? "P-384" : "P-256"}`]
    : kind === "ed25519" ? ["genpkey", "-algorithm", "ED25519"]
    : ["genpkey", "-algorithm", "RSA", "-pkeyopt", `rsa_keygen_bits:${kind.slice(4)}`];
  openssl([...args, "-out", path]);
  return path;
}

export interface CsrOptions {
  subject?: string;
  sans?: string[]; // "DNS:x", "IP:y", "email:z", "URI:u"
  digest?: "sha1" | "sha256" | "sha384";
  extraExt?: string[]; // e.g. "basicConstraints=critical,CA:TRUE"
  key?: KeyKind;
  /** An existing private key (PEM file) instead of a new one. */
  keyPath?: string;
  /** An OpenSSL config file (for sections that -addext values refer to). */
  config?: string;
}

/** Makes a real PKCS#10 with OpenSSL and returns its DER. */
export function makeCsr(dir: string, name: string, o: CsrOptions = {}): { der: Uint8Array; keyPath: string; pem: string } {
  const keyPath = o.keyPath ?? genKey(dir, name, o.key ?? "ec-p256");
  const args = ["req", "-new", ...(o.config ? ["-config", o.config] : []), "-key", keyPath, "-subj", o.subject ?? "/CN=ignored", `-${o.digest ?? "sha256"}`, "-outform", "PEM", "-out", join(dir, `${name}.csr`)];
  if (o.sans?.length) args.push("-addext", `subjectAltName=${o.sans.join(",")}`);
  for (const e of o.extraExt ?? []) args.push("-addext", e);
  openssl(args);
  const pem = readFileSync(join(dir, `${name}.csr`), "utf8");
  const der = new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s+/g, ""), "base64"));
  return { der, keyPath, pem };
}

export function writePem(dir: string, name: string, pem: string): string {
  const p = join(dir, name);
  writeFileSync(p, pem);
  return p;
}
