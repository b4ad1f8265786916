import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { Gateway } from "../gateway.js";
import { decodeOcspGetPath, OcspResponder, OcspStatus, errorResponse, type OcspAnswer, type StatusLookup } from "../revocation/ocsp.js";
import { DEFAULT_MAX_REQUEST_BYTES } from "../revocation/ocsp-request.js";
import { beginRequest, requestCounter, type RequestContext } from "./middleware.js";

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

export function ocspHttp(gw: Gateway): OcspHttp {
  const lookup: StatusLookup = (caName, serial) => {
    const rec = gw.store.certificateStatus(serial);
    if (!rec || rec.caName !== caName || rec.stage !== "issued") return { status: "unknown" };
    if (rec.revokedAt) return { status: "revoked", revokedAt: new Date(rec.revokedAt), reason: rec.revocationReason };
    return { status: "good" };
  };
  const responder = new OcspResponder(() => gw.cas.issuing, lookup, {
    validityMinutes: gw.config.ocsp.responseValidityMinutes,
    cacheEntries: gw.config.ocsp.cacheEntries,
    maxRequestBytes: DEFAULT_MAX_REQUEST_BYTES,
  });

  const answer = (ctx: RequestContext, der: Uint8Array | undefined): Promise<OcspAnswer> => {
    if (!der) return Promise.resolve({ der: errorResponse(OcspStatus.malformedRequest), cached: false });
    return responder.respond(der, (e) => {
      if (e.kind === "internal") ctx.log.error({ code: e.code, detail: e.detail }, "OCSP internal error");
      // Checked first: touching ctx.log makes the request's child logger, which a flood of junk should not pay for.
      else if (gw.log.isLevelEnabled("info")) ctx.log.info({ code: e.code }, e.message);
    });
  };

  const serve = (ctx: RequestContext, req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? "";
    const get = req.method === "GET" || req.method === "HEAD";
    const done = (a: OcspAnswer) => send(req, res, a, get);
    const fail = (e: unknown) => {
      ctx.log.error({ err: e instanceof Error ? e.message : String(e) }, "OCSP internal error");
      if (!res.headersSent) send(req, res, { der: errorResponse(OcspStatus.internalError), cached: false }, false);
      else res.destroy();
    };
    if (get) {
      answer(ctx, decodeOcspGetPath(url.slice(url.indexOf("/ocsp/") + 6))).then(done, fail);
      return;
    }
    readBody(req, DEFAULT_MAX_REQUEST_BYTES, (body, refused) => {
      if (refused) {
        // The shared rule for an over-cap body (413), with an OCSP answer in it; the rest of the body is not read.
        res.shouldKeepAlive = false;
        send(req, res, { der: errorResponse(OcspStatus.malformedRequest), cached: false }, false, refused);
        return;
      }
      answer(ctx, body).then(done, fail);
    });
  };

  const front = (listener: Listener, next: RequestListener): RequestListener => {
    const count = requestCounter(gw.metrics, listener);
    return (req, res) => {
      const url = req.url ?? "";
      const post = req.method === "POST" && (url === "/ocsp" || url.startsWith("/ocsp?"));
      const get = (req.method === "GET" || req.method === "HEAD") && url.startsWith("/ocsp/") && url.length > 6;
      if (!post && !get) {
        next(req, res);
        return;
      }
      serve(beginRequest(gw.log, listener, count, req, res, () => url.split("?")[0]), req, res);
    };
  };
  return { responder, front, serve };
}

/** Collects at most `max` body bytes; `refused` is the HTTP status when the body is over the cap or encoded. */
function readBody(req: IncomingMessage, max: number, cb: (body: Uint8Array | undefined, refused?: 413 | 415) => void): void {
  const encoding = req.headers["content-encoding"];
  if (encoding && encoding.toLowerCase() !== "identity") return cb(undefined, 415);
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (declared > max) return cb(undefined, 413);
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = (body: Uint8Array | undefined, refused?: 413 | 415) => {
    if (finished) return;
    finished = true;
    req.removeListener("data", onData);
    cb(body, refused);
  };
  const onData = (c: Buffer) => {
    size += c.length;
    if (size > max) {
      req.pause();
      return finish(undefined, 413);
    }
    chunks.push(c);
  };
  req.on("data", onData);
  req.on("end", () => finish(size === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
  req.on("error", () => finish(undefined, 413));
}

/**
 * Writes the answer. A GET answer with a validity gets RFC 5019 §5 caching headers (max-age up to
 * nextUpdate, a strong ETag, Last-Modified thisUpdate, Expires nextUpdate) and If-None-Match gives 304;
 * POST answers and nonce or error answers carry no shared-cache headers.
 */
function send(req: IncomingMessage, res: ServerResponse, a: OcspAnswer, get: boolean, status = 200): void {
  res.setHeader("Content-Type", CONTENT_TYPE);
  if (get) {
    if (a.etag && a.thisUpdate && a.nextUpdate) {
      const maxAge = Math.max(0, Math.floor((a.nextUpdate.getTime() - Date.now()) / 1000));
      res.setHeader("Cache-Control", `max-age=${maxAge}, public, no-transform, must-revalidate`);
      res.setHeader("ETag", a.etag);
      res.setHeader("Last-Modified", a.thisUpdate.toUTCString());
      res.setHeader("Expires", a.nextUpdate.toUTCString());
      if (matches(req.headers["if-none-match"], a.etag)) {
        res.statusCode = 304;
        res.end();
        return;
      }
    } else {
      res.setHeader("Cache-Control", "no-store");
    }
  }
  res.statusCode = status;
  res.setHeader("Content-Length", a.der.length);
  res.end(req.method === "HEAD" ? undefined : a.der);
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
