import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DES_KEY_LENGTH, desCbcDecrypt, desCbcEncrypt, desSelfTest, newDesKey } from "../../protocols/scep/des.js";
import { opensslStatus, tempDir } from "../helpers/openssl.js";

// Single DES-CBC against OpenSSL's own des-cbc from its legacy provider (which node does not load): the
// gateway's DES must give and take exactly the bytes `openssl enc -des-cbc` does.

const dir = tempDir("scep-des-");
const LEGACY = ["-provider", "legacy", "-provider", "default"];
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** `openssl enc -des-cbc` (encrypt, or decrypt with `-d`) of `input` under key and IV. */
function opensslDes(input: Uint8Array, key: Uint8Array, iv: Uint8Array, decrypt = false): { code: number; out: Buffer; log: string } {
  const name = `${hex(randomBytes(6))}`;
  const inFile = join(dir, `${name}.in`);
  const outFile = join(dir, `${name}.out`);
  writeFileSync(inFile, input);
  const r = opensslStatus(["enc", "-des-cbc", ...LEGACY, ...(decrypt ? ["-d"] : []), "-K", hex(key), "-iv", hex(iv), "-in", inFile, "-out", outFile]);
  return { code: r.code, out: r.code === 0 ? readFileSync(outFile) : Buffer.alloc(0), log: r.out };
}

describe("single DES-CBC", () => {
  it("FIPS 46-3's worked example: 133457799BBCDFF1 encrypts 0123456789ABCDEF to 85E813540F0AB405", () => {
    const out = desCbcEncrypt(Buffer.from("133457799BBCDFF1", "hex"), Buffer.alloc(8), Buffer.from("0123456789ABCDEF", "hex"));
    expect(hex(out.subarray(0, 8))).toBe("85e813540f0ab405");
    expect(out.length).toBe(16); // one more block of PKCS #5 padding
    expect(desSelfTest()).toBe(true);
  });

  it("gives byte for byte what openssl enc -des-cbc gives, and each reads the other's ciphertext", () => {
    for (const length of [0, 1, 7, 8, 9, 15, 16, 100, 1500]) {
      const key = randomBytes(8);
      const iv = randomBytes(8);
      const plain = randomBytes(length);
      const ours = desCbcEncrypt(key, iv, plain);
      const theirs = opensslDes(plain, key, iv);
      expect(theirs.code, theirs.log).toBe(0);
      expect(hex(ours), `length ${length}`).toBe(hex(theirs.out));
      expect(hex(desCbcDecrypt(key, iv, theirs.out))).toBe(hex(plain));
      const back = opensslDes(ours, key, iv, true);
      expect(back.code, back.log).toBe(0);
      expect(hex(back.out)).toBe(hex(plain));
    }
  });

  it("ignores the parity bits, as DES does: keys differing only in bit 0 of each byte encrypt alike", () => {
    const key = randomBytes(8);
    const flipped = Buffer.from(key.map((b) => b ^ 0x01));
    const iv = randomBytes(8);
    const plain = randomBytes(24);
    expect(hex(desCbcEncrypt(flipped, iv, plain))).toBe(hex(desCbcEncrypt(key, iv, plain)));
    const theirs = opensslDes(plain, flipped, iv);
    expect(theirs.code, theirs.log).toBe(0);
    expect(hex(theirs.out)).toBe(hex(desCbcEncrypt(key, iv, plain)));
  });

  it("refuses wrong key and IV sizes, partial blocks and bad padding", () => {
    const iv = randomBytes(8);
    expect(() => desCbcEncrypt(randomBytes(16), iv, randomBytes(8))).toThrow(/8 bytes/);
    expect(() => desCbcEncrypt(randomBytes(24), iv, randomBytes(8))).toThrow(/8 bytes/);
    expect(() => desCbcEncrypt(randomBytes(8), randomBytes(16), randomBytes(8))).toThrow(/IV/);
    const key = randomBytes(8);
    const good = desCbcEncrypt(key, iv, randomBytes(20));
    expect(() => desCbcDecrypt(key, iv, good.subarray(0, good.length - 3))).toThrow();
    // A last block whose padding is not 01..08 repeated: decrypt a block made to end in 0x00.
    const bad = desCbcEncrypt(key, iv, Buffer.concat([randomBytes(7), Buffer.of(0)])).subarray(0, 8);
    expect(() => desCbcDecrypt(key, iv, bad)).toThrow();
  });

  it("makes fresh keys with odd parity in every byte", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 64; i++) {
      const k = newDesKey();
      expect(k.length).toBe(DES_KEY_LENGTH);
      for (const b of k) expect(b.toString(2).split("").filter((x) => x === "1").length % 2).toBe(1);
      seen.add(hex(k));
    }
    expect(seen.size).toBe(64);
  });
});
