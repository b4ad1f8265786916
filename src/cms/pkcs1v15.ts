import { createHmac, randomBytes, type KeyObject } from "node:crypto";

/**
 * PKCS #1 v1.5 key transport (RFC 8017 §7.2.2) decrypted without a padding oracle (Bleichenbacher).
 * Node 20 refuses RSA_PKCS1_PADDING for private decryption (CVE-2023-46809), and an HSM's CKM_RSA_PKCS
 * would report bad padding as an error anyway, so the raw RSA operation (RSA_NO_PADDING / CKM_RSA_X_509)
 * happens elsewhere and the padding is removed here with implicit rejection: whatever the padding, a key
 * of the expected length comes back — the real one, or a pseudo-random one derived from the ciphertext and a
 * per-process secret. A bad padding then fails exactly like a wrong key: at content decryption, later.
 * The checks below avoid data-dependent branches and early exits (as far as JavaScript allows).
 */

/** Per-process secret for the synthetic keys: the same ciphertext always yields the same wrong key. */
const REJECTION_SECRET = randomBytes(32);

const moduli = new WeakMap<KeyObject, Buffer>();

/** The modulus (its length is k), for the public checks before the RSA operation. */
function modulus(key: KeyObject): Buffer {
  let n = moduli.get(key);
  if (!n) {
    const jwk = key.asymmetricKeyType === "rsa" ? key.export({ format: "jwk" }).n : undefined;
    if (!jwk) throw new Error("PKCS #1 v1.5 key transport needs an RSA key");
    moduli.set(key, (n = Buffer.from(jwk, "base64url")));
  }
  return n;
}

/** HMAC-SHA256(secret, length ‖ counter ‖ ciphertext) blocks, cut to `length`. */
function syntheticKey(ciphertext: Uint8Array, length: number): Buffer {
  const out: Buffer[] = [];
  for (let counter = 0; out.length * 32 < length; counter++) {
    out.push(createHmac("sha256", REJECTION_SECRET).update(Uint8Array.of(length, counter)).update(ciphertext).digest());
  }
  return Buffer.concat(out).subarray(0, length);
}

/**
 * The content-encryption key inside `encryptedKey`, or a synthetic key of `keyLength` bytes when the
 * padding is wrong or the length differs. `rawDecrypt` is the unpadded private RSA operation (m = c^d mod n);
 * it is called only for ciphertexts of the modulus size and below the modulus (public checks), so its own
 * errors are real failures (HSM down) and propagate.
 */
export async function unwrapPkcs1v15(o: { encryptedKey: Uint8Array; publicKey: KeyObject; keyLength: number; rawDecrypt: (block: Uint8Array) => Promise<Uint8Array> }): Promise<Uint8Array> {
  const n = modulus(o.publicKey);
  const k = n.length;
  const fallback = syntheticKey(o.encryptedKey, o.keyLength);
  if (o.encryptedKey.length !== k || Buffer.compare(Buffer.from(o.encryptedKey), n) >= 0 || k < o.keyLength + 11) return fallback;
  const raw = await o.rawDecrypt(o.encryptedKey);
  // PKCS #11 tokens may drop leading zero octets; a longer block is simply invalid.
  const em = new Uint8Array(k);
  if (raw.length <= k) em.set(raw, k - raw.length);
  return selectKey(em, o.keyLength, fallback, raw.length > k ? 1 : 0);
}

/** EM = 0x00 ‖ 0x02 ‖ PS (≥ 8 non-zero octets) ‖ 0x00 ‖ M with |M| = keyLength → M, else `fallback`. */
function selectKey(em: Uint8Array, keyLength: number, fallback: Uint8Array, badInput: number): Uint8Array {
  const k = em.length;
  let bad = badInput | em[0] | (em[1] ^ 0x02);
  let found = 0;
  let separator = 0;
  for (let i = 2; i < k; i++) {
    const isZero = ((em[i] | -em[i]) >>> 31) ^ 1; // 1 when em[i] === 0
    const first = isZero & (found ^ 1);
    separator |= -first & i;
    found |= isZero;
  }
  bad |= found ^ 1;
  bad |= ((separator - 10) >>> 31) & 1; // PS shorter than 8 octets
  bad |= (k - separator - 1) ^ keyLength;
  const good = ((bad | -bad) >>> 31) ^ 1;
  const mask = -good & 0xff;
  const out = new Uint8Array(keyLength);
  for (let j = 0; j < keyLength; j++) out[j] = (em[k - keyLength + j] & mask) | (fallback[j] & ~mask & 0xff);
  return out;
}
