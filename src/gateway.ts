import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { AuditLog } from "./audit/audit-log.js";
import { CaRegistry, caDirsUnder, loadAuthorities } from "./ca/authority.js";
import { IssuingEngine } from "./ca/engine.js";
import { initCaPair, issueTlsServerCert, writeSecretFile } from "./ca/init.js";
import { checkConfig } from "./config/check.js";
import { readSecret } from "./config/load.js";
import type { GatewayConfig } from "./config/schema.js";
import { EnrollmentService } from "./enrollment/service.js";
import { GatewayError } from "./errors.js";
import { ProfileSet } from "./policy/profile.js";
import { CrlPublisher } from "./revocation/crl.js";
import { RevocationService } from "./revocation/revoke.js";
import { Metrics } from "./server/metrics.js";
import { describeStore, openStore, sqlitePath } from "./store/open.js";
import { startEventSinks, type EventSinks } from "./events/index.js";
import { trackImplicitRenewals } from "./lifecycle/implicit-renewal.js";
import { RenewalMonitor } from "./lifecycle/monitor.js";
import { Retention } from "./lifecycle/retention.js";
import type { Store } from "./store/types.js";

export interface Gateway {
  config: GatewayConfig;
  log: Logger;
  store: Store;
  audit: AuditLog;
  cas: CaRegistry;
  profiles: ProfileSet;
  engine: IssuingEngine;
  enrollment: EnrollmentService;
  revocation: RevocationService;
  crls: CrlPublisher;
  metrics: Metrics;
  urls: { http: string; https: string };
  paths: { data: string; db: string; adminToken: string; tls: { cert: string; key: string } };
  /** The generated admin token, only on the start that created it (to print where it is, never the value). */
  createdAdminToken: boolean;
  /** Seals secrets that must be recoverable (CMP MAC secrets); `<dataDir>/secrets.key`, made on first start. */
  secretSealKey: Uint8Array;
  /** Audit events routed to webhooks, syslog and the log stream. */
  events: EventSinks;
  /** Renewals due and missed; `serve` starts its scans. */
  lifecycle: RenewalMonitor;
  /** Moves long-expired certificates to the archive; `serve` starts its schedule. */
  retention: Retention;
  close(): Promise<void>;
}

export function publicUrls(config: GatewayConfig): { http: string; https: string } {
  const strip = (u: string) => u.replace(/\/+$/, "");
  return {
    http: strip(config.externalUrl.http ?? `http://localhost:${config.listen.http.port}`),
    https: strip(config.externalUrl.https ?? `https://localhost:${config.listen.https.port}`),
  };
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * What opening is for. `serve` (the default) creates the first-start material (data dir, database, dev PKI, TLS
 * certificate, admin token, seal key) and records `config.loaded`; `prepare` (the `serve --workers` primary) does
 * the same without the event. CLI commands never make a PKI (a wrong data dir must not silently become a new,
 * empty one) and record nothing: `cli` may still make the admin token and seal key of a data dir, `read` makes
 * nothing at all (read-only commands leave the data dir, and the audit log they may be verifying, as they were).
 */
export type OpenMode = "serve" | "prepare" | "cli" | "read";

/**
 * Opens (and on first start creates) everything: data dir, database, dev PKI, TLS
 * material, admin token. A second start reuses all of it. The configuration is checked
 * (profiles, CAs, defaultProfile) before anything is created.
 */
export async function openGateway(config: GatewayConfig, log: Logger, mode: OpenMode = "serve"): Promise<Gateway> {
  const data = config.dataDir;
  const check = checkConfig(config, "start");
  if (check.problems.length) throw new GatewayError("RA_ERR_CONFIG", check.problems.length === 1 ? check.problems[0] : `the configuration has ${check.problems.length} problems:\n${check.problems.map((p) => `  - ${p}`).join("\n")}`);
  const creates = mode === "serve" || mode === "prepare";
  if (!creates && check.cas.createsDevPki) {
    throw new GatewayError("RA_ERR_CONFIG", `no CA in ${join(data, "cas")}: is this the gateway's data dir? (dataDir in the config, or --data-dir; \`gateway serve\` makes a development PKI, \`gateway ca init\` a real one)`);
  }
  if (mode !== "read") mkdirSync(data, { recursive: true, mode: 0o700 });
  const casDir = join(data, "cas");
  const paths = {
    data,
    db: sqlitePath(config, data),
    adminToken: join(data, "admin-token"),
    tls: { cert: config.tls?.certFile ?? join(data, "tls", "server.pem"), key: config.tls?.keyFile ?? join(data, "tls", "server-key.pem") },
  };
  if (mode === "read" && config.store.kind === "sqlite" && !existsSync(paths.db)) throw new GatewayError("RA_ERR_CONFIG", `no database at ${paths.db}`);
  const store = await openStore(config, data, (err) => log.error({ err: err.message }, "database connection error"));
  log.info({ store: describeStore(config, data) }, "store opened");
  const audit = new AuditLog(store, log);
  const events = startEventSinks({ config, store, audit, log });
  const urls = publicUrls(config);
  const profiles = new ProfileSet(check.profiles);

  let dirs = [...caDirsUnder(casDir), ...config.cas.map((c) => c.dir)];
  if (check.cas.createsDevPki) {
    await initCaPair({
      casDir, rootName: "dev-root", issuingName: "dev-issuing", rootSubject: config.devPki.rootSubject, issuingSubject: config.devPki.issuingSubject,
      keyAlgorithm: config.devPki.keyAlgorithm, httpBase: urls.http,
    });
    await audit.record({ type: "ca.initialized", actor: "system", target: "dev-issuing", data: { root: "dev-root", keyAlgorithm: config.devPki.keyAlgorithm, backend: "software", dev: true } });
    log.warn("created a development PKI with software keys; use `gateway ca init --pkcs11` for production");
    dirs = [...caDirsUnder(casDir), ...config.cas.map((c) => c.dir)];
  }
  const cas = await loadAuthorities(dirs);
  for (const p of profiles.all()) {
    if (!cas.find(p.issuer)) throw new GatewayError("RA_ERR_CONFIG", `profile ${p.name}: issuer ${p.issuer} is not a configured CA`);
  }

  if (creates && !config.tls && !existsSync(paths.tls.cert)) {
    const issuing = cas.issuing[0];
    await issueTlsServerCert(issuing, config.devPki.tlsNames, join(data, "tls"));
  }

  let createdAdminToken = false;
  if (mode !== "read" && !existsSync(paths.adminToken)) {
    const token = `gw_${randomBytes(32).toString("base64url")}`;
    writeSecretFile(paths.adminToken, `${token}\n`);
    createdAdminToken = true;
  }
  const sealPath = join(data, "secrets.key");
  if (mode !== "read" && !existsSync(sealPath)) writeSecretFile(sealPath, `${randomBytes(32).toString("base64")}\n`);
  // Read-only commands seal nothing: without the file they get an empty key, which any sealing refuses.
  const secretSealKey = existsSync(sealPath) ? new Uint8Array(Buffer.from(readFileSync(sealPath, "utf8").trim(), "base64")) : new Uint8Array(0);
  if (mode !== "read" && secretSealKey.length !== 32) throw new GatewayError("RA_ERR_CONFIG", `${sealPath} must hold 32 bytes, base64`);
  if (mode !== "read") {
    await ensureToken(store, "bootstrap", readFileSync(paths.adminToken, "utf8").trim());
    for (const t of config.admin.tokens) await ensureToken(store, t.name, readSecret(t.token, `admin.tokens.${t.name}`));
  }

  const metrics = new Metrics(store, config.expiryWarningDays);
  const engine = new IssuingEngine(cas, store, audit, urls, metrics);
  const crls = new CrlPublisher(store, cas, { validityHours: config.crl.validityHours, rebuildDelaySeconds: config.crl.rebuildDelaySeconds, log });
  const revocation = new RevocationService(store, cas, crls, audit);
  const enrollment = new EnrollmentService({ profiles, defaultProfile: config.defaultProfile }, engine, store, audit, metrics,
    async (serial, actor) => void (await revocation.revoke(serial, "superseded", actor)));
  trackImplicitRenewals(audit);
  const lifecycle = new RenewalMonitor(store, profiles, audit);
  metrics.watchRenewals(() => lifecycle.counts());
  const retention = new Retention(store, audit, config.retention);
  // Only a serving process records it: CLI commands (read-only ones above all: `audit verify`) must not grow the log.
  if (mode === "serve") await audit.record({ type: "config.loaded", actor: "system", data: { profiles: profiles.all().map((p) => p.name), cas: cas.all.map((c) => c.name), dataDir: data } });

  return {
    config, log, store, audit, cas, profiles, engine, enrollment, revocation, crls, metrics, urls, paths, createdAdminToken, secretSealKey, events, lifecycle, retention,
    async close() {
      await lifecycle.stop();
      await retention.stop();
      await crls.stop(); // a build in flight finishes; a pending one stays marked in the store
      await events.close();
      for (const ca of cas.all) {
        await ca.signer.close?.();
        await ca.ocsp?.signer.close?.();
      }
      await store.close();
    },
  };
}

/**
 * Makes the first-start material (data dir, database schema, dev PKI, TLS certificate, admin token, seal key,
 * SCEP RA and CMP responder keys) and closes again: the `serve --workers` primary runs this before forking, so no two workers race on creating
 * files, keys or the schema, and every worker only reads them. True when it created the admin token.
 */
export async function prepareGateway(config: GatewayConfig, log: Logger): Promise<boolean> {
  const gw = await openGateway(config, log, "prepare");
  try {
    // The protocol front-ends make their own first-start keys (SCEP RA, CMP responder): built once here too.
    const { buildApps } = await import("./server/apps.js");
    const apps = await buildApps(gw);
    await apps.acme?.drain();
    await apps.cmp?.close();
  } finally {
    await gw.close();
  }
  return gw.createdAdminToken;
}

async function ensureToken(store: Store, name: string, token: string): Promise<void> {
  const h = hashToken(token);
  if (await store.findAdminTokenByHash(h)) return;
  try {
    await store.insertAdminToken(`${name}-${h.slice(0, 8)}`, name, h);
  } catch (e) {
    // Another gateway on the same database inserted it between the look-up and the insert.
    if (!(await store.findAdminTokenByHash(h))) throw e;
  }
}
