import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from "node:crypto";
import { GatewayError } from "../../src/errors.js";

/** JWS algorithms an ACME account key may use (RFC 8555 §6.2 plus EdDSA), each bound to one key type. */
export const ACME_JWS_ALGORITHMS = ["RS256", "ES256", "ES384", "ES512", "EdDSA"] as const;
export type AcmeJwsAlg = (typeof ACME_JWS_ALGORITHMS)[number];

export interface AccountKey {
  key: KeyObject;
  /** Only the public members, in thumbprint order. */
  jwk: Record<string, string>;
  /** RFC 7638 SHA-256 thumbprint, base64url. */
  thumbprint: string;
}

const B64URL = /^[A-Za-z0-9_-]+$/;
const CURVE_FOR_ALG: Record<string, string> = { ES256: "P-256", ES384: "P-384", ES512: "P-521" };
const HASH_FOR_ALG: Record<string, string | null> = { RS256: "sha256", ES256: "sha256", ES384: "sha384", ES512: "sha512", EdDSA: null };

function member(jwk: Record<string, unknown>, name: string, base64url = true): string {
  const v = jwk[name];
  if (typeof v !== "string" || (base64url && !B64URL.test(v))) {
    throw new GatewayError("RA_ERR_MALFORMED", `the JWK member "${name}" is missing or not ${base64url ? "base64url" : "a string"}`);
  }
  return v;
}

/** Imports a client's public JWK: EC P-256/384/521, RSA ≥ 2048 bits, Ed25519. Private members are refused. */
export function importAccountJwk(raw: unknown): AccountKey {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new GatewayError("RA_ERR_MALFORMED", "jwk must be a JSON object");
  const j = raw as Record<string, unknown>;
  if ("d" in j || "p" in j || "k" in j) throw new GatewayError("RA_ERR_MALFORMED", "jwk must be a public key (it carries private or symmetric members)");
  let pub: Record<string, string>;
  switch (j.kty) {
    case "EC": {
      const crv = member(j, "crv", false);
      if (!["P-256", "P-384", "P-521"].includes(crv)) throw new GatewayError("RA_ERR_BAD_SIGNATURE_ALG", `EC curve ${crv} is not supported`);
      pub = { crv, kty: "EC", x: member(j, "x"), y: member(j, "y") };
      break;
    }
    case "RSA":
      pub = { e: member(j, "e"), kty: "RSA", n: member(j, "n") };
      break;
    case "OKP": {
      const crv = member(j, "crv", false);
      if (crv !== "Ed25519") throw new GatewayError("RA_ERR_BAD_SIGNATURE_ALG", `OKP curve ${crv} is not supported`);
      pub = { crv, kty: "OKP", x: member(j, "x") };
      break;
    }
    default:
      throw new GatewayError("RA_ERR_BAD_SIGNATURE_ALG", `key type ${String(j.kty)} is not supported`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pub, format: "jwk" });
  } catch {
    throw new GatewayError("RA_ERR_MALFORMED", "jwk is not a valid public key");
  }
  if (pub.kty === "RSA") {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048 || bits > 8192) throw new GatewayError("RA_ERR_KEY_WEAK", `RSA account keys must have 2048 to 8192 bits, not ${bits}`);
  }
  return { key, jwk: pub, thumbprint: thumbprintOf(pub) };
}

/** RFC 7638: the required members in lexicographic order, no whitespace, SHA-256. */
export function thumbprintOf(pub: Record<string, string>): string {
  const ordered = Object.keys(pub).sort().map((k) => `${JSON.stringify(k)}:${JSON.stringify(pub[k])}`).join(",");
  return createHash("sha256").update(`{${ordered}}`).digest("base64url");
}

/** The algorithm must match the key type (and curve): an ES256 header on a P-384 key is refused. */
export function checkAlgForKey(alg: string, key: KeyObject): void {
  const t = key.asymmetricKeyType;
  const ok =
    alg === "RS256" ? t === "rsa"
    : alg === "EdDSA" ? t === "ed25519"
    : alg in CURVE_FOR_ALG ? t === "ec" && key.asymmetricKeyDetails?.namedCurve === nodeCurve(CURVE_FOR_ALG[alg])
    : false;
  if (!ok) throw new GatewayError("RA_ERR_BAD_SIGNATURE_ALG", `algorithm ${alg} does not match the ${t ?? "unknown"} key`, undefined, { algorithms: [...ACME_JWS_ALGORITHMS] });
}

function nodeCurve(jwkCurve: string): string {
  return jwkCurve === "P-256" ? "prime256v1" : jwkCurve === "P-384" ? "secp384r1" : "secp521r1";
}

/** Verifies a JWS signature (ECDSA signatures are R‖S per RFC 7518 §3.4). */
export function verifyJwsSignature(alg: string, key: KeyObject, signingInput: string, signature: Buffer): boolean {
  const hash = HASH_FOR_ALG[alg];
  if (hash === undefined) return false;
  try {
    return cryptoVerify(hash, Buffer.from(signingInput), alg.startsWith("ES") ? { key, dsaEncoding: "ieee-p1363" } : key, signature);
  } catch {
    return false;
  }
}

/** Two public keys are the same key when their SPKI DER is identical. */
export function sameKey(a: KeyObject, b: KeyObject): boolean {
  return Buffer.from(a.export({ type: "spki", format: "der" })).equals(Buffer.from(b.export({ type: "spki", format: "der" })));
}
