import { randomUUID } from "node:crypto";
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

/** A request id on every log line (taken from X-Request-Id when sane), and one access line per request. */
export function requestContext(log: Logger, listener: string, metrics?: Metrics) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const given = req.header("x-request-id");
    req.id = given && /^[A-Za-z0-9._-]{1,64}$/.test(given) ? given : randomUUID();
    // The child logger is made on first use: most requests log only when the level allows.
    let child: Logger | undefined;
    Object.defineProperty(req, "log", { configurable: true, get: () => (child ??= log.child({ reqId: req.id, listener })) });
    res.setHeader("X-Request-Id", req.id);
    const start = process.hrtime.bigint();
    const access = log.isLevelEnabled("info");
    res.on("finish", () => {
      if (access) {
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        req.log.info({ method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, "request");
      }
      metrics?.httpRequests.inc({ listener, method: req.method, status: String(res.statusCode) });
    });
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
