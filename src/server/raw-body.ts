import type { IncomingMessage } from "node:http";
import type { Transform } from "node:stream";
import * as zlib from "node:zlib";
import type { NextFunction, Request, RequestHandler, Response } from "express";

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
 * The request body, inflated when it is compressed (gzip, deflate, br, and zstd where node has it) as
 * express.raw did: the cap applies to the inflated bytes, another Content-Encoding is body-parser's
 * encoding.unsupported (415) and a corrupt stream is entity.parse.failed (a malformed body).
 */
export function readRequestBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const enc = req.headers["content-encoding"];
  if (enc === undefined || enc.toLowerCase() === "identity") return readBody(req, limit);
  if (req.headers["transfer-encoding"] === undefined && Number.isNaN(Number(req.headers["content-length"]))) return Promise.resolve(undefined);
  const stream = decompressor(enc.toLowerCase());
  if (!stream) {
    req.resume();
    return Promise.reject(bodyError(`unsupported content encoding "${enc}"`, "encoding.unsupported", 415));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const stop = (e?: Error) => {
      if (done) return;
      done = true;
      req.unpipe(stream);
      stream.removeAllListeners("data");
      stream.on("error", () => undefined);
      stream.destroy();
      req.resume(); // the rest of the body is read off so the connection can serve the answer
      if (e) reject(e);
      else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    };
    stream.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) return stop(bodyError("request entity too large", "entity.too.large", 413));
      chunks.push(c);
    });
    stream.on("end", () => stop());
    stream.on("error", () => stop(bodyError("the compressed body could not be inflated", "entity.parse.failed", 400)));
    req.on("error", () => stop(bodyError("request aborted", "request.aborted", 400)));
    req.pipe(stream);
  });
}

function decompressor(enc: string): Transform | undefined {
  switch (enc) {
    case "gzip": return zlib.createGunzip();
    case "deflate": return zlib.createInflate();
    case "br": return zlib.createBrotliDecompress();
    case "zstd": {
      const zstd = (zlib as { createZstdDecompress?: () => Transform }).createZstdDecompress;
      return zstd ? zstd() : undefined;
    }
    default: return undefined;
  }
}

/** Middleware setting `req.body` like `express.raw({ type: () => true, limit })`, compressed bodies included. */
export function rawBody(limit: number): RequestHandler {
  return (req: Request, _res: Response, next: NextFunction) => {
    readRequestBody(req, limit).then((body) => {
      req.body = body;
      next();
    }, next);
  };
}
