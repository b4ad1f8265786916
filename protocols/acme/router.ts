import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestContext } from "../../src/server/middleware.js";
import { GatewayError, toGatewayError } from "../../src/errors.js";
import { noteRefusal } from "../../src/server/request-context.js";
import { keyChange, listOrders, newAccount, updateAccount } from "./accounts.js";
import { renewalInfo } from "./ari.js";
import { postAuthz, postChallenge } from "./authz.js";
import { downloadCertificate, revokeCert } from "./certs.js";
import type { AcmeContext, AcmeUrls } from "./context.js";
import { readBody } from "./http-body.js";
import { finalize, getOrder, newOrder, offeredProfiles } from "./orders.js";
import { toProblem } from "./problems.js";
import type { AcmeReply } from "./reply.js";
import { readSigned, type KeyMode, type SignedRequest } from "./signed-request.js";

/**
 * Serves one request for an ACME endpoint. `url` is the path and query as the client sent them
 * (starting with the endpoint's base path); `rc` carries the request id and logger.
 */
export type AcmeHandler = (req: IncomingMessage, res: ServerResponse, rc: RequestContext, url: string) => void;

type Handler = (r: SignedRequest, params: string[], query: string) => Promise<AcmeReply>;
interface SignedRoute { mode: KeyMode; handle: Handler; params: string[] }

const RESOURCE = /^\/(new-account|new-order|revoke-cert|key-change|acct\/|order\/|authz\/|chall\/|cert\/)/;

function linkHeader(links: Array<{ url: string; rel: string }>): string {
  return links.map((l) => `<${l.url}>;rel="${l.rel}"`).join(", ");
}

/** A path segment as express decoded route parameters; undefined when empty or badly escaped. */
function param(s: string | undefined): string | undefined {
  if (!s) return undefined;
  if (!s.includes("%")) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

function queryParam(query: string, name: string): string | undefined {
  return query ? new URLSearchParams(query).get(name) ?? undefined : undefined;
}

/**
 * One ACME endpoint (RFC 8555 §7.1) on plain node req/res: ACME answers are JSON written directly, so no
 * framework sits between the socket and the handler. Every answer, errors included, carries a fresh nonce
 * and the directory link.
 */
export function acmeHandler(ctx: AcmeContext, urls: AcmeUrls): AcmeHandler {
  // Every header in one writeHead array (Node's fast path: no header object, no per-header setHeader checks
  // twice). No ETag hashing, no content negotiation: ACME answers are never cached.
  const head = (rc: RequestContext, nonce: string | undefined, link: string): Array<string | number> => {
    const h: Array<string | number> = ["Cache-Control", "no-store", "X-Request-Id", rc.id, "Link", link];
    if (nonce !== undefined) h.push("Replay-Nonce", nonce);
    return h;
  };
  const write = (res: ServerResponse, status: number, h: Array<string | number>, body: string | undefined, contentType: string) => {
    if (body === undefined) {
      res.writeHead(status, h);
      res.end();
      return;
    }
    h.push("Content-Type", contentType, "Content-Length", Buffer.byteLength(body));
    res.writeHead(status, h);
    res.end(body);
  };
  const send = (rc: RequestContext, res: ServerResponse, nonce: string, reply: AcmeReply) => {
    const h = head(rc, nonce, reply.links?.length ? linkHeader([{ url: urls.directory, rel: "index" }, ...reply.links]) : indexLink());
    if (reply.location) h.push("Location", reply.location);
    if (reply.retryAfterSeconds) h.push("Retry-After", String(reply.retryAfterSeconds));
    const body = reply.body ?? (reply.json !== undefined ? JSON.stringify(reply.json) : undefined);
    write(res, reply.status ?? 200, h, body, reply.body !== undefined ? reply.contentType ?? "text/plain" : "application/json");
  };
  // The external URL may change once after start (port 0 bound), so the header is kept per directory URL.
  let index = { url: "", header: "" };
  const indexLink = () => {
    const url = urls.directory;
    if (index.url !== url) index = { url, header: linkHeader([{ url, rel: "index" }]) };
    return index.header;
  };

  const fail = (rc: RequestContext, res: ServerResponse, nonce: string | undefined, err: unknown, allow?: string) => {
    const e = toGatewayError(err);
    noteRefusal(e.code);
    const p = toProblem(e);
    if (p.status >= 500) rc.log.error({ code: e.code, detail: e.detail, err: err instanceof Error ? err.message : String(err) }, "ACME internal error");
    else rc.log.info({ code: e.code, type: p.body.type }, e.message);
    const h = head(rc, nonce, indexLink());
    if (p.retryAfterSeconds) h.push("Retry-After", String(p.retryAfterSeconds));
    if (p.location) h.push("Location", p.location);
    if (allow) h.push("Allow", allow);
    write(res, p.status, h, JSON.stringify(p.body), "application/problem+json");
  };

  const route = (mode: KeyMode, handle: Handler, params: string[] = []): SignedRoute => ({ mode, handle, params });
  /** The signed resource at a path (segments after the base path), with its parameters. */
  const signedRoute = (seg: string[]): SignedRoute | undefined => {
    const [a, b, c] = [seg[1], param(seg[2]), seg[3]];
    const n = seg.length;
    switch (a) {
      case "new-account": return n === 2 ? route("jwk", (s) => newAccount(ctx, urls, s)) : undefined;
      case "new-order": return n === 2 ? route("kid", (s) => newOrder(ctx, urls, s)) : undefined;
      case "key-change": return n === 2 ? route("kid", (s) => keyChange(ctx, urls, s)) : undefined;
      case "revoke-cert": return n === 2 ? route("either", (s) => revokeCert(ctx, s)) : undefined;
      case "acct":
        if (!b) return undefined;
        if (n === 3) return route("kid", (s, p) => updateAccount(ctx, urls, s, p[0]), [b]);
        return n === 4 && c === "orders" ? route("kid", (s, p, q) => listOrders(ctx, urls, s, p[0], queryParam(q, "after")), [b]) : undefined;
      case "order":
        if (!b) return undefined;
        if (n === 3) return route("kid", (s, p) => getOrder(ctx, urls, s, p[0]), [b]);
        return n === 4 && c === "finalize" ? route("kid", (s, p) => finalize(ctx, urls, s, p[0]), [b]) : undefined;
      case "authz": return b && n === 3 ? route("kid", (s, p) => postAuthz(ctx, urls, s, p[0]), [b]) : undefined;
      case "chall": {
        const type = param(c);
        return b && type && n === 4 ? route("kid", (s, p) => postChallenge(ctx, urls, s, p[0], p[1]), [b, type]) : undefined;
      }
      case "cert": {
        if (!b) return undefined;
        if (n === 3) return route("kid", (s, p) => downloadCertificate(ctx, urls, s, p[0], 0), [b]);
        const alt = param(c);
        return n === 4 && alt ? route("kid", (s, p) => downloadCertificate(ctx, urls, s, p[0], Number(p[1])), [b, alt]) : undefined;
      }
      default: return undefined;
    }
  };

  const directory = (): AcmeReply => {
    const ep = urls.endpoint;
    return {
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
    };
  };

  const serve: AcmeHandler = (req, res, rc, url) => {
    let nonce: string | undefined;
    try {
      // Every response, errors included, carries a fresh nonce (§6.5); per-address limits come first.
      nonce = ctx.newNonce();
      ctx.addressLimit?.take(`address:${req.socket.remoteAddress ?? "unknown"}`);
    } catch (e) {
      fail(rc, res, nonce, e);
      return;
    }
    const n = nonce;
    const q = url.indexOf("?");
    const path = (q < 0 ? url : url.slice(0, q)).slice(urls.basePath.length);
    const query = q < 0 ? "" : url.slice(q + 1);
    const seg = path.split("/");
    const method = req.method;
    if (method === "POST") {
      const r = seg[0] === "" ? signedRoute(seg) : undefined;
      if (r) {
        readBody(req, ctx.cfg.maxBodyBytes, (body, refused) => {
          if (refused) {
            res.shouldKeepAlive = false; // the rest of the body is not read
            fail(rc, res, n, refused);
            return;
          }
          readSigned(ctx, urls, req.headers["content-type"], body, url, r.mode)
            .then((s) => r.handle(s, r.params, query))
            .then((reply) => send(rc, res, n, reply), (e) => fail(rc, res, n, e));
        });
        return;
      }
    } else if (method === "GET" || method === "HEAD") {
      try {
        // §7.2: HEAD newNonce answers 200, GET 204; both only carry the nonce.
        if (path === "/new-nonce") return send(rc, res, n, { status: method === "HEAD" ? 200 : 204 });
        if (path === "/directory") return send(rc, res, n, directory());
        const certId = seg[1] === "renewal-info" && seg.length === 3 ? param(seg[2]) : undefined;
        if (certId) {
          renewalInfo(ctx.gw, certId, ctx.cfg.ariExplanationUrl).then((reply) => send(rc, res, n, reply), (e) => fail(rc, res, n, e));
          return;
        }
      } catch (e) {
        fail(rc, res, n, e);
        return;
      }
    }
    // Anything else under the endpoint: a problem document, never the HTML default.
    if (RESOURCE.test(path)) {
      fail(rc, res, n, new GatewayError("RA_ERR_METHOD_NOT_ALLOWED", `${method} is not allowed here; ACME resources take POST (or POST-as-GET)`), "POST");
      return;
    }
    fail(rc, res, n, new GatewayError("RA_ERR_NOT_FOUND", `no ACME resource at ${path || "/"}`));
  };
  // Until the shared nonce key is read from the store (just after start), requests wait for it.
  return (req, res, rc, url) => {
    if (ctx.nonceReady) return serve(req, res, rc, url);
    ctx.loadNonceKey().then(() => serve(req, res, rc, url), (e) => fail(rc, res, undefined, e));
  };
}
