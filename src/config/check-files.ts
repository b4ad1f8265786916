import { readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { GatewayConfig } from "./schema.js";

/** Larger than any certificate bundle, key or secret file: a mistaken path to a disk image is not read whole. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

/**
 * Reads a file the configuration names, or adds a problem naming the key (`what`) and the path. With `pem`,
 * the file must also hold a PEM block of that label. Contents never appear in a problem (they may be keys).
 */
export function readable(path: string, what: string, problems: string[], pem?: "CERTIFICATE" | "KEY"): string | undefined {
  let text: string;
  try {
    const size = statSync(path).size;
    if (size > MAX_FILE_BYTES) {
      problems.push(`${what}: ${path} is ${size} bytes, more than a ${pem === "KEY" ? "key" : "certificate"} file can be`);
      return undefined;
    }
    text = readFileSync(path, "utf8");
  } catch (e) {
    problems.push(`${what}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? "error"})`);
    return undefined;
  }
  if (pem === "CERTIFICATE" && !/-----BEGIN CERTIFICATE-----/.test(text)) problems.push(`${what}: ${path} holds no PEM certificate`);
  if (pem === "KEY" && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) problems.push(`${what}: ${path} holds no PEM private key`);
  return text;
}

/** The sections whose `{ env }` secrets `serve` does not read: disabled protocols, and `pkcs11.pin` (for `ca init`). */
export function unreadAtStart(config: GatewayConfig): (path: string[]) => boolean {
  return ([top, second]) => ((top === "acme" || top === "est" || top === "scep" || top === "cmp") && !config[top].enabled) || (top === "pkcs11" && second === "pin");
}

/**
 * Every `{ file }` and `{ env }` secret of the configuration: a file must be readable and not empty, a variable
 * set and not empty. A `{ file }` secret is checked wherever it is; an `{ env }` one only where `serve` reads it
 * (check-config may run in another environment, but a file path that does not exist is a mistake anywhere).
 */
export function checkSecretRefs(root: unknown, at: string[], problems: string[], envUnread: (path: string[]) => boolean = () => false): void {
  const walk = (node: unknown, path: string[]): void => {
    if (Array.isArray(node)) {
      node.forEach((v, i) => walk(v, [...path, nameOf(v) ?? String(i)]));
      return;
    }
    if (!node || typeof node !== "object") return;
    const o = node as Record<string, unknown>;
    const keys = Object.keys(o);
    const where = path.join(".");
    if (keys.length === 1 && keys[0] === "file" && typeof o.file === "string") {
      const text = readable(o.file, where, problems);
      if (text !== undefined && !text.trim()) problems.push(`${where}: secret file ${o.file} is empty`);
      return;
    }
    if (keys.length === 1 && keys[0] === "env" && typeof o.env === "string") {
      if (!envUnread(path) && !process.env[o.env]) problems.push(`${where}: environment variable ${o.env} is not set`);
      return;
    }
    for (const [k, v] of Object.entries(o)) walk(v, [...path, k]);
  };
  walk(root, at);
}

/** Array entries are named by their `name` (or `kid`) in problems: `est.labels.default.auth.users.router1.password`. */
function nameOf(v: unknown): string | undefined {
  if (!v || typeof v !== "object") return undefined;
  const o = v as { name?: unknown; kid?: unknown };
  return typeof o.name === "string" ? o.name : typeof o.kid === "string" ? o.kid : undefined;
}

/** TLS files, trust anchors, SCEP RA and next-CA files of the enabled protocols. */
export function checkConfiguredFiles(config: GatewayConfig, problems: string[]): void {
  if (config.tls) {
    readable(config.tls.certFile, "tls.certFile", problems, "CERTIFICATE");
    readable(config.tls.keyFile, "tls.keyFile", problems, "KEY");
  }
  if (config.est.enabled) {
    for (const l of config.est.labels) l.auth.trustAnchors.forEach((f, i) => readable(f, `est.labels.${l.name}.auth.trustAnchors.${i}`, problems, "CERTIFICATE"));
  }
  if (config.cmp.enabled) {
    for (const l of config.cmp.labels) l.trustAnchors.forEach((f, i) => readable(f, `cmp.labels.${l.name}.trustAnchors.${i}`, problems, "CERTIFICATE"));
  }
  if (config.scep.enabled) {
    for (const e of config.scep.endpoints) {
      const where = `scep.endpoints.${e.name}`;
      if (e.nextCaCertFile) readable(e.nextCaCertFile, `${where}.nextCaCertFile`, problems, "CERTIFICATE");
      if (e.ra) {
        readable(e.ra.certFile, `${where}.ra.certFile`, problems, "CERTIFICATE");
        if (e.ra.key.type === "software") readable(e.ra.key.keyFile, `${where}.ra.key.keyFile`, problems, "KEY");
      }
    }
  }
}

/** What a CA directory's ca.json names, relative to that directory (`gateway ca init` writes it). */
export interface CaDescriptorFiles {
  certFile: string;
  chainFiles?: string[];
  signer: { type: string; keyFile?: string; pin?: unknown };
  ocsp?: { certFile: string; signer: { type: string; keyFile?: string; pin?: unknown } };
}

/** The certificate and software key files of one CA descriptor. */
export function checkCaFiles(dir: string, d: CaDescriptorFiles, name: string, problems: string[]): void {
  const at = (f: string) => resolve(dir, f);
  readable(at(d.certFile), `CA ${name} (${join(dir, "ca.json")}) certFile`, problems, "CERTIFICATE");
  for (const f of d.chainFiles ?? []) readable(at(f), `CA ${name} chainFiles`, problems, "CERTIFICATE");
  const signer = (s: CaDescriptorFiles["signer"], what: string) => {
    if (s.type === "software" && s.keyFile) readable(at(s.keyFile), `CA ${name} ${what}.keyFile`, problems, "KEY");
    checkSecretRefs(s.pin, [`CA ${name} ${what}.pin`], problems); // PKCS#11 PIN file or variable, read at start
  };
  signer(d.signer, "signer");
  if (d.ocsp) {
    readable(at(d.ocsp.certFile), `CA ${name} ocsp.certFile`, problems, "CERTIFICATE");
    signer(d.ocsp.signer, "ocsp.signer");
  }
}
