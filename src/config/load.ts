import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { GatewayError } from "../errors.js";
import { didYouMean } from "./did-you-mean.js";
import { configSchema, type GatewayConfig, type SecretRef } from "./schema.js";

export interface LoadedConfig {
  config: GatewayConfig;
  /** Where it came from: a path, or "defaults". */
  source: string;
}

/** Loads YAML from `path` (or the defaults when none), validates it and resolves relative paths against the file. */
export function loadConfig(path: string | undefined, overrides: { dataDir?: string } = {}): LoadedConfig {
  let raw: unknown = {};
  let base = process.cwd();
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (e) {
      throw new GatewayError("RA_ERR_CONFIG", `cannot read config file ${path}: ${(e as Error).message}`);
    }
    try {
      raw = parseYaml(text) ?? {};
    } catch (e) {
      throw new GatewayError("RA_ERR_CONFIG", `config file ${path} is not valid YAML: ${(e as Error).message}`);
    }
    base = dirname(resolve(path));
  }
  const config = validateConfig(raw);
  resolvePaths(config, base, overrides.dataDir);
  return { config, source: path ? resolve(path) : "defaults" };
}

/**
 * Every path of the file is taken relative to the file's own directory (not to the working directory, which
 * differs between a shell, systemd and a container): data and profile directories, TLS files, CA directories,
 * trust anchors, SCEP RA and next-CA files, and `{ file: ... }` secrets. `--data-dir` is relative to the shell.
 */
export function resolvePaths(config: GatewayConfig, base: string, dataDirOverride?: string): void {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  config.dataDir = dataDirOverride ? resolve(dataDirOverride) : abs(config.dataDir);
  config.profilesDir = abs(config.profilesDir);
  if (config.tls) config.tls = { certFile: abs(config.tls.certFile), keyFile: abs(config.tls.keyFile) };
  config.cas = config.cas.map((c) => ({ dir: abs(c.dir) }));
  if (config.store.kind === "sqlite" && config.store.path) config.store = { ...config.store, path: abs(config.store.path) };
  for (const l of config.est.labels) l.auth.trustAnchors = l.auth.trustAnchors.map(abs);
  for (const l of config.cmp.labels) l.trustAnchors = l.trustAnchors.map(abs);
  for (const e of config.scep.endpoints) {
    if (e.nextCaCertFile) e.nextCaCertFile = abs(e.nextCaCertFile);
    if (e.ra) e.ra = { certFile: abs(e.ra.certFile), key: e.ra.key.type === "software" ? { ...e.ra.key, keyFile: abs(e.ra.key.keyFile) } : e.ra.key };
  }
  resolveSecretFiles(config, abs);
}

/** `{ file: PATH }` secrets anywhere in the tree (the only objects whose one key is `file`). */
function resolveSecretFiles(node: unknown, abs: (p: string) => string): void {
  if (Array.isArray(node)) {
    for (const v of node) resolveSecretFiles(v, abs);
    return;
  }
  if (!node || typeof node !== "object") return;
  const o = node as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1 && keys[0] === "file" && typeof o.file === "string") {
    o.file = abs(o.file);
    return;
  }
  for (const v of Object.values(o)) resolveSecretFiles(v, abs);
}

export function validateConfig(raw: unknown): GatewayConfig {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new GatewayError("RA_ERR_CONFIG", `invalid configuration:\n${formatIssues(result.error.issues, configSchema)}`);
  }
  return result.data;
}

/**
 * One line per problem, each naming the key path, e.g. `listen.https.port: expected number, received string`;
 * an unknown key close to a known one (with `schema`) gets "did you mean".
 */
export function issueLines(issues: readonly z.core.$ZodIssue[], schema?: z.ZodType): string[] {
  return issues.map((i) => {
    const path = i.path.length ? i.path.map(String).join(".") : "(top level)";
    const keys = i.code === "unrecognized_keys" ? ` (${i.keys.map((k) => `${k}${schema ? didYouMean(schema, i.path, k).replace(/^ \((.*)\)$/, ": $1") : ""}`).join(", ")})` : "";
    return `${path}: ${i.message}${keys}`;
  });
}

export function formatIssues(issues: readonly z.core.$ZodIssue[], schema?: z.ZodType): string {
  return issueLines(issues, schema).map((l) => `  - ${l}`).join("\n");
}

/** Resolves an inline / env / file secret. The value is never logged. */
export function readSecret(ref: SecretRef, what: string): string {
  if (typeof ref === "string") return ref;
  if ("env" in ref) {
    const v = process.env[ref.env];
    if (!v) throw new GatewayError("RA_ERR_CONFIG", `${what}: environment variable ${ref.env} is not set`);
    return v;
  }
  try {
    return readFileSync(ref.file, "utf8").trim();
  } catch (e) {
    throw new GatewayError("RA_ERR_CONFIG", `${what}: cannot read secret file ${ref.file}: ${(e as NodeJS.ErrnoException).code ?? "error"}`);
  }
}
