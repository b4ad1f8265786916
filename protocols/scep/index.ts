import type { Express } from "express";
import { protocolFront, type Front } from "../../src/server/plain-http.js";
import type { EnrollmentSecrets } from "../../src/enrollment/secrets.js";
import type { Gateway } from "../../src/gateway.js";
import { scepChallengeAdmin } from "./challenge-admin.js";
import { resolveEndpoints } from "./endpoint.js";
import { LEGACY_PATHS, scepRoute, scepRouter, scepService } from "./router.js";

/**
 * Mounts SCEP (RFC 8894) on the plain HTTP app when enabled (the messages protect themselves), and returns the
 * same service as a front for the HTTP listener, served ahead of express.
 */
export async function mountScep(app: Express, gw: Gateway, secrets: EnrollmentSecrets): Promise<Front | undefined> {
  const cfg = gw.config.scep;
  if (!cfg.enabled) return undefined;
  const endpoints = await resolveEndpoints(gw);
  const serve = scepService(cfg, endpoints, { gw, secrets });
  app.use(scepRouter(cfg.defaultEndpoint, serve));
  return protocolFront(gw, (path) => scepRoute(cfg.defaultEndpoint, path), (req, res, ctx, name) => serve(req, res, ctx, name));
}

/** The endpoint URLs, for the start banner. */
export function scepUrls(gw: Gateway): string[] {
  const cfg = gw.config.scep;
  if (!cfg.enabled) return [];
  return cfg.endpoints.map((e) => (e.name === cfg.defaultEndpoint ? `${gw.urls.http}/scep (also ${LEGACY_PATHS.join(", ")})` : `${gw.urls.http}/scep/${e.name}`));
}

/** One-time challenge minting (admin API and NDES-style page) on the HTTPS app. */
export function mountScepAdmin(app: Express, gw: Gateway, secrets: EnrollmentSecrets): void {
  if (gw.config.scep.enabled) app.use(scepChallengeAdmin(gw, secrets));
}
