import type { IncomingMessage } from "node:http";
import { requestScope, type ActiveRequest } from "./request-context.js";

/** Why a body was not collected: over the cap (declared or streamed), content-encoded, or the upload broke off. */
export type BodyRefusal = "tooLarge" | "encoded" | "aborted";

const EMPTY = Buffer.alloc(0);

/** A collection in progress, kept on the request: the listeners below are shared, so none is made per request. */
interface Collecting {
  max: number;
  size: number;
  first: Buffer | undefined;
  more: Buffer[] | undefined;
  cb: (body: Buffer, refused: BodyRefusal | undefined, arg: unknown) => void;
  arg: unknown;
  /** The request scope at the start: the stream's events run in the connection's async context, not the request's. */
  scope: ActiveRequest | undefined;
}

const STATE = Symbol("collectBody");
type CollectingRequest = IncomingMessage & { [STATE]?: Collecting };

/**
 * Collects an identity-encoded request body of at most `max` bytes for the routes served ahead of express
 * (ACME, OCSP). Over the cap the answer comes at once, without reading the rest; a compressed body is
 * refused, since inflating would let a small upload grow past the cap. `arg` is handed back to `cb`, so a
 * hot caller can pass a module-level callback and make no closure per request.
 */
export function collectBody<T = undefined>(req: IncomingMessage, max: number, cb: (body: Buffer, refused: BodyRefusal | undefined, arg: T) => void, arg?: T): void {
  const encoding = req.headers["content-encoding"];
  if (encoding && encoding.toLowerCase() !== "identity") return cb(EMPTY, "encoded", arg as T);
  if (Number(req.headers["content-length"] ?? 0) > max) return cb(EMPTY, "tooLarge", arg as T);
  (req as CollectingRequest)[STATE] = { max, size: 0, first: undefined, more: undefined, cb: cb as Collecting["cb"], arg, scope: requestScope.getStore() };
  req.on("data", onData);
  req.on("end", onEnd);
  req.on("error", onError);
}

/** Hands the outcome over once: later events (an error after the cap, end after an error) find no state. */
function finish(req: CollectingRequest, body: Buffer, refused?: BodyRefusal): void {
  const s = req[STATE];
  if (!s) return;
  req[STATE] = undefined;
  req.removeListener("data", onData);
  // Node 24's AsyncLocalStorage (async context frames) does not carry the request's scope into 'end': restore it,
  // so the audit events and the refusal of this request are attributed to it.
  if (s.scope) requestScope.run(s.scope, s.cb, body, refused, s.arg);
  else s.cb(body, refused, s.arg);
}

function onData(this: CollectingRequest, c: Buffer): void {
  const s = this[STATE];
  if (!s) return;
  s.size += c.length;
  if (s.size > s.max) {
    this.pause();
    finish(this, EMPTY, "tooLarge");
    return;
  }
  if (!s.first) s.first = c;
  else (s.more ??= [s.first]).push(c);
}

function onEnd(this: CollectingRequest): void {
  const s = this[STATE];
  if (s) finish(this, s.more ? Buffer.concat(s.more, s.size) : (s.first ?? EMPTY));
}

function onError(this: CollectingRequest): void {
  finish(this, EMPTY, "aborted");
}
