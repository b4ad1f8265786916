import type { IncomingMessage } from "node:http";

/** Why a body was not collected: over the cap (declared or streamed), content-encoded, or the upload broke off. */
export type BodyRefusal = "tooLarge" | "encoded" | "aborted";

const EMPTY = Buffer.alloc(0);

/**
 * Collects an identity-encoded request body of at most `max` bytes for the routes served ahead of express
 * (ACME, OCSP). Over the cap the answer comes at once, without reading the rest; a compressed body is
 * refused, since inflating would let a small upload grow past the cap.
 */
export function collectBody(req: IncomingMessage, max: number, cb: (body: Buffer, refused?: BodyRefusal) => void): void {
  const encoding = req.headers["content-encoding"];
  if (encoding && encoding.toLowerCase() !== "identity") return cb(EMPTY, "encoded");
  if (Number(req.headers["content-length"] ?? 0) > max) return cb(EMPTY, "tooLarge");
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = (body: Buffer, refused?: BodyRefusal) => {
    if (finished) return;
    finished = true;
    req.removeListener("data", onData);
    cb(body, refused);
  };
  const onData = (c: Buffer) => {
    size += c.length;
    if (size > max) {
      req.pause();
      finish(EMPTY, "tooLarge");
      return;
    }
    chunks.push(c);
  };
  req.on("data", onData);
  req.on("end", () => finish(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
  req.on("error", () => finish(EMPTY, "aborted"));
}
