import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { Gateway } from "../gateway.js";
import { decodeOcspGetPath, OcspResponder, OcspStatus, errorResponse, type OcspAnswer, type StatusLookup } from "../revocation/ocsp.js";
import { DEFAULT_MAX_REQUEST_BYTES } from "../revocation/ocsp-request.js";
import type { GatewayError } from "../errors.js";
import type { CertStatus } from "../revocation/ocsp-der.js";
import { SqliteStore } from "../store/sqlite/store.js";
import type { CertificateStatusRow } from "../store/types.js";
import { collectBody } from "./read-body.js";
import { requestCounter, startRequest, type RequestContext } from "./middleware.js";
import type { Metrics } from "./metrics.js";
import { observeSigner } from "../ca/sign-object.js";

/*
 * OCSP over HTTP (RFC 6960 appendix A, RFC 5019). The listeners hand /ocsp requests to `front` before the
 * express app: a response served pre-signed then costs a body read, a DER walk, one primary-key lookup and
 * a write, with the same request id, access line, metrics, body cap and error answers as everywhere else.
 * The express routes (public-routes.ts) call `serve` too, so either way answers the same.
 */

export type Listener = "http" | "https";

export interface OcspHttp {
  readonly responder: OcspResponder;
  /** Wraps a listener's app: OCSP requests are served here, everything else goes to `next`. */
  front(listener: Listener, next: RequestListener): RequestListener;
  /** Serves an OCSP request that already has its request context (the express routes). */
  serve(ctx: RequestContext, req: IncomingMessage, res: ServerResponse): void;
}

const CONTENT_TYPE = "application/ocsp-response";
const MALFORMED: OcspAnswer = { der: errorResponse(OcspStatus.malformedRequest), cached: false, status: "malformedRequest" };

export function ocspHttp(gw: Gateway): OcspHttp {
  const statusOf = (caName: string, rec: CertificateStatusRow | undefined): CertStatus => {
    if (!rec || rec.caName !== caName || rec.stage !== "issued") return { status: "unknown" };
    if (rec.revokedAt) return { status: "revoked", revokedAt: new Date(rec.revokedAt), reason: rec.revocationReason };
    return { status: "good" };
  };
  // On SQLite with no transaction open the read is made synchronously (what the async method would do at once),
  // so a kept answer is written without a promise or a microtask, as before the store became asynchronous.
  const sqlite = gw.store instanceof SqliteStore ? gw.store : undefined;
  const lookup: StatusLookup = (caName, serial) =>
    sqlite?.readsNow ? statusOf(caName, sqlite.tables.certificateStatus(serial)) : gw.store.certificateStatus(serial).then((rec) => statusOf(caName, rec));
  const metrics = gw.metrics;
  for (const ca of gw.cas.all) if (ca.ocsp) observeSigner(ca.ocsp.signer, metrics.signerObserver(`ocsp:${ca.name}`));
  const responder = new OcspResponder(() => gw.cas.issuing, lookup, {
    validityMinutes: gw.config.ocsp.responseValidityMinutes,
    cacheEntries: gw.config.ocsp.cacheEntries,
    maxRequestBytes: DEFAULT_MAX_REQUEST_BYTES,
  });

  // Told why a request got a non-successful answer, with that request's context (no closure per request).
  const onError = (e: GatewayError, ctx: RequestContext) => {
    if (e.kind === "internal") ctx.log.error({ code: e.code, detail: e.detail }, "OCSP internal error");
    // Checked first: touching ctx.log makes the request's child logger, which a flood of junk should not pay for.
    else if (gw.log.isLevelEnabled("info")) ctx.log.info({ code: e.code }, e.message);
  };

  const answer = (ctx: RequestContext, req: IncomingMessage, res: ServerResponse, der: Uint8Array | undefined, get: boolean): void => {
    const a = der ? responder.respondNow(der, onError, ctx) : MALFORMED;
    if (a instanceof Promise) {
      a.then((x) => send(metrics, ctx, req, res, x, get)).catch((e: unknown) => fail(metrics, ctx, req, res, e));
      return;
    }
    // A pre-signed answer is written now, without a trip through the microtask queue.
    try {
      send(metrics, ctx, req, res, a, get);
    } catch (e) {
      fail(metrics, ctx, req, res, e);
    }
  };

  const serve = (ctx: RequestContext, req: IncomingMessage, res: ServerResponse): void => {
    const get = req.method === "GET" || req.method === "HEAD";
    if (get) {
      const url = req.url ?? "";
      answer(ctx, req, res, decodeOcspGetPath(url.slice(url.indexOf("/ocsp/") + 6)), true);
      return;
    }
    collectBody(req, DEFAULT_MAX_REQUEST_BYTES, (body, refused) => {
      if (refused) {
        // The shared rule for an over-cap body (413) or an encoded one (415), with an OCSP answer in it; the rest is not read.
        res.shouldKeepAlive = false;
        send(metrics, ctx, req, res, MALFORMED, false, refused === "encoded" ? 415 : 413);
        return;
      }
      answer(ctx, req, res, body.length ? body : undefined, false);
    });
  };

  const front = (listener: Listener, next: RequestListener): RequestListener => {
    const count = requestCounter(gw.metrics, listener);
    return (req, res) => {
      const url = req.url ?? "";
      const post = req.method === "POST" && (url === "/ocsp" || url.startsWith("/ocsp?"));
      const get = !post && (req.method === "GET" || req.method === "HEAD") && url.startsWith("/ocsp/") && url.length > 6;
      if (!post && !get) {
        next(req, res);
        return;
      }
      // X-Request-Id goes out with send's other headers, in one writeHead array.
      serve(startRequest(gw.log, listener, count, req, res, () => url.split("?")[0]), req, res);
    };
  };
  return { responder, front, serve };
}

/** A failure after the answer was made: internalError when nothing was sent yet, else the connection is dropped. */
function fail(metrics: Metrics, ctx: RequestContext, req: IncomingMessage, res: ServerResponse, e: unknown): void {
  ctx.log.error({ err: e instanceof Error ? e.message : String(e) }, "OCSP internal error");
  if (!res.headersSent) send(metrics, ctx, req, res, { der: errorResponse(OcspStatus.internalError), cached: false, status: "internalError" }, false);
  else res.destroy();
}

/**
 * Writes the answer. A GET answer with a validity gets RFC 5019 §5 caching headers (max-age up to
 * nextUpdate, a strong ETag, Last-Modified thisUpdate, Expires nextUpdate) and If-None-Match gives 304;
 * POST answers and nonce or error answers carry no shared-cache headers. All headers go in one
 * writeHead array, which Node writes without building a header object.
 */
function send(metrics: Metrics, ctx: RequestContext, req: IncomingMessage, res: ServerResponse, a: OcspAnswer, get: boolean, status = 200): void {
  metrics.ocspResponse(a.status ?? "internalError");
  const head = req.method === "HEAD";
  if (get && a.etag && a.thisUpdate && a.nextUpdate) {
    const dates = httpDates(a, a.thisUpdate, a.nextUpdate);
    const maxAge = Math.max(0, Math.floor((a.nextUpdate.getTime() - Date.now()) / 1000));
    const cacheHeaders = ["Content-Type", CONTENT_TYPE, "X-Request-Id", ctx.id, "Cache-Control", `max-age=${maxAge}, public, no-transform, must-revalidate`,
      "ETag", a.etag, "Last-Modified", dates.lastModified, "Expires", dates.expires];
    if (matches(req.headers["if-none-match"], a.etag)) {
      res.writeHead(304, cacheHeaders);
      res.end();
      return;
    }
    res.writeHead(status, [...cacheHeaders, "Content-Length", a.der.length]);
  } else if (get) {
    res.writeHead(status, ["Content-Type", CONTENT_TYPE, "X-Request-Id", ctx.id, "Cache-Control", "no-store", "Content-Length", a.der.length]);
  } else {
    res.writeHead(status, ["Content-Type", CONTENT_TYPE, "X-Request-Id", ctx.id, "Content-Length", a.der.length]);
  }
  res.end(head ? undefined : a.der);
}

/** Last-Modified and Expires of a kept answer, formatted once per answer rather than per request. */
const dateCache = new WeakMap<OcspAnswer, { lastModified: string; expires: string }>();

function httpDates(a: OcspAnswer, thisUpdate: Date, nextUpdate: Date): { lastModified: string; expires: string } {
  let d = dateCache.get(a);
  if (!d) dateCache.set(a, (d = { lastModified: thisUpdate.toUTCString(), expires: nextUpdate.toUTCString() }));
  return d;
}

/** If-None-Match (RFC 9110 §13.1.2: weak comparison): "*" or any listed tag equal to ours. */
function matches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  for (const t of header.split(",")) {
    const tag = t.trim();
    if ((tag.startsWith("W/") ? tag.slice(2) : tag) === etag) return true;
  }
  return false;
}
