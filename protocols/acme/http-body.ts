import type { IncomingMessage } from "node:http";
import { GatewayError } from "../../src/errors.js";

const EMPTY = Buffer.alloc(0);

/**
 * Collects a request body of at most `max` bytes. Over the cap (declared or streamed) the answer is
 * RA_ERR_BODY_TOO_LARGE at once, without reading the rest; a compressed body is refused (ACME clients
 * send plain JSON, and inflating would let a small upload grow past the cap).
 */
export function readBody(req: IncomingMessage, max: number, cb: (body: Buffer, refused?: GatewayError) => void): void {
  const encoding = req.headers["content-encoding"];
  if (encoding && encoding.toLowerCase() !== "identity") return cb(EMPTY, new GatewayError("RA_ERR_UNSUPPORTED_MEDIA", `content-encoding ${encoding} is not supported`));
  const tooLarge = () => new GatewayError("RA_ERR_BODY_TOO_LARGE", "request body too large");
  if (Number(req.headers["content-length"] ?? 0) > max) return cb(EMPTY, tooLarge());
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = (body: Buffer, refused?: GatewayError) => {
    if (finished) return;
    finished = true;
    req.removeListener("data", onData);
    cb(body, refused);
  };
  const onData = (c: Buffer) => {
    size += c.length;
    if (size > max) {
      req.pause();
      finish(EMPTY, tooLarge());
      return;
    }
    chunks.push(c);
  };
  req.on("data", onData);
  req.on("end", () => finish(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
  // An aborted upload gets no answer worth sending; the socket is gone.
  req.on("error", () => finish(EMPTY, new GatewayError("RA_ERR_MALFORMED", "the request body could not be read")));
}
