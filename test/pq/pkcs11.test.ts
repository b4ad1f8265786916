// ML-DSA and PKCS#11. SoftHSM2 2.6 has no ML-DSA mechanism, so against a real token this shows the refusal: clear,
// exit code 2, and before anything exists (no CA directory, no key object on the token). The code paths for a token
// that does offer PKCS#11 3.2 ML-DSA are checked piece by piece: the RFC 9881 SPKI built from CKA_VALUE, the key
// template graphene sends, and the C_SignInit/C_Sign calls against a recording stand-in for the token.
import { X509Certificate, createPrivateKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify, type KeyObject } from "node:crypto";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ml_dsa44, ml_dsa65, ml_dsa87 } from "@noble/post-quantum/ml-dsa.js";
import { MechanismFlag, Template, type Session, type SessionObject } from "graphene-pk11";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ML_DSA_SIZES } from "../../src/asn1/algorithms.js";
import { signAndVerify } from "../../src/ca/sign-object.js";
import {
  CKA_PARAMETER_SET, CKK_ML_DSA, CKM_ML_DSA, CKP_ML_DSA, Pkcs11Signer, generatePkcs11KeyPair, mlDsaMechanismRefusal,
} from "../../src/signers/pkcs11.js";
import { mlDsaLevelOfPublicKeyLength, mlDsaPublicKeyFromPkcs11, mlDsaSpkiFromPkcs11, ulongFromPkcs11 } from "../../src/signers/pkcs11-der.js";
import { closeUserSession, findSlot, openUserSession } from "../../src/signers/pkcs11-session.js";
import { initSoftHsmToken } from "../../src/signers/softhsm-dev.js";
import type { MlDsaLevel } from "../../src/signers/signer.js";
import { runGatewayCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/openssl.js";

const PIN = "pq-user-pin-5521";
const TOKEN = "gateway-ca";
const LEVELS: MlDsaLevel[] = [44, 65, 87];
const NOBLE = { 44: ml_dsa44, 65: ml_dsa65, 87: ml_dsa87 } as const;

let dir = "";
let modulePath = "";
let env: Record<string, string> = {};

beforeAll(() => {
  dir = tempDir("gw-pq-hsm-");
  // Throws (failing, not skipping) when SoftHSM2 is missing: CI installs it.
  const token = initSoftHsmToken({ label: TOKEN, soPin: "pq-so-pin-1187", userPin: PIN, tokensDir: join(dir, "tokens") });
  modulePath = token.modulePath;
  process.env.SOFTHSM2_CONF = token.confPath;
  writeFileSync(join(dir, "pin"), `${PIN}\n`, { mode: 0o600 });
  env = { SOFTHSM2_CONF: token.confPath };
});

/** Every object on the token, read through a logged-in session. */
function tokenObjects(): number {
  const uri = { token: TOKEN, other: {} };
  const slot = findSlot(modulePath, uri);
  const session = openUserSession(modulePath, slot, PIN, false, TOKEN);
  try {
    return session.find({}).length;
  } finally {
    closeUserSession(modulePath, slot, session);
  }
}

function caInit(dataDir: string, args: string[]) {
  return runGatewayCli(["ca", "init", "--data-dir", dataDir, ...args, "--pkcs11", "--module", modulePath, "--token", TOKEN, "--pin-file", join(dir, "pin")], env);
}

const REFUSAL = `token "${TOKEN}" offers no ML-DSA mechanism (CKM_ML_DSA_KEY_PAIR_GEN, CKM_ML_DSA from PKCS#11 3.2)`;

describe("gateway ca init --pkcs11 with ML-DSA on a token without PKCS#11 3.2 (SoftHSM2 2.6)", () => {
  it("refuses with exit code 2, names what the token offers, and creates nothing", async () => {
    const dataDir = join(dir, "whole");
    const r = await caInit(dataDir, ["--key", "ml-dsa-65"]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(REFUSAL);
    expect(r.stderr).toContain("cannot hold an ML-DSA-65 CA key");
    // What SoftHSM2 does offer, by name.
    expect(r.stderr).toMatch(/key-pair generation: [^;]*\bEC_KEY_PAIR_GEN\b[^;]*\bRSA_PKCS_KEY_PAIR_GEN\b|key-pair generation: [^;]*\bRSA_PKCS_KEY_PAIR_GEN\b[^;]*\bEC_KEY_PAIR_GEN\b/);
    expect(r.stderr).toMatch(/signing: .*\bECDSA\b/);
    expect(r.stderr).toMatch(/signing: .*\bSHA256_RSA_PKCS\b/);
    expect(r.stderr).toContain("[RA_ERR_CONFIG]");
    expect(r.stderr).not.toContain(PIN);
    expect(existsSync(join(dataDir, "cas", "root"))).toBe(false);
    expect(existsSync(join(dataDir, "cas", "issuing"))).toBe(false);
    expect(tokenObjects()).toBe(0);
  });

  it("a mixed chain (ML-DSA under an EC root in the token) is refused before the EC root key is made", async () => {
    const r = await caInit(join(dir, "mixed"), ["--key", "ml-dsa-87", "--root-key", "ec-p256"]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(REFUSAL);
    expect(r.stderr).toContain("ML-DSA-87");
    expect(tokenObjects()).toBe(0);
  });

  it("the reverse (an ML-DSA root over an EC issuing CA in the token) is refused too", async () => {
    const r = await caInit(join(dir, "reverse"), ["--key", "ec-p256", "--root-key", "ml-dsa-44"]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain("cannot hold an ML-DSA-44 CA key");
    expect(tokenObjects()).toBe(0);
  });

  it("an ML-DSA issuing CA in the token under an existing software root: refused, the root untouched", async () => {
    const dataDir = join(dir, "under");
    const made = await runGatewayCli(["ca", "init", "--data-dir", dataDir, "--key", "ec-p256"], env);
    expect(made.code, made.stderr).toBe(0);
    const before = readdirSync(join(dataDir, "cas")).sort();
    const r = await caInit(dataDir, ["--key", "ml-dsa-65", "--under", "root", "--issuing-name", "pq-issuing"]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(REFUSAL);
    expect(readdirSync(join(dataDir, "cas")).sort()).toEqual(before);
    expect(existsSync(join(dataDir, "cas", "pq-issuing"))).toBe(false);
    expect(tokenObjects()).toBe(0);
  });

  it("generatePkcs11KeyPair refuses every level the same way (RA_ERR_CONFIG), with nothing on the token", async () => {
    for (const level of LEVELS) {
      const err = await generatePkcs11KeyPair({ modulePath, tokenLabel: TOKEN, pin: PIN, label: `pq${level}`, spec: { kind: "ml-dsa", level } })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "RA_ERR_CONFIG" });
      expect((err as Error).message).toContain(`cannot hold an ML-DSA-${level} CA key`);
    }
    expect(tokenObjects()).toBe(0);
  });

  // Runs last: it puts the EC pair on the token.
  it("the way round meanwhile: an EC root in the token signs a software ML-DSA issuing CA (--under)", async () => {
    const dataDir = join(dir, "hsm-root");
    const made = await caInit(dataDir, ["--key", "ec-p256", "--root-name", "hsm-root", "--issuing-name", "hsm-issuing"]);
    expect(made.code, made.stderr).toBe(0);
    expect(tokenObjects()).toBe(4);
    const r = await runGatewayCli(["ca", "init", "--data-dir", dataDir, "--key", "ml-dsa-65", "--under", "hsm-root", "--issuing-name", "pq-issuing"], env);
    expect(r.code, r.stderr).toBe(0);
    expect(tokenObjects()).toBe(4);
    const pq = join(dataDir, "cas", "pq-issuing");
    const desc = JSON.parse(readFileSync(join(pq, "ca.json"), "utf8")) as { signer: { type: string; algorithm: string } };
    expect(desc.signer).toMatchObject({ type: "software", algorithm: "ml-dsa-65" });
    // Seed form: PKCS#8 around the 32-byte seed only.
    const key = createPrivateKey(readFileSync(join(pq, "issuing-key.pem")));
    expect(key.asymmetricKeyType).toBe("ml-dsa-65");
    expect(key.export({ type: "pkcs8", format: "der" }).length).toBe(54);
    const root = new X509Certificate(readFileSync(join(dataDir, "cas", "hsm-root", "cert.pem")));
    const issuing = new X509Certificate(readFileSync(join(pq, "cert.pem")));
    expect(root.publicKey.asymmetricKeyType).toBe("ec");
    expect(issuing.publicKey.asymmetricKeyType).toBe("ml-dsa-65");
    expect(issuing.verify(root.publicKey)).toBe(true); // signed inside the token
    expect(issuing.checkIssued(root)).toBe(true);
  });
});

describe("PKCS#11 3.2 ML-DSA pieces (no token here offers it: checked without one)", () => {
  it.each(LEVELS)("ML-DSA-%i: CKA_VALUE (raw octets) becomes the same RFC 9881 SPKI OpenSSL writes", (level) => {
    const { publicKey, privateKey } = generateKeyPairSync(`ml-dsa-${level}`);
    const spki = publicKey.export({ type: "spki", format: "der" });
    const size = ML_DSA_SIZES[level].publicKey;
    const raw = spki.subarray(spki.length - size);
    expect(mlDsaLevelOfPublicKeyLength(raw.length)).toBe(level);
    expect(mlDsaSpkiFromPkcs11(level, raw).equals(spki)).toBe(true);
    const key = mlDsaPublicKeyFromPkcs11(level, raw);
    const msg = Buffer.from("tbs bytes");
    expect(nodeVerify(null, msg, key, nodeSign(null, msg, privateKey))).toBe(true);
  });

  it("a CKA_VALUE of the wrong length is refused, not wrapped", () => {
    const raw = Buffer.alloc(ML_DSA_SIZES[65].publicKey - 1, 7);
    expect(mlDsaLevelOfPublicKeyLength(raw.length)).toBeUndefined();
    expect(() => mlDsaSpkiFromPkcs11(65, raw)).toThrow(/ML-DSA-65 public key from token is 1951 bytes, expected 1952/);
    expect(() => mlDsaSpkiFromPkcs11(44, Buffer.alloc(ML_DSA_SIZES[65].publicKey))).toThrow(/expected 1312/);
  });

  it("CK_ULONG attributes read by number: 4 or 8 bytes, little-endian; anything else is unknown", () => {
    expect(ulongFromPkcs11(Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]))).toBe(2);
    expect(ulongFromPkcs11(Buffer.from([3, 0, 0, 0]))).toBe(3);
    expect(ulongFromPkcs11(Buffer.from([2, 0]))).toBeUndefined();
    expect(ulongFromPkcs11(Buffer.from([2, 0, 0, 0, 1, 0, 0, 0]))).toBeUndefined();
  });

  it("a token with only one of the two mechanisms (or without the right flag) is refused by name", () => {
    const ec = [{ type: 0x1040, name: "EC_KEY_PAIR_GEN", flags: MechanismFlag.GENERATE_KEY_PAIR }, { type: 0x1041, name: "ECDSA", flags: MechanismFlag.SIGN }];
    const gen = { type: 0x1c, name: "ML_DSA_KEY_PAIR_GEN", flags: MechanismFlag.GENERATE_KEY_PAIR };
    const sign = { type: 0x1d, name: "ML_DSA", flags: MechanismFlag.SIGN | MechanismFlag.VERIFY };
    expect(mlDsaMechanismRefusal([...ec, gen, sign], "hsm", 65)).toBeUndefined();
    expect(mlDsaMechanismRefusal([...ec, gen], "hsm", 65)).toBe(
      'token "hsm" lacks CKM_ML_DSA (PKCS#11 3.2) for ML-DSA, so it cannot hold an ML-DSA-65 CA key; it offers key-pair generation: EC_KEY_PAIR_GEN, ML_DSA_KEY_PAIR_GEN; signing: ECDSA');
    // Listed, but not for signing: that is no CKM_ML_DSA either.
    expect(mlDsaMechanismRefusal([...ec, gen, { ...sign, flags: MechanismFlag.VERIFY }], "hsm", 87)).toMatch(/^token "hsm" lacks CKM_ML_DSA \(/);
    expect(mlDsaMechanismRefusal([sign], "hsm", 44)).toBe(
      'token "hsm" lacks CKM_ML_DSA_KEY_PAIR_GEN (PKCS#11 3.2) for ML-DSA, so it cannot hold an ML-DSA-44 CA key; it offers key-pair generation: none; signing: ML_DSA');
  });

  it("the public key template graphene sends carries CKK_ML_DSA and CKA_PARAMETER_SET (PKCS#11 3.2 numbers)", () => {
    expect({ CKM_ML_DSA, CKK_ML_DSA, CKA_PARAMETER_SET, CKP_ML_DSA }).toEqual({
      CKM_ML_DSA: 0x1d, CKK_ML_DSA: 0x4a, CKA_PARAMETER_SET: 0x61d, CKP_ML_DSA: { 44: 1, 65: 2, 87: 3 },
    });
    const attrs = Template.toPkcs11({ keyType: CKK_ML_DSA, parameterSet: CKP_ML_DSA[87] });
    expect(attrs).toEqual([{ type: 0x100, value: 0x4a }, { type: 0x61d, value: 3 }]);
  });

  it.each(LEVELS)("ML-DSA-%i signing calls C_SignInit(CKM_ML_DSA, no parameter) and C_Sign with room for the signature", async (level) => {
    const { publicKey, privateKey } = generateKeyPairSync(`ml-dsa-${level}`);
    const calls: Array<{ fn: string; mechanism?: unknown; out?: number }> = [];
    const signer = new Pkcs11Signer("pkcs11:token=stand-in", publicKey, `ml-dsa-${level}`, standInSession(privateKey, calls),
      { handle: Buffer.from([9]) } as unknown as SessionObject, () => undefined);
    const tbs = Buffer.from(`to be signed at level ${level}`);
    const sig = await signer.sign(tbs);
    expect(calls).toEqual([
      { fn: "C_SignInit", mechanism: { mechanism: 0x1d } },
      { fn: "C_Sign", out: ML_DSA_SIZES[level].signature },
    ]);
    // The raw octets, checked by an implementation that shares no code with OpenSSL.
    expect(sig.length).toBe(ML_DSA_SIZES[level].signature);
    const rawPub = publicKey.export({ type: "spki", format: "der" }).subarray(-ML_DSA_SIZES[level].publicKey);
    expect(NOBLE[level].verify(sig, tbs, rawPub)).toBe(true);
    // The check every token signature gets before use (verify-after-sign) accepts it...
    await expect(signAndVerify(signer, tbs)).resolves.toHaveLength(ML_DSA_SIZES[level].signature);
    // ...and stops a faulty one.
    const faulty = new Pkcs11Signer("pkcs11:token=stand-in", publicKey, `ml-dsa-${level}`, standInSession(privateKey, [], true),
      { handle: Buffer.from([9]) } as unknown as SessionObject, () => undefined);
    await expect(signAndVerify(faulty, tbs)).rejects.toMatchObject({ code: "RA_ERR_SIGNER_FAILED" });
    await signer.close();
    await expect(signer.sign(tbs)).rejects.toThrow(/closed/);
  });
});

/** A session whose C_SignInit/C_Sign record their arguments and sign with a node:crypto key, as a token would. */
function standInSession(key: KeyObject, calls: Array<{ fn: string; mechanism?: unknown; out?: number }>, flipBit = false): Session {
  let pending = false;
  const lib = {
    C_SignInit(_h: Buffer, mechanism: unknown) {
      calls.push({ fn: "C_SignInit", mechanism });
      pending = true;
    },
    C_Sign(_h: Buffer, data: Buffer, out: Buffer) {
      calls.push({ fn: "C_Sign", out: out.length });
      if (!pending) throw new Error("CKR_OPERATION_NOT_INITIALIZED");
      pending = false;
      const sig = nodeSign(null, data, key);
      if (sig.length > out.length) throw new Error("CKR_BUFFER_TOO_SMALL");
      if (flipBit) sig[100] ^= 1;
      sig.copy(out);
      return out.subarray(0, sig.length);
    },
  };
  return { handle: Buffer.from([1]), lib } as unknown as Session;
}

afterAll(() => {
  delete process.env.SOFTHSM2_CONF;
});
