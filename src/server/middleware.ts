import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { NextFunction, Request, Response } from "express";
import type { Logger } from "pino";
import { GatewayError, httpStatusFor, toGatewayError, uniformHttpStatus } from "../errors.js";
import type { Metrics } from "./metrics.js";

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

/**
 * The per-request conventions, for express and for handlers that run before it (OCSP): a request id
 * (taken from X-Request-Id when sane) echoed in X-Request-Id, one access line at info, one count in
 * gateway_http_requests_total. `path` is read only when the access line is written.
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
  return state;
}

const STATE = Symbol("requestState");
type ResponseWithState = ServerResponse & { [STATE]?: RequestState };

/** A request's context; the child logger is made on first use, as most requests log only when the level allows. */
class RequestState implements RequestContext {
  private child: Logger | undefined;
  readonly start: bigint;
  constructor(readonly id: string, private readonly parent: Logger, private readonly listener: string, readonly count: RequestCounter | undefined,
    readonly req: IncomingMessage, readonly path: () => string, readonly access: boolean) {
    this.start = access ? process.hrtime.bigint() : 0n;
  }

  get log(): Logger {
    return (this.child ??= this.parent.child({ reqId: this.id, listener: this.listener }));
  }
}

function onFinish(this: ResponseWithState): void {
  const s = this[STATE];
  if (!s) return;
  const method = s.req.method ?? "";
  if (s.access) {
    const ms = Number(process.hrtime.bigint() - s.start) / 1e6;
    s.log.info({ method, path: s.path(), status: this.statusCode, ms: Math.round(ms * 10) / 10 }, "request");
  }
  s.count?.(method, this.statusCode);
}

export type RequestCounter = (method: string, status: number) => void;

/**
 * gateway_http_requests_total for one listener, with the labelled child looked up once per
 * (method, status): Node's parser admits only known methods and statuses are ours, so the table stays small.
 */
export function requestCounter(metrics: Metrics, listener: string): RequestCounter {
  const byMethod = new Map<string, Map<number, { inc(): void }>>();
  let size = 0;
  return (method, status) => {
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
  };
}

/** Express middleware: beginRequest, with the id and logger on `req`. */
export function requestContext(log: Logger, listener: string, metrics?: Metrics) {
  const count = metrics ? requestCounter(metrics, listener) : undefined;
  return (req: Request, res: Response, next: NextFunction): void => {
    const ctx = beginRequest(log, listener, count, req, res, () => req.path);
    req.id = ctx.id;
    Object.defineProperty(req, "log", { configurable: true, get: () => ctx.log });
    next();
  };
}

/** JSON error rendering for the admin API: stable code, human message, nothing internal. */
export function jsonErrors(err: unknown, req: Request, res: Response, _next: NextFunction): void {
  const e = bodyParserError(err) ?? toGatewayError(err);
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
