import { GatewayError } from "../../src/errors.js";
import { ACME_JWS_ALGORITHMS, checkAlgForKey, verifyJwsSignature } from "./jwk.js";
import type { KeyObject } from "node:crypto";

/** The protected header members ACME uses (RFC 8555 §6.2). */
export interface ProtectedHeader {
  alg: string;
  nonce?: string;
  url?: string;
  jwk?: unknown;
  kid?: string;
  [k: string]: unknown;
}

export interface ParsedJws {
  header: ProtectedHeader;
  protectedB64: string;
  payloadB64: string;
  signature: Buffer;
  /** Parsed payload; `undefined` for POST-as-GET (empty payload). */
  payload: unknown;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function b64(field: string, v: unknown): string {
  if (typeof v !== "string" || !B64URL.test(v)) throw new GatewayError("RA_ERR_MALFORMED", `JWS ${field} must be a base64url string`);
  return v;
}

function jsonOf(field: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new GatewayError("RA_ERR_MALFORMED", `JWS ${field} is not valid JSON`);
  }
}

/**
 * Flattened JSON serialization only (RFC 8555 §6.2): exactly `protected`, `payload`
 * and `signature`, so a general serialization (several signatures) or an unprotected
 * `header` is refused before anything is verified.
 */
export function parseJws(body: Buffer): ParsedJws {
  const outer = jsonOf("body", body.toString("utf8"));
  if (!outer || typeof outer !== "object" || Array.isArray(outer)) throw new GatewayError("RA_ERR_MALFORMED", "the body must be a flattened JWS object");
  const o = outer as Record<string, unknown>;
  if ("signatures" in o) throw new GatewayError("RA_ERR_MALFORMED", "JWS must carry exactly one signature (flattened serialization)");
  if ("header" in o) throw new GatewayError("RA_ERR_MALFORMED", "JWS must not carry an unprotected header");
  // A loop, not keys().filter(): this runs on every ACME request and allocates nothing when the body is well-formed.
  let extra: string[] | undefined;
  for (const k in o) if (k !== "protected" && k !== "payload" && k !== "signature") (extra ??= []).push(k);
  if (extra) throw new GatewayError("RA_ERR_MALFORMED", `unexpected JWS member(s): ${extra.join(", ")}`);
  const protectedB64 = b64("protected", o.protected);
  const payloadB64 = b64("payload", o.payload);
  const signature = Buffer.from(b64("signature", o.signature), "base64url");
  if (!protectedB64 || !signature.length) throw new GatewayError("RA_ERR_MALFORMED", "JWS protected header and signature must not be empty");
  const header = jsonOf("protected header", Buffer.from(protectedB64, "base64url").toString("utf8"));
  if (!header || typeof header !== "object" || Array.isArray(header)) throw new GatewayError("RA_ERR_MALFORMED", "JWS protected header must be an object");
  const h = header as ProtectedHeader;
  if (typeof h.alg !== "string" || !(ACME_JWS_ALGORITHMS as readonly string[]).includes(h.alg)) {
    throw new GatewayError("RA_ERR_BAD_SIGNATURE_ALG", `JWS algorithm ${JSON.stringify(h.alg)} is not allowed`, undefined, { algorithms: [...ACME_JWS_ALGORITHMS] });
  }
  if ("crit" in h || "b64" in h) throw new GatewayError("RA_ERR_MALFORMED", "JWS crit and b64 header parameters are not supported");
  if (h.jwk !== undefined && h.kid !== undefined) throw new GatewayError("RA_ERR_MALFORMED", "JWS must carry either jwk or kid, not both");
  if (h.jwk === undefined && h.kid === undefined) throw new GatewayError("RA_ERR_MALFORMED", "JWS must carry jwk or kid");
  if (h.kid !== undefined && typeof h.kid !== "string") throw new GatewayError("RA_ERR_MALFORMED", "JWS kid must be a string");
  const payload = payloadB64 === "" ? undefined : jsonOf("payload", Buffer.from(payloadB64, "base64url").toString("utf8"));
  return { header: h, protectedB64, payloadB64, signature, payload };
}

/** Checks the algorithm against the key, then the signature. */
export function verifyJws(jws: ParsedJws, key: KeyObject): void {
  checkAlgForKey(jws.header.alg, key);
  if (!verifyJwsSignature(jws.header.alg, key, `${jws.protectedB64}.${jws.payloadB64}`, jws.signature)) {
    throw new GatewayError("RA_ERR_BAD_SIGNATURE", "JWS signature does not verify");
  }
}
