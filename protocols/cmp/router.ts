import express, { type NextFunction, type Request, type Response, type Router } from "express";
import { toGatewayError, uniformHttpStatus } from "../../src/errors.js";
import { bodyParserError } from "../../src/server/middleware.js";
import type { CmpConfig } from "./config.js";
import type { CmpDeps } from "./context.js";
import { handleCmp } from "./handler.js";
import type { CmpLabel } from "./label.js";

const BASE = "/.well-known/cmp";

/** RFC 6712 / RFC 9811 HTTP transfer: POST of DER `application/pkixcmp`, answered 200 with a PKIMessage. */
export function cmpRouter(cfg: CmpConfig, labels: Map<string, CmpLabel>, deps: CmpDeps): Router {
  const r = express.Router();
  const raw = express.raw({ type: () => true, limit: cfg.maxMessageBytes });
  const handle = (name: (req: Request) => string) => async (req: Request, res: Response, next: NextFunction) => {
    try {
      const label = labels.get(name(req));
      if (!label) return void res.status(404).type("text/plain").send(`no CMP label ${name(req)}\n`);
      if (req.method !== "POST") return void res.status(405).set("Allow", "POST").type("text/plain").send("CMP takes POST\n");
      const type = (req.header("content-type") ?? "").split(";")[0].trim().toLowerCase();
      if (type !== "application/pkixcmp") return void res.status(415).type("text/plain").send("Content-Type must be application/pkixcmp\n");
      const answer = await handleCmp(label, new Uint8Array(req.body as Buffer), deps, req.socket.remoteAddress ?? "unknown");
      if (answer.retryAfterSeconds !== undefined) res.setHeader("Retry-After", String(answer.retryAfterSeconds));
      // Straight to node's response: express's send() would look up a charset and hash the body for an ETag.
      res.setHeader("Content-Type", "application/pkixcmp");
      res.setHeader("Cache-Control", "no-cache");
      res.setHeader("Content-Length", answer.der.length);
      res.statusCode = 200;
      res.end(answer.der);
    } catch (e) {
      next(e);
    }
  };
  r.all(BASE, raw, handle(() => cfg.defaultLabel));
  r.all(`${BASE}/p/:label`, raw, handle((req) => String(req.params.label)));
  r.use(BASE, (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = bodyParserError(err) ?? toGatewayError(err);
    if (e.kind === "internal") req.log.error({ err: err instanceof Error ? err.message : String(err) }, "CMP request failed");
    res.status(uniformHttpStatus(e) ?? (e.kind === "internal" ? 500 : 400)).type("text/plain").send(`${e.code}: ${e.kind === "internal" ? "internal error" : e.message}\n`);
  });
  return r;
}
