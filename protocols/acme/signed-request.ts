import type { KeyObject } from "node:crypto";
import { BoundedMap } from "../../src/bounded-map.js";
import { GatewayError } from "../../src/errors.js";
import type { AcmeAccountRecord } from "../../src/store/acme-types.js";
import type { AcmeContext, AcmeUrls } from "./context.js";
import { importAccountJwk, type AccountKey } from "./jwk.js";
import { parseJws, verifyJws, type ParsedJws } from "./jws.js";

export type JwsAuth =
  | { via: "jwk"; key: AccountKey }
  | { via: "kid"; account: AcmeAccountRecord; key: KeyObject };

export interface SignedRequest {
  jws: ParsedJws;
  /** `undefined` for POST-as-GET. */
  payload: unknown;
  auth: JwsAuth;
  /** The URL the client signed (equal to the one it posted to). */
  url: string;
}

export type KeyMode = "jwk" | "kid" | "either";

/** Account keys kept imported: the busiest accounts stay; one seen once is re-imported (about 30 µs) if it returns. */
export const ACCOUNT_KEY_CACHE_SIZE = 1024;
const keyCache = new BoundedMap<string, { key: KeyObject; spki?: Uint8Array }>(ACCOUNT_KEY_CACHE_SIZE);

function cachedKey(account: AcmeAccountRecord): { key: KeyObject; spki?: Uint8Array } {
  const k = `${account.id}:${account.thumbprint}`;
  let entry = keyCache.get(k);
  if (!entry) {
    entry = { key: importAccountJwk(JSON.parse(account.jwk)).key };
    keyCache.set(k, entry);
  }
  return entry;
}

/** The account's key object, cached per account and key (key rollover changes the thumbprint). */
export function accountKey(account: AcmeAccountRecord): KeyObject {
  return cachedKey(account).key;
}

/** The account key's SPKI DER (finalize forbids it as the certificate key), exported once per cached key. */
export function accountKeySpki(account: AcmeAccountRecord): Uint8Array {
  const entry = cachedKey(account);
  return (entry.spki ??= new Uint8Array(entry.key.export({ type: "spki", format: "der" })));
}

/**
 * RFC 8555 §6.2–6.5 in order: media type, JWS shape and algorithm, nonce present, url
 * equal to the request's external URL, key by jwk or kid as the resource demands,
 * signature, then the nonce is redeemed (single use, atomic in the store).
 */
export async function readSigned(ctx: AcmeContext, urls: AcmeUrls, contentType: string | undefined, body: Buffer, path: string, mode: KeyMode): Promise<SignedRequest> {
  if (!isJoseJson(contentType)) throw new GatewayError("RA_ERR_UNSUPPORTED_MEDIA", "ACME requests must be application/jose+json");
  const jws = parseJws(body);
  const h = jws.header;
  if (typeof h.nonce !== "string" || !/^[A-Za-z0-9_-]{1,128}$/.test(h.nonce)) throw new GatewayError("RA_ERR_BAD_NONCE", "JWS has no valid nonce");
  const url = ctx.gw.urls.https + path;
  if (h.url !== url) throw new GatewayError("RA_ERR_UNAUTHORIZED", `JWS url ${JSON.stringify(h.url)} does not match the request URL ${url}`);

  let auth: JwsAuth;
  if (h.jwk !== undefined) {
    if (mode === "kid") throw new GatewayError("RA_ERR_MALFORMED", "this resource needs kid (an account URL), not jwk");
    const key = importAccountJwk(h.jwk);
    verifyJws(jws, key.key);
    auth = { via: "jwk", key };
  } else {
    if (mode === "jwk") throw new GatewayError("RA_ERR_MALFORMED", "this resource needs jwk, not kid");
    const id = urls.accountIdFromKid(h.kid as string);
    const account = id ? await ctx.store.getAccount(id) : undefined;
    if (!account || account.endpoint !== urls.endpoint.name) throw new GatewayError("RA_ERR_ACCOUNT_NOT_FOUND", "no account exists for this kid");
    const key = accountKey(account);
    verifyJws(jws, key);
    if (account.status !== "valid") throw new GatewayError("RA_ERR_ACCOUNT_DEACTIVATED", `the account is ${account.status}`);
    auth = { via: "kid", account, key };
  }
  if (!(await ctx.redeemNonce(h.nonce))) throw new GatewayError("RA_ERR_BAD_NONCE", "the nonce is unknown, expired or already used");
  if (auth.via === "kid") ctx.accountLimit?.take(`account:${auth.account.id}`);
  return { jws, payload: jws.payload, auth, url };
}

/** The media type without parameters, compared case-insensitively (the common exact spelling first). */
function isJoseJson(contentType: string | undefined): boolean {
  if (contentType === "application/jose+json") return true;
  return (contentType ?? "").split(";")[0].trim().toLowerCase() === "application/jose+json";
}

/** The account of a kid-signed request (handlers registered with mode "kid"). */
export function accountOf(r: SignedRequest): AcmeAccountRecord {
  if (r.auth.via !== "kid") throw new GatewayError("RA_ERR_MALFORMED", "this resource needs kid");
  return r.auth.account;
}

/** Payload as an object (an empty object when the client sent `{}`); rejects arrays and scalars. */
export function objectPayload(r: SignedRequest): Record<string, unknown> {
  if (r.payload === undefined) throw new GatewayError("RA_ERR_MALFORMED", "this request needs a JSON object payload, not POST-as-GET");
  if (!r.payload || typeof r.payload !== "object" || Array.isArray(r.payload)) throw new GatewayError("RA_ERR_MALFORMED", "the payload must be a JSON object");
  return r.payload as Record<string, unknown>;
}
