import type { IncomingMessage } from "node:http";
import express, { type NextFunction, type Request, type RequestHandler, type Response } from "express";

/**
 * The request body as one Buffer, capped at `limit` bytes: what `express.raw({ type: () => true, limit })` gives,
 * without its per-request media-type matching, charset and stream plumbing (a measurable share of an EST or SCEP
 * request's CPU). Failures carry body-parser's `type` and `status` so `bodyParserError` maps them as before
 * (over the cap → 413 RA_ERR_BODY_TOO_LARGE, checked against Content-Length before anything is read).
 * `undefined` when the request has no body (neither Content-Length nor Transfer-Encoding), as body-parser leaves it.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const te = req.headers["transfer-encoding"];
  const cl = req.headers["content-length"];
  if (te === undefined && (cl === undefined || Number.isNaN(Number(cl)))) return Promise.resolve(undefined);
  if (cl !== undefined && Number(cl) > limit) {
    req.resume(); // discard it; the 413 goes out at once
    return Promise.reject(bodyError("request entity too large", "entity.too.large", 413));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("aborted", onAborted);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(bodyError("request entity too large", "entity.too.large", 413));
        return;
      }
      chunks.push(c);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(Object.assign(e, { type: "request.aborted", status: 400 }));
    };
    const onAborted = () => onError(new Error("request aborted"));
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("aborted", onAborted);
  });
}

function bodyError(message: string, type: string, status: number): Error {
  return Object.assign(new Error(message), { type, status, statusCode: status, expose: true });
}

/**
 * Middleware setting `req.body` like `express.raw({ type: () => true, limit })`. A compressed body
 * (Content-Encoding other than identity: rare for enrollment clients) still goes through express.raw, which inflates it.
 */
export function rawBody(limit: number): RequestHandler {
  const inflating = express.raw({ type: () => true, limit });
  return (req: Request, res: Response, next: NextFunction) => {
    const enc = req.headers["content-encoding"];
    if (enc !== undefined && enc.toLowerCase() !== "identity") return inflating(req, res, next);
    readBody(req, limit).then((body) => {
      req.body = body;
      next();
    }, next);
  };
}
