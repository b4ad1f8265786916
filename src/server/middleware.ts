import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { NextFunction, Request, Response } from "express";
import type { Logger } from "pino";
import { GatewayError, httpStatusFor, toGatewayError, uniformHttpStatus } from "../errors.js";
import type { Metrics } from "./metrics.js";
import { noteRefusal, requestScope, type ActiveRequest } from "./request-context.js";
import { routeOf, type ExpressRouteInfo, type RouteLabel } from "./route-template.js";

declare module "express-serve-static-core" {
  interface Request {
    id: string;
    log: Logger;
  }
}

/** What every request carries for logging: its id and a logger that names it. */
export interface RequestContext {
  readonly id: string;
  readonly log: Logger;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** Longer paths are cut in the access line (an OCSP GET carries its request in the path; junk can be long). */
const MAX_LOGGED_PATH = 512;

/**
 * The per-request conventions, for express and for handlers that run before it (OCSP, ACME, EST, SCEP, CMP): a
 * request id (taken from X-Request-Id when sane) echoed in X-Request-Id, one access line at info, the request's
 * metrics (gateway_http_requests_total, gateway_http_request_duration_seconds, gateway_refusals_total) and the
 * request scope (request-context.ts) that audit events and refusals read. `path` is the full URL path without
 * the query, read only when the response finishes.
 */
export function beginRequest(log: Logger, listener: string, count: RequestCounter | undefined, req: IncomingMessage, res: ServerResponse, path: () => string): RequestContext {
  const ctx = startRequest(log, listener, count, req, res, path);
  res.setHeader("X-Request-Id", ctx.id);
  return ctx;
}

/**
 * beginRequest without setting X-Request-Id: a handler that writes its headers in one writeHead array
 * (Node's fast path, taken only when no header was set before) sends the id itself.
 */
export function startRequest(log: Logger, listener: string, count: RequestCounter | undefined, req: IncomingMessage, res: ServerResponse, path: () => string): RequestContext {
  const given = req.headers["x-request-id"];
  const id = typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
  const state = new RequestState(id, log, listener, count, req, path, log.isLevelEnabled("info"));
  // One shared listener reading its state off the response: no closures made per request.
  (res as ResponseWithState)[STATE] = state;
  res.on("finish", onFinish);
  // Everything the listener runs for this request from here on (and its promises) sees it: the fronts and the
  // express app are called synchronously after this, so entering here covers every path without wrapping each.
  requestScope.enterWith(state);
  return state;
}

const STATE = Symbol("requestState");
type ResponseWithState = ServerResponse & { [STATE]?: RequestState };

/** A request's context; the child logger is made on first use, as most requests log only when the level allows. */
class RequestState implements RequestContext, ActiveRequest {
  private child: Logger | undefined;
  readonly start = process.hrtime.bigint();
  refusal?: string;
  constructor(readonly id: string, private readonly parent: Logger, private readonly listener: string, readonly count: RequestCounter | undefined,
    readonly req: IncomingMessage, readonly path: () => string, readonly access: boolean) {}

  get log(): Logger {
    return (this.child ??= this.parent.child({ reqId: this.id, listener: this.listener }));
  }
}

function onFinish(this: ResponseWithState): void {
  const s = this[STATE];
  if (!s) return;
  const method = s.req.method ?? "";
  const status = this.statusCode;
  const seconds = Number(process.hrtime.bigint() - s.start) / 1e9;
  if (!s.count && !s.access) return;
  const path = s.path();
  // Read now, not at the start: express has set the route it matched (admin and console API templates).
  const route = routeOf(path, s.req as ExpressRouteInfo);
  s.count?.(method, status, route, seconds, s.refusal);
  if (s.access) {
    const client = s.req.socket?.remoteAddress;
    s.log.info({ method, path: path.length > MAX_LOGGED_PATH ? `${path.slice(0, MAX_LOGGED_PATH)}…` : path, route: route.route, status, ms: Math.round(seconds * 10_000) / 10, client }, "request");
  }
}

/** What a finished request is counted with: its listener's counter and the route-labelled histogram and refusals. */
export type RequestCounter = (method: string, status: number, route: RouteLabel, seconds: number, refusal: string | undefined) => void;

/**
 * gateway_http_requests_total for one listener, with the labelled child looked up once per
 * (method, status): Node's parser admits only known methods and statuses are ours, so the table stays small;
 * and the listener-independent request metrics (Metrics.httpRequest).
 */
export function requestCounter(metrics: Metrics, listener: string): RequestCounter {
  const byMethod = new Map<string, Map<number, { inc(): void }>>();
  let size = 0;
  return (method, status, route, seconds, refusal) => {
    let byStatus = byMethod.get(method);
    let c = byStatus?.get(status);
    if (!c) {
      c = metrics.httpRequests.labels({ listener, method, status: String(status) });
      if (size < 1000) {
        if (!byStatus) byMethod.set(method, (byStatus = new Map()));
        byStatus.set(status, c);
        size++;
      }
    }
    c.inc();
    metrics.httpRequest(route, method, status, seconds, refusal);
  };
}

/** Express middleware: beginRequest, with the id and logger on `req`; the access line names the full path (with any router prefix). */
export function requestContext(log: Logger, listener: string, metrics?: Metrics) {
  const count = metrics ? requestCounter(metrics, listener) : undefined;
  return (req: Request, res: Response, next: NextFunction): void => {
    const url = req.url; // the whole path here: this runs on the app itself, before any router strips its mount path
    const ctx = beginRequest(log, listener, count, req, res, () => pathOf(url));
    req.id = ctx.id;
    Object.defineProperty(req, "log", { configurable: true, get: () => ctx.log });
    next();
  };
}

function pathOf(url: string): string {
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

/** JSON error rendering for the admin API: stable code, human message, nothing internal. */
export function jsonErrors(err: unknown, req: Request, res: Response, _next: NextFunction): void {
  const e = bodyParserError(err) ?? toGatewayError(err);
  noteRefusal(e.code);
  if (e.kind === "internal") req.log?.error({ code: e.code, detail: e.detail, err: err instanceof Error ? err.message : String(err) }, "internal error");
  else req.log?.info({ code: e.code }, e.message);
  res.status(uniformHttpStatus(e) ?? httpStatusFor(e.kind)).json({ error: { code: e.code, message: e.kind === "internal" ? "internal error" : e.message, requestId: req.id } });
}

/** Maps body-parser failures (too large, bad JSON) to our codes. */
export function bodyParserError(err: unknown): GatewayError | undefined {
  const t = (err as { type?: string })?.type;
  if (t === "entity.too.large") return new GatewayError("RA_ERR_BODY_TOO_LARGE", "request body too large");
  if (t === "entity.parse.failed" || t === "encoding.unsupported" || t === "charset.unsupported") return new GatewayError("RA_ERR_MALFORMED", "request body could not be parsed");
  return undefined;
}
