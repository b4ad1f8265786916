import type { IncomingMessage } from "node:http";
import { GatewayError } from "../../src/errors.js";
import { collectBody } from "../../src/server/read-body.js";

const REFUSED = {
  encoded: (req: IncomingMessage) => new GatewayError("RA_ERR_UNSUPPORTED_MEDIA", `content-encoding ${req.headers["content-encoding"]} is not supported`),
  tooLarge: (_req: IncomingMessage) => new GatewayError("RA_ERR_BODY_TOO_LARGE", "request body too large"),
  // An aborted upload gets no answer worth sending; the socket is gone.
  aborted: (_req: IncomingMessage) => new GatewayError("RA_ERR_MALFORMED", "the request body could not be read"),
};

/**
 * Collects a request body of at most `max` bytes. Over the cap (declared or streamed) the answer is
 * RA_ERR_BODY_TOO_LARGE at once, without reading the rest; a compressed body is refused (ACME clients
 * send plain JSON, and inflating would let a small upload grow past the cap).
 */
export function readBody(req: IncomingMessage, max: number, cb: (body: Buffer, refused?: GatewayError) => void): void {
  collectBody(req, max, (body, refused) => cb(body, refused && REFUSED[refused](req)));
}
