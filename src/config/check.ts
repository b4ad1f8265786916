import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadProfileDir, type Profile } from "../policy/profile.js";
import { checkCaFiles, checkConfiguredFiles, checkSecretRefs, unreadAtStart, type CaDescriptorFiles } from "./check-files.js";
import { closest } from "./did-you-mean.js";
import type { GatewayConfig } from "./schema.js";

/** The CAs a start would load: what ca.json files say, without opening any key. */
export interface CaInventory {
  names: string[];
  issuing: string[];
  /** No issuing CA exists and devPki.enabled: the start would create dev-root and dev-issuing. */
  createsDevPki: boolean;
  /** The CA directories whose ca.json was read. */
  dirs: string[];
}

export interface CheckResult {
  /** Each a refusal; `serve` starts only when there is none. */
  problems: string[];
  /** Worth saying at start, not a reason to refuse. */
  warnings: string[];
  profiles: Profile[];
  cas: CaInventory;
}

/**
 * Everything `serve` would refuse, found without creating anything, all of it (not only the first).
 * "start" is what opening the gateway needs (profiles, CAs, defaultProfile: every CLI command); "serve" adds the
 * protocol endpoints' profiles, every file the configuration names, every secret, and the listeners.
 */
export function checkConfig(config: GatewayConfig, scope: "start" | "serve" = "serve"): CheckResult {
  const problems: string[] = [];
  const warnings: string[] = [];
  const loaded = loadProfileDir(config.profilesDir);
  problems.push(...loaded.problems);
  const profiles = new Map(loaded.profiles.map((p) => [p.name, p]));
  // A broken profile file is reported as itself; the name it would have defined is not "missing" on top of that
  // (nor any name at all when the directory cannot be read).
  const unknowable = (name: string) => loaded.broken.includes(name) || (loaded.profiles.length === 0 && loaded.problems.length > 0);
  const ref = (name: string, where: string, protocol?: string) => {
    const p = profiles.get(name);
    if (!p) {
      if (!unknowable(name)) {
        const near = closest(name, profiles.keys());
        problems.push(`${where}: no profile named ${name}${near ? ` (did you mean ${near}?)` : ""}; profiles: ${[...profiles.keys()].join(", ") || "none"}`);
      }
      return;
    }
    if (protocol && !p.protocols.includes(protocol as Profile["protocols"][number])) {
      problems.push(`${where}: profile ${name} is not offered over ${protocol} (its protocols: ${p.protocols.join(", ")})`);
    }
  };

  ref(config.defaultProfile, "defaultProfile");
  const cas = caInventory(config, problems, scope === "serve");
  for (const p of loaded.profiles) {
    const known = p.issuer === "default" ? cas.issuing.length > 0 || cas.createsDevPki : cas.names.includes(p.issuer);
    if (!known) {
      const near = closest(p.issuer, cas.names);
      problems.push(`profile ${p.name}: issuer ${p.issuer} is not a configured CA${near ? ` (did you mean ${near}?)` : ""}; CAs: ${cas.names.join(", ") || "none"}`);
    }
    // A webhook secret that cannot be read stops the start, not the first enrollment.
    checkSecretRefs(p.authorization?.webhook.hmacSecret, [`profile ${p.name}: authorization.webhook.hmacSecret`], problems);
  }
  if (scope === "start") return { problems, warnings, profiles: loaded.profiles, cas };

  checkEndpoints(config, ref, problems);
  checkConfiguredFiles(config, problems);
  checkSecretRefs(config, [], problems, unreadAtStart(config));
  for (const p of loaded.profiles) {
    for (const [format, files] of Object.entries(p.attestation?.roots ?? {})) {
      for (const f of files ?? []) readAnchor(f, `profile ${p.name} (${loaded.files.get(p.name)}): attestation.roots.${format}`, problems);
    }
  }
  const { https, http } = config.listen;
  if (https.port !== 0 && https.port === http.port) problems.push(`listen: https and http both ask for port ${https.port}`);
  const warning = externalUrlWarning(config);
  if (warning) warnings.push(warning);
  return { problems, warnings, profiles: loaded.profiles, cas };
}

function readAnchor(path: string, what: string, problems: string[]): void {
  try {
    if (!/-----BEGIN CERTIFICATE-----/.test(readFileSync(path, "utf8"))) problems.push(`${what}: ${path} holds no PEM certificate`);
  } catch (e) {
    problems.push(`${what}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? "error"})`);
  }
}

/** Each enabled front-end's profiles exist and are offered over its protocol. */
function checkEndpoints(config: GatewayConfig, ref: (name: string, where: string, protocol?: string) => void, problems: string[]): void {
  if (config.acme.enabled) {
    for (const e of config.acme.endpoints) {
      const where = `acme.endpoints.${e.name}`;
      for (const name of e.profiles ?? []) ref(name, `${where}.profiles`, "acme");
      if (e.defaultProfile) {
        ref(e.defaultProfile, `${where}.defaultProfile`, "acme");
        if (e.profiles && !e.profiles.includes(e.defaultProfile)) problems.push(`${where}.defaultProfile: ${e.defaultProfile} is not among this endpoint's profiles (${e.profiles.join(", ")})`);
      } else if (!e.externalAccountRequired) {
        // A client that names no profile (certbot) gets the global defaultProfile here: it must be offered.
        ref(config.defaultProfile, `${where} (no defaultProfile: orders that name no profile use the global defaultProfile ${config.defaultProfile})`, "acme");
      }
    }
  }
  if (config.est.enabled) for (const l of config.est.labels) ref(l.profile, `est.labels.${l.name}.profile`, "est");
  if (config.scep.enabled) for (const e of config.scep.endpoints) ref(e.profile, `scep.endpoints.${e.name}.profile`, "scep");
  if (config.cmp.enabled) for (const l of config.cmp.labels) ref(l.profile, `cmp.labels.${l.name}.profile`, "cmp");
}

/** The CA directories a start loads: every directory under `<dataDir>/cas` with a ca.json, and `cas[].dir`. */
export function caInventory(config: GatewayConfig, problems: string[], files = false): CaInventory {
  const root = join(config.dataDir, "cas");
  const under = existsSync(root) ? readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(root, e.name)).sort() : [];
  const names: string[] = [];
  const issuing: string[] = [];
  const dirs: string[] = [];
  const visit = (dir: string, where?: string) => {
    const path = join(dir, "ca.json");
    if (!existsSync(path)) {
      if (where) problems.push(`${where}: ${dir} holds no ca.json (make one with \`gateway ca init\`)`);
      return;
    }
    let d: CaDescriptorFiles & { name?: unknown; role?: unknown };
    try {
      d = JSON.parse(readFileSync(path, "utf8")) as typeof d;
    } catch (e) {
      problems.push(`${where ?? "CA"} ${path}: ${(e as Error).message}`);
      return;
    }
    if (typeof d.name !== "string" || (d.role !== "root" && d.role !== "issuing")) {
      problems.push(`${path}: needs a name and a role (root or issuing)`);
      return;
    }
    if (names.includes(d.name)) problems.push(`two CAs are named ${d.name} (${path})`);
    names.push(d.name);
    if (d.role === "issuing") issuing.push(d.name);
    dirs.push(dir);
    if (files && typeof d.certFile === "string" && d.signer && typeof d.signer === "object") checkCaFiles(dir, d, d.name, problems);
  };
  for (const dir of under) visit(dir);
  config.cas.forEach((c, i) => visit(c.dir, `cas.${i}.dir`));
  const createsDevPki = issuing.length === 0 && config.devPki.enabled;
  if (issuing.length === 0 && !config.devPki.enabled) {
    problems.push(`no issuing CA in ${root}${config.cas.length ? " or cas[].dir" : ""} and devPki.enabled is false: make one with \`gateway ca init\``);
  }
  if (createsDevPki) names.push("dev-root", "dev-issuing");
  return { names, issuing: createsDevPki ? ["dev-issuing"] : issuing, createsDevPki, dirs };
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[?::1\]?)$/i;

/**
 * externalUrl goes into every certificate (CRL, OCSP and CA-issuer URLs): still pointing at this machine's
 * loopback while a listener takes connections from other machines, it gives them URLs they cannot reach.
 */
export function externalUrlWarning(config: GatewayConfig): string | undefined {
  const stale: string[] = [];
  for (const kind of ["https", "http"] as const) {
    const url = config.externalUrl[kind] ?? `${kind}://localhost:${config.listen[kind].port}`;
    let host: string;
    try {
      host = new URL(url).hostname;
    } catch {
      continue;
    }
    if (LOOPBACK.test(host) && !LOOPBACK.test(config.listen[kind].host)) stale.push(`externalUrl.${kind} is ${url} while listen.${kind} binds ${config.listen[kind].host}`);
  }
  return stale.length
    ? `${stale.join("; ")}: certificates carry CRL/OCSP/CA-issuer URLs other machines cannot reach; set externalUrl to the name clients use`
    : undefined;
}
