import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

/**
 * Single DES in CBC mode with PKCS #5 padding (FIPS 46-3, the CMS `des-CBC` content cipher 1.3.14.3.2.7), for
 * SCEP clients that speak nothing else. OpenSSL 3 keeps `des-cbc` in its legacy provider, which node does not load;
 * its default provider has Triple DES, and TDEA with keying option 3 (K1 = K2 = K3) is single DES by construction
 * (NIST SP 800-67: E_K(D_K(E_K(x))) = E_K(x)). So the DES engine here is OpenSSL's own, fed K|K|K.
 */

export const DES_KEY_LENGTH = 8;
export const DES_BLOCK = 8;

function tripled(key: Uint8Array, iv: Uint8Array): Buffer {
  if (key.length !== DES_KEY_LENGTH) throw new RangeError(`a DES key is ${DES_KEY_LENGTH} bytes, not ${key.length}`);
  if (iv.length !== DES_BLOCK) throw new RangeError(`a DES-CBC IV is ${DES_BLOCK} bytes, not ${iv.length}`);
  return Buffer.concat([key, key, key]);
}

export function desCbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const c = createCipheriv("des-ede3-cbc", tripled(key, iv), iv);
  return new Uint8Array(Buffer.concat([c.update(plaintext), c.final()]));
}

/** Throws on a ciphertext that is not whole blocks or whose padding is wrong (the caller folds that into one answer). */
export function desCbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const d = createDecipheriv("des-ede3-cbc", tripled(key, iv), iv);
  return new Uint8Array(Buffer.concat([d.update(ciphertext), d.final()]));
}

/** A fresh DES key with odd parity in every byte (FIPS 46-3 §3; receivers ignore the parity bits, but some check them). */
export function newDesKey(): Uint8Array {
  const k = randomBytes(DES_KEY_LENGTH);
  for (let i = 0; i < k.length; i++) {
    let ones = 0;
    for (let b = 1; b < 0x100; b <<= 1) if (k[i] & b & 0xfe) ones++;
    k[i] = (k[i] & 0xfe) | (ones % 2 === 0 ? 1 : 0);
  }
  return new Uint8Array(k);
}

/**
 * Known answer of FIPS 46-3's worked example (key 133457799BBCDFF1, plaintext 0123456789ABCDEF →
 * 85E813540F0AB405; one CBC block under a zero IV is ECB). Run once where single DES is switched on, so a runtime
 * whose OpenSSL cannot run it (a FIPS-only build, for one) fails at start instead of on a device's first request.
 */
export function desSelfTest(): boolean {
  try {
    const out = desCbcEncrypt(Buffer.from("133457799BBCDFF1", "hex"), Buffer.alloc(8), Buffer.from("0123456789ABCDEF", "hex"));
    return Buffer.from(out.subarray(0, 8)).toString("hex") === "85e813540f0ab405";
  } catch {
    return false;
  }
}
