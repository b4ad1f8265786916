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
  gw.metrics.signerCertificate("cmp-responder", responder.cert.validTo);
  if (created) await gw.audit.record({ type: "cmp.responder.created", actor: "system", data: { subject: responder.cert.subject.replace(/\n/g, ", ") } });
  const responderName = new Uint8Array(AsnConvert.serialize(AsnConvert.parse(responder.certDer, Certificate).tbsCertificate.subject));
  const responderSender = new GeneralName({ directoryName: decodeDer(Name, responderName) });
  // Workers start on the first PasswordBasedMac and hold the process only while they work; close() stops them.
  const metrics = cmpMetrics(gw.metrics.registry, () => pool.pending);
  const pool = new MacKeyPool({ threads: cfg.macDerivation.threads, maxQueued: cfg.macDerivation.maxQueued, onDerive: (kind) => metrics.derivations.inc({ kind }) });
  const mac = { pool, cache: new MacKeyCache(cfg.macDerivation.keyCacheEntries), throttle: new MacThrottle(cfg.macFailures), metrics };
  const tx = new TransactionTable(gw.store, { maxOpen: cfg.maxOpenTransactions, rememberMs: REMEMBER_MS }, gw.audit.commits);
  const deps: CmpDeps = { gw, tx, secrets, responder, responderSender, responderSenderDer: encodeDer(responderSender), mac, issued: new IssuedAudit(gw.audit) };
  const sweepMs = Math.min(cfg.confirmWaitSeconds * 1000, 10_000);
  let sweeping: Promise<void> | undefined;
  const timer = setInterval(() => {
    sweeping ??= sweep(gw, tx).catch((e) => gw.log.warn({ err: e instanceof Error ? e.message : String(e) }, "CMP transaction sweep failed")).finally(() => (sweeping = undefined));
  }, sweepMs);
  timer.unref();
  await tx.refreshCount();
  return {
    labels, deps,
    close: async () => {
      clearInterval(timer);
      await sweeping;
      await mac.pool.close();
    },
  };
}

const yieldTurn = () => new Promise<void>((r) => setImmediate(r));

/** transactionIDs are remembered this long after their transaction (transactionIdInUse). */
const REMEMBER_MS = 24 * 3600_000;
/**
 * Rows per statement of the sweep and statements per sweep: bounded work per tick (the rest waits for the next),
 * yielding between statements. Purging up to 50 000 IDs per tick (10 s at most) outpaces any enrollment rate.
 */
const SETTLE_BATCH = 100;
const PURGE_BATCH = 1000;
const MAX_BATCHES = 50;
/** How long a settle claim holds before another instance may take it over (its holder died mid-settle). */
const SETTLE_LEASE_MS = 60_000;

/**
 * Settles transactions whose time ran out, on whichever instance claims them first (one statement per batch, so
 * each is settled by one instance): a certificate never confirmed is revoked (RFC 9483 §4.1.1), a request still
 * waiting for approval is simply closed. Then forgets transactionIDs past their window, and recounts the open ones.
 */
export async function sweep(gw: Gateway, tx: TransactionTable): Promise<void> {
  const cfg = gw.config.cmp;
  for (let i = 0; i < MAX_BATCHES; i++) {
    const batch = await tx.expired(SETTLE_BATCH, SETTLE_LEASE_MS);
    for (const t of batch) {
      if (t.state === "waitingConfirm" && t.serial) {
        await gw.audit.record({ type: "cmp.confirm.timeout", actor: "system", target: t.serial, data: { transactionId: t.id, revoked: cfg.revokeUnconfirmed } });
        if (cfg.revokeUnconfirmed) await gw.revocation.revoke(t.serial, "cessationOfOperation", "system:cmp-unconfirmed").catch(() => undefined);
      }
      await tx.settled(t.id);
    }
    if (batch.length < SETTLE_BATCH) break;
    await yieldTurn();
  }
  for (let i = 0; i < MAX_BATCHES && (await tx.purge(PURGE_BATCH)) === PURGE_BATCH; i++) await yieldTurn();
  await tx.refreshCount();
}

export function cmpUrls(gw: Gateway): string[] {
  const cfg = gw.config.cmp;
  if (!cfg.enabled) return [];
  return cfg.labels.map((l) => (l.name === cfg.defaultLabel ? `${gw.urls.http}/.well-known/cmp` : `${gw.urls.http}/.well-known/cmp/p/${l.name}`));
}
