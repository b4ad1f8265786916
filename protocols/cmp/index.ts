import { join } from "node:path";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate, GeneralName, Name } from "@peculiar/asn1-x509";
import { decodeDer } from "./asn1/der-codec.js";
import { encodeDer } from "./asn1/der-encoder.js";
import "./asn1/x509.js";
import type { Express } from "express";
import { protocolFront, type Front } from "../../src/server/plain-http.js";
import { ensureSoftwareResponder } from "../../src/ca/responder.js";
import type { EnrollmentSecrets } from "../../src/enrollment/secrets.js";
import type { Gateway } from "../../src/gateway.js";
import type { CmpDeps } from "./context.js";
import { IssuedAudit } from "./issued-audit.js";
import { resolveLabels, type CmpLabel } from "./label.js";
import { MacKeyCache } from "./mac-cache.js";
import { MacKeyPool } from "./mac-pool.js";
import { MacThrottle } from "./mac-throttle.js";
import { cmpMetrics } from "./metrics.js";
import { cmpRoute, cmpRouter, cmpService as cmpHttp } from "./router.js";
import { TransactionTable } from "./transactions.js";

/**
 * Mounts CMP (RFC 9483 over HTTP) on the plain HTTP app when enabled (the messages protect themselves); returns
 * the same service as a front for the HTTP listener, served ahead of express, and close().
 */
export async function mountCmp(app: Express, gw: Gateway, secrets: EnrollmentSecrets): Promise<{ front: Front; close(): Promise<void> } | undefined> {
  const cfg = gw.config.cmp;
  if (!cfg.enabled) return undefined;
  const { labels, deps, close } = await cmpService(gw, secrets);
  const serve = cmpHttp(cfg, labels, deps);
  app.use(cmpRouter(cfg.defaultLabel, serve));
  return { front: protocolFront(gw, (path) => cmpRoute(cfg.defaultLabel, path), (req, res, ctx, name) => serve(req, res, ctx, name)), close };
}

/** What the router serves with: labels, dependencies, the sweep of unconfirmed certificates; close() stops both. */
export async function cmpService(gw: Gateway, secrets: EnrollmentSecrets): Promise<{ labels: Map<string, CmpLabel>; deps: CmpDeps; close(): Promise<void> }> {
  const cfg = gw.config.cmp;
  const labels = resolveLabels(gw);
  const { responder, created } = await ensureSoftwareResponder(gw.cas.issuing[0], join(gw.paths.data, "cmp"), "CMP Responder");
  if (created) gw.audit.record({ type: "cmp.responder.created", actor: "system", data: { subject: responder.cert.subject.replace(/\n/g, ", ") } });
  const responderName = new Uint8Array(AsnConvert.serialize(AsnConvert.parse(responder.certDer, Certificate).tbsCertificate.subject));
  const responderSender = new GeneralName({ directoryName: decodeDer(Name, responderName) });
  // Workers start on the first PasswordBasedMac and hold the process only while they work; close() stops them.
  const metrics = cmpMetrics(gw.metrics.registry, () => pool.pending);
  const pool = new MacKeyPool({ threads: cfg.macDerivation.threads, maxQueued: cfg.macDerivation.maxQueued, onDerive: (kind) => metrics.derivations.inc({ kind }) });
  const mac = { pool, cache: new MacKeyCache(cfg.macDerivation.keyCacheEntries), throttle: new MacThrottle(cfg.macFailures), metrics };
  const deps: CmpDeps = { gw, tx: new TransactionTable(24 * 3600_000), secrets, responder, responderSender, responderSenderDer: encodeDer(responderSender), mac, issued: new IssuedAudit(gw.audit) };
  // Certificates never confirmed are revoked when their wait ends (RFC 9483 §4.1.1).
  const timer = setInterval(() => {
    for (const t of deps.tx.expired()) {
      if (t.state !== "waitingConfirm" || !t.serial) continue;
      gw.audit.record({ type: "cmp.confirm.timeout", actor: "system", target: t.serial, data: { transactionId: t.id, revoked: cfg.revokeUnconfirmed } });
      if (cfg.revokeUnconfirmed) void gw.revocation.revoke(t.serial, "cessationOfOperation", "system:cmp-unconfirmed").catch(() => undefined);
    }
  }, Math.min(cfg.confirmWaitSeconds * 1000, 10_000));
  timer.unref();
  return {
    labels, deps,
    close: async () => {
      clearInterval(timer);
      await mac.pool.close();
    },
  };
}

export function cmpUrls(gw: Gateway): string[] {
  const cfg = gw.config.cmp;
  if (!cfg.enabled) return [];
  return cfg.labels.map((l) => (l.name === cfg.defaultLabel ? `${gw.urls.http}/.well-known/cmp` : `${gw.urls.http}/.well-known/cmp/p/${l.name}`));
}
