import { createHash } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { SubjectPublicKeyInfo } from "@peculiar/asn1-x509";
import { algorithmIdentifier } from "../asn1/algorithms.js";
import { BoundedMap } from "../bounded-map.js";
import type { CertificateAuthority } from "../ca/authority.js";
import { signAndVerify } from "../ca/sign-object.js";
import { GatewayError, toGatewayError } from "../errors.js";
import { certStatusDer, generalizedTime, responseDataDer, singleResponseDer, successfulResponseDer, type CertStatus } from "./ocsp-der.js";
import { DEFAULT_MAX_REQUEST_BYTES, parseOcspRequest, type HashName, type OcspCertId } from "./ocsp-request.js";

/** The certificate's current status; a store answers with a promise, a synchronous lookup keeps a kept answer synchronous. */
export type StatusLookup = (caName: string, serialHex: string) => CertStatus | Promise<CertStatus>;

export interface OcspResponderOptions {
  validityMinutes: number;
  now?: () => Date;
  /** Cap on the DER request size; default DEFAULT_MAX_REQUEST_BYTES (32 KiB). */
  maxRequestBytes?: number;
  /** Told why a request got a non-successful response (the response itself never says). Must not throw; if it does, that is ignored. */
  onError?: (err: GatewayError) => void;
  /** Pre-signed responses kept, least recently used evicted first; 0 (the default here) signs every response. */
  cacheEntries?: number;
  /**
   * Bytes of pre-signed responses kept; default `cacheEntries` × 2 KiB. A classical response is under 2 KiB, so the
   * entry count binds first; an ML-DSA one is 6.5–12 KiB (signature and responder certificate), so fewer are kept.
   */
  cacheBytes?: number;
  /** Share of the validity after which a kept response is signed again; default 0.5. */
  refreshFraction?: number;
}

/** RFC 6960 OCSPResponseStatus values we emit. */
export const OcspStatus = { successful: 0, malformedRequest: 1, internalError: 2, unauthorized: 6 } as const;

/** OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED } — constant bytes, so building it cannot fail. */
export function errorResponse(status: 1 | 2 | 3 | 5 | 6): Uint8Array {
  return Uint8Array.of(0x30, 0x03, 0x0a, 0x01, status);
}

export interface OcspAnswer {
  der: Uint8Array;
  /** A successful response's validity; absent on error responses. */
  thisUpdate?: Date;
  nextUpdate?: Date;
  /** Strong validator (quoted) for responses an HTTP cache may keep; absent with a nonce and on errors. */
  etag?: string;
  /** Served pre-signed, without signing. */
  cached: boolean;
  /**
   * For metrics: the certificate status stated (good, revoked, unknown; with several CertIDs the most severe),
   * or the error status (malformedRequest, internalError, unauthorized).
   */
  status?: OcspStatusLabel;
}

export type OcspStatusLabel = "good" | "revoked" | "unknown" | "malformedRequest" | "internalError" | "unauthorized";

/** A signed response for one CertID and the status it states. */
interface Presigned {
  statusKey: string;
  refreshAt: number;
  nextUpdateMs: number;
  hit: OcspAnswer;
  miss: OcspAnswer;
}

/**
 * RFC 6960 responder with pre-signed responses, the way large CAs serve OCSP: a response for one CertID
 * is signed once and reused until past `refreshFraction` of its validity. Every request still reads the
 * certificate's current status (a primary-key lookup) and a kept response is used only when it was
 * signed for that same status, so a revocation or hold release by any process sharing the store shows
 * in the next answer. Requests with a nonce or with several CertIDs are signed fresh and never kept.
 */
export class OcspResponder {
  private readonly cache?: PresignedCache;
  /** Signatures under way per (CertID, status): concurrent misses wait for one signature. */
  private readonly inflight = new Map<string, Promise<Presigned>>();
  private readonly maxRequestBytes: number;
  private readonly refreshFraction: number;

  constructor(private readonly cas: () => readonly CertificateAuthority[], private readonly lookup: StatusLookup, private readonly opts: OcspResponderOptions) {
    const entries = opts.cacheEntries ?? 0;
    if (entries > 0) this.cache = new PresignedCache(entries, opts.cacheBytes ?? entries * DEFAULT_BYTES_PER_ENTRY);
    this.maxRequestBytes = opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    this.refreshFraction = opts.refreshFraction ?? 0.5;
  }

  /** Pre-signed responses held now. */
  get cachedCount(): number {
    return this.cache?.size ?? 0;
  }

  /** DER bytes of the pre-signed responses held now. */
  get cachedBytes(): number {
    return this.cache?.bytes ?? 0;
  }

  /**
   * An OCSPResponse for any input: malformedRequest for bad input, unauthorized when no CA (with a
   * delegated responder) matches, internalError otherwise; never throws. `onError` (default: the
   * option) is told why, e.g. with the logger of the request being answered.
   */
  async respond(requestDer: Uint8Array, onError = this.opts.onError): Promise<OcspAnswer> {
    return this.respondNow(requestDer, onError);
  }

  /**
   * As respond, but with a synchronous lookup a kept response comes back synchronously: the hot path
   * (a pre-signed answer) makes no further promise than the lookup's. `onError` is called with `about` (e.g. the request).
   */
  respondNow<T>(requestDer: Uint8Array, onError: ((err: GatewayError, about: T) => void) | undefined, about: T): OcspAnswer | Promise<OcspAnswer>;
  respondNow(requestDer: Uint8Array, onError?: (err: GatewayError) => void): OcspAnswer | Promise<OcspAnswer>;
  respondNow<T>(requestDer: Uint8Array, onError = this.opts.onError as ((err: GatewayError, about: T) => void) | undefined, about?: T): OcspAnswer | Promise<OcspAnswer> {
    try {
      const a = this.answer(requestDer);
      return a instanceof Promise ? a.catch((e: unknown) => failed(e, onError, about as T)) : a;
    } catch (e) {
      return failed(e, onError, about as T);
    }
  }

  private answer(requestDer: Uint8Array): OcspAnswer | Promise<OcspAnswer> {
    const req = parseOcspRequest(requestDer, this.maxRequestBytes);
    const ca = this.caFor(req.certIds);
    const validityMs = this.opts.validityMinutes * 60_000;
    if (!Number.isFinite(validityMs) || validityMs <= 0) throw new GatewayError("RA_ERR_INTERNAL", "OCSP validityMinutes must be positive");
    const nowMs = this.opts.now ? this.opts.now().getTime() : Date.now();
    if (!this.cache || req.nonce || req.certIds.length !== 1) {
      // One lookup per CertID (at most OCSP_MAX_REQUESTS), concurrently.
      return Promise.all(req.certIds.map((id) => this.lookup(ca.name, id.serial)))
        .then((statuses) => this.sign(ca, req.certIds, statuses, nowMs, validityMs, req.nonce)).then(missOf);
    }
    const id = req.certIds[0];
    const status = this.lookup(ca.name, id.serial);
    return status instanceof Promise ? status.then((st) => this.single(ca, id, st, nowMs, validityMs)) : this.single(ca, id, status, nowMs, validityMs);
  }

  /** A single-CertID request without a nonce: the kept response when it was signed for `status`, else one signature shared by concurrent misses. */
  private single(ca: CertificateAuthority & { ocsp: NonNullable<CertificateAuthority["ocsp"]> }, id: OcspCertId, status: CertStatus, nowMs: number, validityMs: number): OcspAnswer | Promise<OcspAnswer> {
    const statusKey = keyOf(status);
    const key = `${ca.name}\0${Buffer.from(id.der.buffer, id.der.byteOffset, id.der.byteLength).toString("latin1")}`;
    const kept = this.cache!.get(key);
    if (kept && kept.statusKey === statusKey && nowMs < kept.refreshAt && nowMs < kept.nextUpdateMs) return kept.hit;
    const flightKey = `${key}\0${statusKey}`;
    let flight = this.inflight.get(flightKey);
    if (!flight) {
      // The CertID bytes are copied: the request buffer is not ours to keep.
      flight = this.sign(ca, [{ ...id, der: Uint8Array.from(id.der) }], [status], nowMs, validityMs, undefined, statusKey);
      this.inflight.set(flightKey, flight);
      flight.then((p) => this.cache?.set(key, p), () => undefined).finally(() => this.inflight.delete(flightKey));
    }
    return flight.then(missOf);
  }

  private caFor(certIds: OcspCertId[]): CertificateAuthority & { ocsp: NonNullable<CertificateAuthority["ocsp"]> } {
    let ca: CertificateAuthority | undefined;
    const all = this.cas();
    for (const id of certIds) {
      const found = all.find((c) => issuedBy(id, c));
      if (!found) throw unauthorized("a CertID matches no CA served here");
      if (ca && ca !== found) throw unauthorized("CertIDs for different CAs in one request");
      ca = found;
    }
    if (!ca?.ocsp) throw unauthorized(`CA ${ca?.name} has no delegated OCSP responder`);
    return ca as CertificateAuthority & { ocsp: NonNullable<CertificateAuthority["ocsp"]> };
  }

  private async sign(ca: CertificateAuthority & { ocsp: NonNullable<CertificateAuthority["ocsp"]> }, certIds: OcspCertId[], statuses: CertStatus[],
    nowMs: number, validityMs: number, nonce: Uint8Array | undefined, statusKey = ""): Promise<Presigned> {
    const responder = ca.ocsp;
    const thisMs = Math.floor(nowMs / 1000) * 1000;
    const thisUpdate = new Date(thisMs);
    const nextUpdate = new Date(thisMs + validityMs);
    const [thisDer, nextDer] = [generalizedTime(thisUpdate), generalizedTime(nextUpdate)];
    const singles = certIds.map((id, i) => singleResponseDer(id.der, certStatusDer(statuses[i]), thisDer, nextDer));
    const tbs = responseDataDer(responderParts(responder).keyHash, thisDer, singles, nonce);
    const sig = await signAndVerify(responder.signer, tbs);
    const der = successfulResponseDer(tbs, responderParts(responder).algorithm, sig, responder.certDer);
    const etag = nonce ? undefined : `"${createHash("sha256").update(der).digest("base64url").slice(0, 27)}"`;
    const miss: OcspAnswer = { der, thisUpdate, nextUpdate, etag, cached: false, status: statusLabel(statuses) };
    return {
      statusKey, refreshAt: thisMs + validityMs * this.refreshFraction, nextUpdateMs: nextUpdate.getTime(),
      miss, hit: { ...miss, cached: true },
    };
  }
}

const missOf = (p: Presigned) => p.miss;

const DEFAULT_BYTES_PER_ENTRY = 2048;

/** Kept responses, least recently used evicted first once either the entry count or the bytes held pass their cap. */
class PresignedCache {
  private readonly map: BoundedMap<string, Presigned>;
  /** DER bytes held (hit and miss share one buffer). */
  private held = 0;

  constructor(maxEntries: number, private readonly maxBytes: number) {
    this.map = new BoundedMap(maxEntries, (_, v) => (this.held -= v.miss.der.length));
  }

  get size(): number {
    return this.map.size;
  }

  get bytes(): number {
    return this.held;
  }

  get(key: string): Presigned | undefined {
    return this.map.get(key);
  }

  set(key: string, p: Presigned): void {
    const old = this.map.has(key) ? this.map.get(key) : undefined;
    if (old) this.held -= old.miss.der.length;
    this.map.set(key, p);
    this.held += p.miss.der.length;
    // Iteration runs from the least recently used; the entry just set is the last and always stays.
    for (const [k, v] of this.map) {
      if (this.held <= this.maxBytes || k === key) break;
      this.map.delete(k);
      this.held -= v.miss.der.length;
    }
  }
}

/** The error answer for a failure, after telling `onError` why (a throwing onError is ignored). */
function failed<T>(e: unknown, onError: ((err: GatewayError, about: T) => void) | undefined, about: T): OcspAnswer {
  const err = toGatewayError(e);
  try {
    onError?.(err, about);
  } catch {
    // Logging must not turn an answer into a crash.
  }
  const status = statusFor(err);
  return { der: errorResponse(status), cached: false, status: status === OcspStatus.malformedRequest ? "malformedRequest" : status === OcspStatus.unauthorized ? "unauthorized" : "internalError" };
}

/** revoked over unknown over good: a response that says "revoked" about anything counts as revoked. */
function statusLabel(statuses: CertStatus[]): OcspStatusLabel {
  let worst: OcspStatusLabel = "good";
  for (const s of statuses) {
    if (s.status === "revoked") return "revoked";
    if (s.status === "unknown") worst = "unknown";
  }
  return worst;
}

/** By code, not kind: only the request's own faults may be blamed on the client (a config error is ours). */
function statusFor(err: GatewayError): 1 | 2 | 6 {
  if (err.code === "RA_ERR_MALFORMED" || err.code === "RA_ERR_DER_LIMIT") return OcspStatus.malformedRequest;
  return err.code === "RA_ERR_UNAUTHORIZED" ? OcspStatus.unauthorized : OcspStatus.internalError;
}

/** What a kept response must have been signed for: status, revocation time and reason. */
function keyOf(s: CertStatus): string {
  return s.status === "revoked" ? `r${s.revokedAt.getTime()}/${s.reason ?? ""}` : s.status;
}

/** Hashes of each CA's name and key, per hash algorithm, computed once. */
const caHashes = new WeakMap<CertificateAuthority, Map<HashName, { name: Buffer; key: Buffer }>>();

function issuedBy(id: OcspCertId, ca: CertificateAuthority): boolean {
  if (!id.hash) return false;
  let perCa = caHashes.get(ca);
  if (!perCa) caHashes.set(ca, (perCa = new Map()));
  let h = perCa.get(id.hash);
  if (!h) {
    h = { name: sha(id.hash, ca.subjectDer), key: sha(id.hash, publicKeyBits(ca.cert.publicKey.export({ type: "spki", format: "der" }))) };
    perCa.set(id.hash, h);
  }
  return h.name.equals(id.nameHash) && h.key.equals(id.keyHash);
}

type Responder = NonNullable<CertificateAuthority["ocsp"]>;
/** The responder's byKey ResponderID hash and signature AlgorithmIdentifier, computed once per responder. */
const responderCache = new WeakMap<Responder, { keyHash: Buffer; algorithm: Uint8Array }>();

function responderParts(r: Responder): { keyHash: Buffer; algorithm: Uint8Array } {
  let p = responderCache.get(r);
  if (!p) {
    p = {
      keyHash: sha("sha1", publicKeyBits(r.cert.publicKey.export({ type: "spki", format: "der" }))),
      algorithm: new Uint8Array(AsnConvert.serialize(algorithmIdentifier(r.signer.algorithm))),
    };
    responderCache.set(r, p);
  }
  return p;
}

/** subjectPublicKey BIT STRING contents (what RFC 6960 key hashes cover). */
function publicKeyBits(spkiDer: Uint8Array): Uint8Array {
  return new Uint8Array(AsnConvert.parse(spkiDer, SubjectPublicKeyInfo).subjectPublicKey);
}

function sha(hash: HashName, data: Uint8Array): Buffer {
  return createHash(hash).update(data).digest();
}

const unauthorized = (why: string) => new GatewayError("RA_ERR_UNAUTHORIZED", `OCSP request not served: ${why}`);
