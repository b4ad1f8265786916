import { createHash } from "node:crypto";
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { Request } from "express";
import type { Gateway } from "../gateway.js";
import { beginRequest, requestCounter, type RequestContext } from "./middleware.js";

/*
 * What EST, SCEP and CMP share to be served on node's plain req/res ahead of express (like ACME and OCSP):
 * the listener wrapper, express-compatible path matching, and express's res.send rendering (ETag, 304, HEAD)
 * for the few answers that went through it, so the front and the express mount answer byte for byte alike.
 */

export type Listener = "https" | "http";
/** Wraps a listener's app: the protocol's requests are served here, everything else goes to `next`. */
export type Front = (next: RequestListener, listener: Listener) => RequestListener;
/** One protocol request, already claimed by path; `path` is the URL's path without the query. */
export type PlainHandler<R> = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext, route: R, path: string) => void;

/** A front for the paths `match` claims, with beginRequest's request id, access line and metrics. */
export function protocolFront<R>(gw: Gateway, match: (path: string) => R | undefined, serve: PlainHandler<R>): Front {
  return (next, listener) => {
    const count = requestCounter(gw.metrics, listener);
    return (req, res) => {
      const url = req.url ?? "";
      const path = pathOf(url);
      const route = url.charCodeAt(0) === 0x2f /* / */ ? match(path) : undefined;
      if (route === undefined) {
        next(req, res);
        return;
      }
      serve(req, res, beginRequest(gw.log, listener, count, req, res, () => path), route, path);
    };
  };
}

/** The context express's requestContext put on `req`, for the express mounts of the same handlers. */
export function contextOf(req: Request): RequestContext {
  return { id: req.id, get log() { return req.log; } };
}

export function pathOf(url: string): string {
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

/** The query string of a URL ("" without one). */
export function queryOf(url: string): string {
  const q = url.indexOf("?");
  return q < 0 ? "" : url.slice(q + 1);
}

/**
 * What follows `prefix` in `path` when express would route `path` under it: case-insensitively, at a
 * segment boundary ("" for the prefix itself, else starting with "/"); undefined otherwise.
 */
export function under(path: string, prefix: string): string | undefined {
  if (path.length < prefix.length) return undefined;
  const head = path.slice(0, prefix.length);
  if (head !== prefix && head.toLowerCase() !== prefix) return undefined;
  const rest = path.slice(prefix.length);
  return rest === "" || rest.charCodeAt(0) === 0x2f ? rest : undefined;
}

/** express's route matching of an exact path: case-insensitive, one trailing slash tolerated. */
export function isPath(path: string, route: string): boolean {
  const rest = under(path, route);
  return rest === "" || rest === "/";
}

/** One path segment after `prefix/` (express's `/:param`, one trailing slash tolerated), URL-decoded; null when malformed. */
export function param(path: string, prefix: string): string | null | undefined {
  const rest = under(path, prefix);
  if (!rest || rest === "/") return undefined;
  const seg = rest.endsWith("/") ? rest.slice(1, -1) : rest.slice(1);
  if (!seg || seg.includes("/")) return undefined;
  try {
    return decodeURIComponent(seg);
  } catch {
    return null;
  }
}

/** The first value of a query parameter, several joined with "," (what String() made of express's array). */
export function queryParam(query: URLSearchParams, name: string): string | undefined {
  const all = query.getAll(name);
  return all.length ? all.join(",") : undefined;
}

/**
 * express's `res.status(status).type(type).send(body)`: Content-Length, a weak ETag (the etag package's),
 * 304 when If-None-Match already has it (GET and HEAD), no body for HEAD (node drops it).
 */
export function sendLikeExpress(req: IncomingMessage, res: ServerResponse, status: number, contentType: string, body: string | Uint8Array): void {
  const buf = typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const tag = weakEtag(buf);
  res.statusCode = status;
  res.setHeader("Content-Type", contentType);
  res.setHeader("ETag", tag);
  res.setHeader("Content-Length", buf.length);
  if (fresh(req, status, tag)) {
    res.statusCode = 304;
    res.removeHeader("Content-Type");
    res.removeHeader("Content-Length");
    res.end();
    return;
  }
  res.end(buf);
}

function weakEtag(body: Buffer): string {
  if (body.length === 0) return 'W/"0-2jmj7l5rSw0yVb/vlWAYkK/YBwk"';
  return `W/"${body.length.toString(16)}-${createHash("sha1").update(body).digest("base64").slice(0, 27)}"`;
}

/** express's req.fresh for an answer with an ETag and no Last-Modified (the fresh package). */
function fresh(req: IncomingMessage, status: number, etag: string): boolean {
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  if ((status < 200 || status >= 300) && status !== 304) return false;
  const noneMatch = req.headers["if-none-match"];
  const since = req.headers["if-modified-since"];
  if (!noneMatch && !since) return false;
  const cc = req.headers["cache-control"];
  if (cc && /(?:^|,)\s*?no-cache\s*?(?:,|$)/.test(cc)) return false;
  if (noneMatch && noneMatch !== "*") {
    const hit = noneMatch.split(",").some((t) => {
      const m = t.trim();
      return m === etag || m === `W/${etag}` || `W/${m}` === etag;
    });
    if (!hit) return false;
  }
  // If-Modified-Since against an answer without Last-Modified is never fresh.
  return !since;
}
