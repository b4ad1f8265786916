import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { GatewayError } from "../errors.js";
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
  if (overrides.dataDir) config.dataDir = overrides.dataDir;
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  config.dataDir = overrides.dataDir ? resolve(overrides.dataDir) : abs(config.dataDir);
  config.profilesDir = abs(config.profilesDir);
  if (config.tls) config.tls = { certFile: abs(config.tls.certFile), keyFile: abs(config.tls.keyFile) };
  config.cas = config.cas.map((c) => ({ dir: abs(c.dir) }));
  if (config.store.kind === "sqlite" && config.store.path) config.store = { ...config.store, path: abs(config.store.path) };
  return { config, source: path ? resolve(path) : "defaults" };
}

export function validateConfig(raw: unknown): GatewayConfig {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new GatewayError("RA_ERR_CONFIG", `invalid configuration:\n${formatIssues(result.error.issues)}`);
  }
  return result.data;
}

/** One line per problem, each naming the key path, e.g. `listen.https.port: expected number, received string`. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((i) => {
      const path = i.path.length ? i.path.map(String).join(".") : "(top level)";
      const keys = i.code === "unrecognized_keys" ? ` (${i.keys.join(", ")})` : "";
      return `  - ${path}: ${i.message}${keys}`;
    })
    .join("\n");
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
