import express, { type NextFunction, type Request, type Response, type Router } from "express";
import { bodyParserError } from "../../src/server/middleware.js";
import { GatewayError, toGatewayError } from "../../src/errors.js";
import { keyChange, listOrders, newAccount, updateAccount } from "./accounts.js";
import { renewalInfo } from "./ari.js";
import { postAuthz, postChallenge } from "./authz.js";
import { downloadCertificate, revokeCert } from "./certs.js";
import type { AcmeContext, AcmeUrls } from "./context.js";
import { finalize, getOrder, newOrder, offeredProfiles } from "./orders.js";
import { toProblem } from "./problems.js";
import type { AcmeReply } from "./reply.js";
import { readSigned, type KeyMode, type SignedRequest } from "./signed-request.js";

type Handler = (r: SignedRequest, req: Request) => AcmeReply | Promise<AcmeReply>;

function linkHeader(links: Array<{ url: string; rel: string }>): string {
  return links.map((l) => `<${l.url}>;rel="${l.rel}"`).join(", ");
}

/** One ACME endpoint (RFC 8555 §7.1): every answer carries a fresh nonce and the directory link. */
export function acmeRouter(ctx: AcmeContext, urls: AcmeUrls): Router {
  const r = express.Router({ strict: true });

  // Written directly (no ETag hashing, no content negotiation): ACME answers are never cached.
  const send = (res: Response, reply: AcmeReply) => {
    const links = [{ url: urls.directory, rel: "index" }, ...(reply.links ?? [])];
    res.setHeader("Link", linkHeader(links));
    if (reply.location) res.setHeader("Location", reply.location);
    if (reply.retryAfterSeconds) res.setHeader("Retry-After", String(reply.retryAfterSeconds));
    res.statusCode = reply.status ?? 200;
    const body = reply.body ?? (reply.json !== undefined ? JSON.stringify(reply.json) : undefined);
    if (body === undefined) {
      res.end();
      return;
    }
    res.setHeader("Content-Type", reply.body !== undefined ? reply.contentType ?? "text/plain" : "application/json");
    res.setHeader("Content-Length", Buffer.byteLength(body));
    res.end(body);
  };

  const fail = (req: Request, res: Response, err: unknown) => {
    const e = bodyParserError(err) ?? toGatewayError(err);
    const p = toProblem(e);
    if (p.status >= 500) req.log?.error({ code: e.code, detail: e.detail, err: err instanceof Error ? err.message : String(err) }, "ACME internal error");
    else req.log?.info({ code: e.code, type: p.body.type }, e.message);
    res.setHeader("Link", linkHeader([{ url: urls.directory, rel: "index" }]));
    if (p.retryAfterSeconds) res.setHeader("Retry-After", String(p.retryAfterSeconds));
    if (p.location) res.setHeader("Location", p.location);
    const body = JSON.stringify(p.body);
    res.statusCode = p.status;
    res.setHeader("Content-Type", "application/problem+json");
    res.setHeader("Content-Length", Buffer.byteLength(body));
    res.end(body);
  };

  // Every response, errors included, carries a fresh nonce (§6.5); per-address limits come first.
  r.use((req, res, next) => {
    res.setHeader("Cache-Control", "no-store");
    try {
      res.setHeader("Replay-Nonce", ctx.newNonce());
      ctx.addressLimit?.take(`address:${req.socket.remoteAddress ?? "unknown"}`);
      next();
    } catch (e) {
      fail(req, res, e);
    }
  });

  const raw = express.raw({ type: () => true, limit: ctx.cfg.maxBodyBytes });
  const signed = (path: string, mode: KeyMode, h: Handler) => {
    r.post(path, raw, (req, res) => {
      Promise.resolve()
        .then(() => h(readSigned(ctx, urls, req, mode), req))
        .then((reply) => send(res, reply), (e) => fail(req, res, e));
    });
  };

  r.get("/directory", (_req, res) => {
    const ep = urls.endpoint;
    send(res, {
      json: {
        newNonce: urls.newNonce, newAccount: urls.newAccount, newOrder: urls.newOrder, revokeCert: urls.revokeCert,
        keyChange: urls.keyChange, renewalInfo: urls.renewalInfo,
        meta: {
          ...(ep.termsOfService ? { termsOfService: ep.termsOfService } : {}),
          ...(ep.website ? { website: ep.website } : {}),
          caaIdentities: ep.caaIdentities,
          externalAccountRequired: ep.externalAccountRequired,
          profiles: Object.fromEntries(offeredProfiles(ctx, urls).map((p) => [p.name, p.description || p.name])),
        },
      },
    });
  });
  // §7.2: HEAD answers 200, GET 204; both only carry the nonce.
  r.head("/new-nonce", (_req, res) => send(res, { status: 200 }));
  r.get("/new-nonce", (_req, res) => send(res, { status: 204 }));
  r.get("/renewal-info/:certId", (req, res) => {
    try {
      send(res, renewalInfo(ctx.gw, String(req.params.certId), ctx.cfg.ariExplanationUrl));
    } catch (e) {
      fail(req, res, e);
    }
  });

  signed("/new-account", "jwk", (s) => newAccount(ctx, urls, s));
  signed("/acct/:id", "kid", (s, req) => updateAccount(ctx, urls, s, String(req.params.id)));
  signed("/acct/:id/orders", "kid", (s, req) => listOrders(ctx, urls, s, String(req.params.id), typeof req.query.after === "string" ? req.query.after : undefined));
  signed("/key-change", "kid", (s) => keyChange(ctx, urls, s));
  signed("/new-order", "kid", (s) => newOrder(ctx, urls, s));
  signed("/order/:id", "kid", (s, req) => getOrder(ctx, urls, s, String(req.params.id)));
  signed("/order/:id/finalize", "kid", (s, req) => finalize(ctx, urls, s, String(req.params.id)));
  signed("/authz/:id", "kid", (s, req) => postAuthz(ctx, urls, s, String(req.params.id)));
  signed("/chall/:id/:type", "kid", (s, req) => postChallenge(ctx, urls, s, String(req.params.id), String(req.params.type)));
  signed("/cert/:serial", "kid", (s, req) => downloadCertificate(ctx, urls, s, String(req.params.serial), 0));
  signed("/cert/:serial/:alt", "kid", (s, req) => downloadCertificate(ctx, urls, s, String(req.params.serial), Number(req.params.alt)));
  signed("/revoke-cert", "either", (s) => revokeCert(ctx, s));

  // Anything else under the endpoint: a problem document, never the HTML default.
  r.use((req, res) => {
    if (/^\/(new-account|new-order|revoke-cert|key-change|acct\/|order\/|authz\/|chall\/|cert\/)/.test(req.path)) {
      res.setHeader("Allow", "POST");
      fail(req, res, new GatewayError("RA_ERR_METHOD_NOT_ALLOWED", `${req.method} is not allowed here; ACME resources take POST (or POST-as-GET)`));
      return;
    }
    fail(req, res, new GatewayError("RA_ERR_NOT_FOUND", `no ACME resource at ${req.path}`));
  });
  // Body-parser failures (size cap, aborted uploads) are ACME problems too.
  r.use((err: unknown, req: Request, res: Response, _next: NextFunction) => fail(req, res, err));
  return r;
}
