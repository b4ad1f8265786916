import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Express } from "express";
import { protocolFront, under, type Front } from "../../src/server/plain-http.js";
import { pemToDer } from "../../src/ca/authority.js";

const pemBlocks = (text: string) => (text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(pemToDer);
import type { EnrollmentSecrets } from "../../src/enrollment/secrets.js";
import type { Gateway } from "../../src/gateway.js";
import { resolveLabels } from "./label.js";
import { estRouter, estService } from "./router.js";

export const EST_BASE = "/.well-known/est";

/**
 * Mounts EST (RFC 7030) on the HTTPS app when enabled, and returns the same service as a front for the
 * HTTPS listener (served ahead of express; the TLS socket, hence client certificates and channel binding, is the same).
 */
export function mountEst(app: Express, gw: Gateway, secrets: EnrollmentSecrets): Front | undefined {
  const cfg = gw.config.est;
  if (!cfg.enabled) return undefined;
  const labels = resolveLabels(gw);
  // Server-generated keys are signed under the gateway's TLS identity (RFC 7030 §4.4.2), sent with its
  // chain: the rest of the configured PEM file, or the dev issuing CA that signed the generated one.
  const [certDer, ...chain] = pemBlocks(readFileSync(gw.paths.tls.cert, "utf8"));
  const envelopeSigner = { certDer, chain: gw.config.tls ? chain : [gw.cas.issuing[0].certDer], key: createPrivateKey(readFileSync(gw.paths.tls.key)) };
  // Our issuing CAs: a client certificate chaining to one must also be in the inventory, unrevoked.
  const ownAnchors = gw.cas.issuing.map((ca) => ca.cert);
  const serve = estService(cfg, labels, { gw, secrets, store: gw.store, ownAnchors, envelopeSigner });
  app.use(EST_BASE, estRouter(serve));
  return protocolFront(gw, (path) => under(path, EST_BASE), (req, res, ctx, rest) => serve(req, res, ctx, rest || "/"));
}

/** The base URL of every label, for the start banner and docs. */
export function estUrls(gw: Gateway): string[] {
  const cfg = gw.config.est;
  if (!cfg.enabled) return [];
  return cfg.labels.map((l) => (l.name === cfg.defaultLabel ? `${gw.urls.https}${EST_BASE}/` : `${gw.urls.https}${EST_BASE}/${l.name}/`));
}
