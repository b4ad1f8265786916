import type { Express } from "express";
import type { Gateway } from "../../src/gateway.js";
import { AcmeContext, AcmeUrls } from "./context.js";
import { acmeHandler } from "./router.js";
import { createChallengeValidator } from "./validation/validator.js";

/**
 * Mounts every configured ACME endpoint: "default" at /acme, others at /acme/<name>. The listener
 * serves them through `ctx.front` ahead of express; the express mount answers the same way for an
 * app used on its own (tests). Returns the shared context (EAB keys for the admin API, drain for shutdown).
 */
export function mountAcme(app: Express, gw: Gateway): AcmeContext | undefined {
  const cfg = gw.config.acme;
  if (!cfg.enabled) return undefined;
  if (cfg.validation.insecureSkipValidation) gw.log.warn("acme.validation.insecureSkipValidation is on: every ACME challenge passes without being checked");
  const ctx = new AcmeContext(gw, cfg, createChallengeValidator(cfg.validation));
  // Read now, so the first request need not wait; a failure is retried by the first request (router.ts).
  ctx.loadNonceKey().catch((e: unknown) => gw.log.error({ err: e instanceof Error ? e.message : String(e) }, "ACME nonce key not loaded yet"));
  // Named endpoints first, so /acme/<name>/… is not taken for a resource of the default endpoint.
  const ordered = [...cfg.endpoints].sort((a, b) => Number(a.name === "default") - Number(b.name === "default"));
  for (const ep of ordered) {
    const urls = new AcmeUrls(gw, ep);
    const handle = acmeHandler(ctx, urls);
    ctx.endpoints.push({ basePath: urls.basePath, handle });
    app.use(urls.basePath, (req, res) => handle(req, res, { id: req.id, get log() { return req.log; } }, req.originalUrl));
  }
  return ctx;
}

export function acmeDirectoryUrls(gw: Gateway): string[] {
  if (!gw.config.acme.enabled) return [];
  return gw.config.acme.endpoints.map((ep) => new AcmeUrls(gw, ep).directory);
}
