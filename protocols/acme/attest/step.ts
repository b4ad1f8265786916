import { verify, type KeyObject } from "node:crypto";
import { decode } from "cborg";
import { checkAttestationChain, extensionsOf, extensionValue } from "./chain.js";
import { attestationFailure } from "./statement.js";
import type { AttestationInput, AttestationResult } from "./types.js";

const YUBICO_SERIAL = "1.3.6.1.4.1.41482.3.7";
const YUBICO_FIRMWARE = "1.3.6.1.4.1.41482.3.3";

const fail = (check: string, message: string) => attestationFailure("step", check, message);

/** COSE algorithm → the key it needs and how node:crypto verifies it. */
function signatureCheck(alg: number, key: KeyObject): { digest: string | null } {
  const kind = key.asymmetricKeyType;
  if (alg === -7 && kind === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") return { digest: "sha256" };
  if (alg === -257 && kind === "rsa") return { digest: "sha256" };
  // Ed25519 signs the key authorization itself (as step-ca verifies it), not a digest of it.
  if (alg === -8 && kind === "ed25519") return { digest: null };
  throw fail("alg", `alg ${alg} does not match the attested ${kind} key (ES256 on P-256, RS256 or EdDSA)`);
}

/** The YubiKey serial: a DER INTEGER (positive, at most 8 bytes) in the slot attestation certificate. */
export function yubikeySerial(der: Uint8Array | undefined): string | undefined {
  if (!der || der.length < 3 || der[0] !== 0x02 || der[1] !== der.length - 2 || der[1] > 8 || der[2] & 0x80) return undefined;
  return BigInt(`0x${Buffer.from(der.subarray(2)).toString("hex")}`).toString();
}

/**
 * YubiKey PIV attestation as the step CLI sends it: x5c = [slot attestation certificate, device F9
 * certificate] under a Yubico root; the slot certificate certifies the key. `sig` is a CBOR byte
 * string holding a CBOR-encoded byte string: the attested key's signature over the key authorization
 * (SHA-256 for ECDSA and RSA), which proves the key answered this very challenge.
 */
export function verifyStep(input: AttestationInput): AttestationResult {
  const alg = input.attStmt.int("alg");
  const wrapped = input.attStmt.bytes("sig");
  const x5c = input.attStmt.certificates();
  checkAttestationChain("step", x5c, input.anchors, input.now);
  const key = x5c[0].publicKey;
  const { digest } = signatureCheck(alg, key);
  let sig: unknown;
  try {
    sig = decode(wrapped, { allowUndefined: false, allowBigInt: false });
  } catch {
    throw fail("signature", "sig does not hold a CBOR byte string");
  }
  if (!(sig instanceof Uint8Array)) throw fail("signature", "sig does not hold a CBOR byte string");
  let ok = false;
  try {
    ok = verify(digest, Buffer.from(input.keyAuthorization), key, sig);
  } catch {
    ok = false;
  }
  if (!ok) throw fail("signature", "sig is not the attested key's signature over the key authorization");
  const exts = extensionsOf(x5c[0]);
  const serial = yubikeySerial(extensionValue(exts, YUBICO_SERIAL));
  const fw = extensionValue(exts, YUBICO_FIRMWARE);
  return {
    publicKey: key,
    // The serial is the YubiKey's own: it proves that module, under the hwTypes the profile accepts for step.
    claims: { permanentIds: [], hardwareModules: [], moduleSerials: serial ? [serial] : [] },
    facts: { ...(serial ? { serialNumber: serial } : {}), ...(fw?.length === 3 ? { firmware: [...fw].join(".") } : {}) },
  };
}
