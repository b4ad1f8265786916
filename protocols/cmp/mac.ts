import { createHmac, randomBytes } from "node:crypto";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { checkDer } from "../../src/asn1/der-limits.js";
import { PBMParameter } from "./asn1/crmf.js";
import { MacKeyCache } from "./mac-cache.js";
import { decodeDer } from "./asn1/der-codec.js";
import { encodeDer } from "./asn1/der-encoder.js";
import { Pbkdf2Params, Pbkdf2Salt, Pbmac1Params } from "./asn1/pbmac1.js";
import { CMP_OID, HASH_BY_OID, HMAC_BY_OID, HMAC_OID_BY_HASH, OID_BY_HASH, type HashName } from "./oids.js";

/** Bounds checked on the parameters a client sends, before any key derivation. */
export interface MacCaps {
  maxIterations: number;
  maxSaltBytes: number;
  /** Default 100, OpenSSL's own floor for PBM. */
  minIterations?: number;
  /** HMAC-SHA1 as the PBM mac: `openssl cmp`'s default (-mac), refused unless allowed. The owf is never SHA-1. */
  allowHmacSha1?: boolean;
}

/** How to protect a response when no request parameters are mirrored. */
export type MacSpec =
  | { kind: "pbmac1"; hash?: HashName; iterations?: number; saltBytes?: number }
  | { kind: "pbm"; owf?: HashName; mac?: HashName; iterations?: number; saltBytes?: number };

export const DEFAULT_MAC_SPEC: MacSpec = { kind: "pbmac1", hash: "sha256", iterations: 10_000, saltBytes: 16 };

/** Everything needed to compute one MAC, all values already bounded. */
export type MacPlan =
  | { kind: "pbm"; salt: Uint8Array; owf: HashName; iterations: number; mac: HashName | "sha1" }
  | { kind: "pbmac1"; salt: Uint8Array; iterations: number; keyLength: number; prf: HashName; mac: HashName };

const MAX_KEY_LENGTH = 64; // PBKDF2 cost grows with ceil(keyLength / hLen): nothing above one SHA-512 block

/** Reads and bounds a PasswordBasedMac or PBMAC1 AlgorithmIdentifier; a string says why it is refused. */
export function macPlan(alg: AlgorithmIdentifier, caps: MacCaps): MacPlan | string {
  if (alg.algorithm !== CMP_OID.passwordBasedMac && alg.algorithm !== CMP_OID.pbmac1) return `protection algorithm ${alg.algorithm} is not a MAC`;
  if (!alg.parameters) return "MAC parameters are missing";
  try {
    if (alg.algorithm === CMP_OID.passwordBasedMac) return pbmPlan(params(alg.parameters, PBMParameter), caps);
    return pbmac1Plan(params(alg.parameters, Pbmac1Params), caps);
  } catch {
    return "MAC parameters are malformed";
  }
}

function pbmPlan(p: PBMParameter, caps: MacCaps): MacPlan | string {
  const bounds = checkBounds(p.salt.byteLength, p.iterationCount, caps);
  if (typeof bounds === "string") return bounds;
  const owf = HASH_BY_OID[p.owf.algorithm];
  if (!owf) return `PBM owf ${p.owf.algorithm} is not allowed (SHA-256/384/512)`;
  let mac: HashName | "sha1" | undefined = HMAC_BY_OID[p.mac.algorithm];
  if (!mac && (p.mac.algorithm === CMP_OID.hmacSha1 || p.mac.algorithm === CMP_OID.hmacWithSha1)) {
    if (!caps.allowHmacSha1) return "PBM mac HMAC-SHA1 is not allowed (openssl cmp: -mac hmacWithSHA256)";
    mac = "sha1";
  }
  if (!mac) return `PBM mac ${p.mac.algorithm} is not allowed`;
  return { kind: "pbm", salt: new Uint8Array(p.salt), owf, iterations: bounds, mac };
}

function pbmac1Plan(p: Pbmac1Params, caps: MacCaps): MacPlan | string {
  if (p.keyDerivationFunc.algorithm !== CMP_OID.pbkdf2 || !p.keyDerivationFunc.parameters) return "PBMAC1 key derivation must be PBKDF2";
  const kdf = params(p.keyDerivationFunc.parameters, Pbkdf2Params);
  if (!kdf.salt.specified) return "PBKDF2 salt must be specified";
  const bounds = checkBounds(kdf.salt.specified.byteLength, kdf.iterationCount, caps);
  if (typeof bounds === "string") return bounds;
  const prf = kdf.prf ? HMAC_BY_OID[kdf.prf.algorithm] : undefined;
  if (!prf) return "PBKDF2 prf must be HMAC-SHA256/384/512";
  const mac = HMAC_BY_OID[p.messageAuthScheme.algorithm];
  if (!mac) return "PBMAC1 messageAuthScheme must be HMAC-SHA256/384/512";
  const keyLength = kdf.keyLength ?? BigInt(hashLength(mac));
  if (keyLength < 16n || keyLength > BigInt(MAX_KEY_LENGTH)) return `PBKDF2 keyLength ${keyLength} is outside 16..${MAX_KEY_LENGTH}`;
  return { kind: "pbmac1", salt: new Uint8Array(kdf.salt.specified), iterations: bounds, keyLength: Number(keyLength), prf, mac };
}

/**
 * Parameters by the strict codec, behind their own small DER limits (they may come from anywhere). Kept per
 * received parameters buffer: the request's are read to verify it and again to mirror them in the answer.
 */
function params<C extends new () => object>(der: ArrayBuffer, type: C): InstanceType<C> {
  const seen = decodedParams.get(der);
  if (seen?.type === type) return seen.value as InstanceType<C>;
  const b = new Uint8Array(der);
  checkDer(b, { maxBytes: 4096, maxDepth: 8, maxNodes: 64 });
  const value = decodeDer(type, b);
  decodedParams.set(der, { type, value });
  return value;
}
const decodedParams = new WeakMap<ArrayBuffer, { type: new () => object; value: object }>();

/** The iteration count as a number once it is known to be within the caps (a bigint, so 2^64 cannot overflow first). */
function checkBounds(saltBytes: number, iterations: bigint, caps: MacCaps): number | string {
  // Caps that are not integers refuse everything rather than throw (BigInt(NaN) would).
  const max = Number.isSafeInteger(caps.maxIterations) ? BigInt(caps.maxIterations) : 0n;
  const min = BigInt(Number.isSafeInteger(caps.minIterations) ? caps.minIterations! : 100);
  if (!(saltBytes <= caps.maxSaltBytes)) return `salt of ${saltBytes} bytes exceeds ${caps.maxSaltBytes}`;
  if (saltBytes === 0) return "salt is empty";
  if (iterations > max) return `iteration count ${iterations} exceeds ${caps.maxIterations}`;
  if (iterations < min) return `iteration count ${iterations} is below ${min}`;
  return Number(iterations);
}

/** Derives the MAC key of a plan off the event loop (`MacKeyPool.derive`); clients may derive however they like. */
export type DeriveKey = (plan: MacPlan, secret: Uint8Array) => Promise<Buffer>;

/** Where MAC keys come from: a derivation, or one behind the gateway's cache of keys already used (mac-cache.ts). */
export type MacKeySource = DeriveKey | { derive: DeriveKey; cache: MacKeyCache };

/** A MAC key for `plan` and `secret`; `keep()` adds a derived key to the cache (once it proved right). */
export async function macKey(plan: MacPlan, secret: Uint8Array, source: MacKeySource): Promise<{ key: Buffer; keep(): void }> {
  if (typeof source === "function") return { key: await source(plan, secret), keep: () => undefined };
  const id = MacKeyCache.id(plan, secret);
  const hit = source.cache.get(id);
  if (hit) return { key: hit, keep: () => undefined };
  const key = await source.derive(plan, secret);
  return { key, keep: () => source.cache.set(id, key) };
}

/** The MAC of `data` under `key`. PBM: key = owf^n(secret ‖ salt) (RFC 4211 §4.4); PBMAC1: key = PBKDF2 (RFC 8018 §5.2). */
export function macWithKey(plan: MacPlan, key: Buffer, data: Uint8Array): Buffer {
  return createHmac(plan.mac, key).update(data).digest();
}

/** The salt of this process's MAC-protected answers that mirror no request (random per process, at most 64 bytes used). */
const RESPONSE_SALT = randomBytes(64);

/**
 * The plan of a response and its protectionAlg: mirrors a request's MAC parameters (kind, hashes, iteration
 * count, salt), so the key that verified the request protects the answer without another derivation, and
 * its AlgorithmIdentifier is reused as is; HMAC-SHA1 is upgraded to HMAC-SHA256 (the key does not depend on
 * the mac; OpenSSL reads the response's own parameters). Or follows `spec` with this process's salt.
 */
export function responseProtection(like: AlgorithmIdentifier | MacSpec | undefined, caps?: MacCaps): { plan: MacPlan; alg: AlgorithmIdentifier } {
  if (like instanceof AlgorithmIdentifier) {
    // The request was verified under the caller's caps already; these only keep a bad `like` finite.
    const p = macPlan(like, { maxIterations: caps?.maxIterations ?? 1_000_000, maxSaltBytes: caps?.maxSaltBytes ?? 64, minIterations: 1, allowHmacSha1: true });
    if (typeof p === "string") throw new Error(`cannot mirror the request's MAC: ${p}`);
    if (p.kind === "pbm" && p.mac === "sha1") {
      const plan: MacPlan = { ...p, mac: "sha256" };
      return { plan, alg: macAlgorithmIdentifier(plan) };
    }
    return { plan: p, alg: like };
  }
  const plan = responsePlan(like);
  return { plan, alg: macAlgorithmIdentifier(plan) };
}

/** A plan for a response that mirrors no request: `spec` (default PBMAC1) with this process's salt. */
export function responsePlan(like: MacSpec | undefined): MacPlan {
  const spec = like ?? DEFAULT_MAC_SPEC;
  const iterations = spec.iterations ?? (spec.kind === "pbm" ? 1000 : 10_000);
  const salt = new Uint8Array(RESPONSE_SALT.subarray(0, Math.min(64, Math.max(16, spec.saltBytes ?? 16))));
  if (!Number.isInteger(iterations) || iterations < 1) throw new Error("MAC iteration count must be a positive integer");
  if (spec.kind === "pbm") return { kind: "pbm", salt, owf: spec.owf ?? "sha256", iterations, mac: spec.mac ?? "sha256" };
  const hash = spec.hash ?? "sha256";
  return { kind: "pbmac1", salt, iterations, keyLength: hashLength(hash), prf: hash, mac: hash };
}

/** The protectionAlg announcing `plan`; hash and HMAC identifiers without parameters, as openssl cmp writes them. */
export function macAlgorithmIdentifier(plan: MacPlan): AlgorithmIdentifier {
  if (plan.kind === "pbm") {
    const pbm = new PBMParameter({
      salt: toArrayBuffer(plan.salt),
      owf: new AlgorithmIdentifier({ algorithm: OID_BY_HASH[plan.owf] }),
      iterationCount: BigInt(plan.iterations),
      mac: new AlgorithmIdentifier({ algorithm: plan.mac === "sha1" ? CMP_OID.hmacSha1 : HMAC_OID_BY_HASH[plan.mac] }),
    });
    return new AlgorithmIdentifier({ algorithm: CMP_OID.passwordBasedMac, parameters: toArrayBuffer(encodeDer(pbm)) });
  }
  const kdf = new Pbkdf2Params({
    salt: new Pbkdf2Salt({ specified: toArrayBuffer(plan.salt) }),
    iterationCount: BigInt(plan.iterations),
    keyLength: BigInt(plan.keyLength),
    prf: new AlgorithmIdentifier({ algorithm: HMAC_OID_BY_HASH[plan.prf] }),
  });
  const pbmac1 = new Pbmac1Params({
    keyDerivationFunc: new AlgorithmIdentifier({ algorithm: CMP_OID.pbkdf2, parameters: toArrayBuffer(encodeDer(kdf)) }),
    messageAuthScheme: new AlgorithmIdentifier({ algorithm: HMAC_OID_BY_HASH[plan.mac] }),
  });
  return new AlgorithmIdentifier({ algorithm: CMP_OID.pbmac1, parameters: toArrayBuffer(encodeDer(pbmac1)) });
}

const hashLength = (h: HashName) => (h === "sha256" ? 32 : h === "sha384" ? 48 : 64);

function toArrayBuffer(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
