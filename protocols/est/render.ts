import type { ServerResponse } from "node:http";
import { GatewayError, toGatewayError, uniformHttpStatus } from "../../src/errors.js";
import { noteRefusal } from "../../src/server/request-context.js";

/**
 * EST bodies are base64 with this header (RFC 7030 §4.1.3, §4.2.3), on one line: RFC 8951 lets
 * senders omit line breaks, and strongSwan before 5.9.11 cannot decode base64 that has them.
 */
export function sendBase64(res: ServerResponse, contentType: string, der: Uint8Array): void {
  // Node's own header calls: express's res.set re-derives the charset of every Content-Type (none applies here).
  // Content-Length explicitly: writeHead fixes the headers, and strongSwan's client refuses a chunked answer.
  const body = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  res.writeHead(200, { "Content-Type": contentType, "Content-Transfer-Encoding": "base64", "Content-Length": body.length }).end(body);
}

export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.statusCode = status;
  res.setHeader("Content-Type", "text/plain; charset=utf-8");
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.end(`${text}\n`);
}

/** GatewayError → EST HTTP status: policy refusals are 403 (authentication failures are answered 401 earlier). */
export function statusFor(e: GatewayError): number {
  const uniform = uniformHttpStatus(e);
  if (uniform) return uniform;
  switch (e.code) {
    case "RA_ERR_UNSUPPORTED_MEDIA": return 415;
    case "RA_ERR_METHOD_NOT_ALLOWED": return 405;
    case "RA_ERR_RATE_LIMITED": return 429;
    case "RA_ERR_UNAUTHORIZED": return 401;
    case "RA_ERR_AUTHORIZATION_UNAVAILABLE": return 503; // with Retry-After from the error's hints
    default:
  }
  switch (e.kind) {
    case "badRequest": return 400;
    case "unauthorized":
    case "rejected": return 403;
    case "notFound": return 404;
    case "conflict": return 409;
    case "pending": return 202;
    case "unavailable": return 503; // the database is down: Retry-After from the error's hints
    default: return 500;
  }
}

/** Renders any failure as plain text with its code; internals stay in the log. */
export function sendError(res: ServerResponse, err: unknown, basicRealm?: string): GatewayError {
  const e = toGatewayError(err);
  noteRefusal(e.code);
  const status = statusFor(e);
  const headers: Record<string, string> = { "X-Error-Code": e.code };
  if (status === 401 && basicRealm) headers["WWW-Authenticate"] = `Basic realm="${basicRealm}", charset="UTF-8"`;
  if (e.hints?.retryAfterSeconds) headers["Retry-After"] = String(e.hints.retryAfterSeconds);
  sendText(res, status, status >= 500 && status !== 503 ? "internal error" : `${e.code}: ${e.message}`, headers);
  return e;
}
