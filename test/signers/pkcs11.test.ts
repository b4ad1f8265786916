import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { constants, generateKeyPairSync, sign as nodeSign, verify, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ObjectClass } from "graphene-pk11";
import { initSoftHsmToken } from "../../src/signers/softhsm-dev.js";
import { generatePkcs11KeyPair, openPkcs11Signer, parsePkcs11Uri, type Pkcs11Signer } from "../../src/signers/pkcs11.js";
import { closeUserSession, findSlot, openUserSession } from "../../src/signers/pkcs11-session.js";
import { ecdsaRawToDer } from "../../src/signers/pkcs11-der.js";
import { hashOf, type KeySpec, type SignatureAlgorithmName } from "../../src/signers/signer.js";

// Distinctive PINs so "not in the error message" checks cannot pass by accident.
const USER_PIN = "user-pin-7731";
const SO_PIN = "so-pin-4410";
const WRONG_PIN = "wrong-pin-90210";
const TOKEN = "gw-test";

interface Case { name: string; spec: KeySpec; algorithm: SignatureAlgorithmName; uri?: string }
const cases: Case[] = [
  { name: "ec-p256", spec: { kind: "ec", curve: "P-256" }, algorithm: "ecdsa-sha256" },
  { name: "ec-p384", spec: { kind: "ec", curve: "P-384" }, algorithm: "ecdsa-sha384" },
  { name: "rsa-2048", spec: { kind: "rsa", bits: 2048 }, algorithm: "rsa-pkcs1-sha256" },
  { name: "rsa-2048-pss", spec: { kind: "rsa", bits: 2048, pss: true }, algorithm: "rsa-pss-sha256" },
];

let dir = "";
let modulePath = "";
const opened: Pkcs11Signer[] = [];

function verifies(alg: SignatureAlgorithmName, key: KeyObject, data: Buffer, sig: Buffer): boolean {
  const hash = hashOf(alg);
  if (alg.startsWith("rsa-pss")) {
    const saltLength = { sha256: 32, sha384: 48, sha512: 64 }[hash];
    return verify(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }, sig);
  }
  return verify(hash, data, key, sig); // ECDSA: default DER encoding
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gw-pkcs11-"));
  // Throws (failing every test, not skipping) when softhsm2-util or the module is missing.
  const token = initSoftHsmToken({ label: TOKEN, soPin: SO_PIN, userPin: USER_PIN, tokensDir: join(dir, "tokens") });
  process.env.SOFTHSM2_CONF = token.confPath;
  modulePath = token.modulePath;
  for (const [i, c] of cases.entries()) {
    c.uri = await generatePkcs11KeyPair({ modulePath, tokenLabel: TOKEN, pin: USER_PIN, label: c.name, id: `0${i + 1}`, spec: c.spec });
  }
});

afterAll(async () => {
  for (const s of opened) await s.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("PKCS#11 signer on SoftHSM2", () => {
  it("returns URIs that name the key without a PIN", () => {
    expect(cases[0].uri).toBe(`pkcs11:token=${TOKEN};object=ec-p256;id=%01;type=private`);
    for (const c of cases) expect(c.uri).not.toContain(USER_PIN);
  });

  // Runs first, while no session is logged in, so the token itself checks the PIN.
  it("rejects a wrong PIN without revealing it", async () => {
    const err = await openPkcs11Signer({ uri: cases[0].uri!, modulePath, pin: WRONG_PIN }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/CKR_PIN_INCORRECT/);
    expect((err as Error).message).not.toContain(WRONG_PIN);
    expect((err as Error).message).not.toContain(USER_PIN);
  });

  it.each(cases)("signs with $name and node:crypto verifies it", async (c) => {
    // Exercise each PIN source once.
    const pinFile = join(dir, `pin-${c.name}`);
    writeFileSync(pinFile, `${USER_PIN}\n`, { mode: 0o600 });
    process.env.GW_TEST_PKCS11_PIN = USER_PIN;
    const source = [
      { uri: c.uri!, pin: USER_PIN },
      { uri: c.uri!, pinFile },
      { uri: c.uri!, pinEnv: "GW_TEST_PKCS11_PIN" },
      { uri: `${c.uri!}?pin-source=file:${pinFile}` },
    ][cases.indexOf(c)];
    // PSS is a choice of the caller (the key cannot tell); the others use the key's default.
    const algorithm = c.spec.kind === "rsa" && c.spec.pss ? c.algorithm : undefined;
    const signer = await openPkcs11Signer({ ...source, modulePath, algorithm });
    opened.push(signer);
    expect(signer.algorithm).toBe(c.algorithm);
    expect(signer.id).toBe(c.uri);
    expect(signer.id).not.toContain(USER_PIN);
    expect(signer.publicKey.type).toBe("public");
    expect(signer.publicKey.asymmetricKeyType).toBe(c.spec.kind === "ec" ? "ec" : "rsa");
    if (c.spec.kind === "ec") {
      expect(signer.publicKey.asymmetricKeyDetails?.namedCurve).toBe(c.spec.curve === "P-256" ? "prime256v1" : "secp384r1");
    } else {
      expect(signer.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    }
    for (let i = 0; i < 20; i++) {
      const data = Buffer.from(`to-be-signed ${c.name} ${i} `.repeat(i + 1));
      const sig = await signer.sign(data);
      expect(verifies(c.algorithm, signer.publicKey, data, sig)).toBe(true);
      expect(verifies(c.algorithm, signer.publicKey, Buffer.concat([data, Buffer.from("x")]), sig)).toBe(false);
    }
    expect(await signer.ping()).toBe(true);
  });

  it("honours an explicit algorithm and rejects one that does not fit the key", async () => {
    const s = await openPkcs11Signer({ uri: cases[0].uri!, modulePath, pin: USER_PIN, algorithm: "ecdsa-sha512" });
    opened.push(s);
    const data = Buffer.from("hello");
    expect(verify("sha512", data, s.publicKey, await s.sign(data))).toBe(true);
    await expect(openPkcs11Signer({ uri: cases[0].uri!, modulePath, pin: USER_PIN, algorithm: "rsa-pkcs1-sha256" })).rejects.toThrow(/does not fit the EC key/);
    const rsa = await openPkcs11Signer({ uri: cases[2].uri!, modulePath, pin: USER_PIN, algorithm: "rsa-pss-sha384" });
    opened.push(rsa);
    expect(verifies("rsa-pss-sha384", rsa.publicKey, data, await rsa.sign(data))).toBe(true);
  });

  it("rejects a wrong PIN while another signer holds the login", async () => {
    expect(opened.length).toBeGreaterThan(0);
    const err = await openPkcs11Signer({ uri: cases[1].uri!, modulePath, pin: WRONG_PIN }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/CKR_PIN_INCORRECT/);
    expect((err as Error).message).not.toContain(WRONG_PIN);
  });

  it("keeps private keys sensitive and non-extractable", () => {
    const uri = parsePkcs11Uri(cases[0].uri!);
    const slot = findSlot(modulePath, uri);
    const session = openUserSession(modulePath, slot, USER_PIN, false, "test");
    try {
      for (const c of cases) {
        const found = session.find({ class: ObjectClass.PRIVATE_KEY, label: c.name, id: parsePkcs11Uri(c.uri!).id });
        expect(found.length).toBe(1);
        const key = found.items(0);
        const a = key.getAttribute({ extractable: null, sensitive: null, neverExtractable: null, token: null });
        expect(a).toMatchObject({ extractable: false, sensitive: true, neverExtractable: true, token: true });
        // CKA_VALUE (EC) / CKA_PRIVATE_EXPONENT (RSA) must be refused by the token.
        expect(() => key.getAttribute(c.spec.kind === "ec" ? 0x11 : 0x123)).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
      }
    } finally {
      closeUserSession(modulePath, slot, session);
    }
  });

  it("refuses a key id already in use, allows a repeated label with a new id", async () => {
    await expect(generatePkcs11KeyPair({ modulePath, tokenLabel: TOKEN, pin: USER_PIN, label: "other", id: "01", spec: { kind: "ec", curve: "P-256" } }))
      .rejects.toThrow(/id already exists/);
    const uri = await generatePkcs11KeyPair({ modulePath, tokenLabel: TOKEN, pin: USER_PIN, label: "ec-p256", id: "aa01", spec: { kind: "ec", curve: "P-256" } });
    expect(uri).toBe(`pkcs11:token=${TOKEN};object=ec-p256;id=%AA%01;type=private`);
    const s = await openPkcs11Signer({ uri, modulePath, pin: USER_PIN });
    opened.push(s);
    expect(s.publicKey.equals(opened[0].publicKey)).toBe(false);
    // Label alone is now ambiguous and must not pick either key silently.
    await expect(openPkcs11Signer({ uri: `pkcs11:token=${TOKEN};object=ec-p256`, modulePath, pin: USER_PIN })).rejects.toThrow(/2 objects match/);
  });

  it("reports missing keys and tokens clearly", async () => {
    await expect(openPkcs11Signer({ uri: `pkcs11:token=${TOKEN};object=nope`, modulePath, pin: USER_PIN })).rejects.toThrow(/private key not found/);
    await expect(openPkcs11Signer({ uri: "pkcs11:token=nope;object=x", modulePath, pin: USER_PIN })).rejects.toThrow(/no PKCS#11 token matches pkcs11:token=nope/);
  });

  it("ping is false and signing fails after close", async () => {
    const s = await openPkcs11Signer({ uri: cases[0].uri!, modulePath, pin: USER_PIN });
    await s.close();
    expect(await s.ping()).toBe(false);
    await expect(s.sign(Buffer.from("x"))).rejects.toThrow(/closed/);
    // Other signers on the same token keep their login.
    expect(await opened[1].ping()).toBe(true);
  });
});

describe("ecdsaRawToDer", () => {
  it("writes minimal positive INTEGERs", () => {
    const r = Buffer.alloc(32);
    r[31] = 1;
    const s = Buffer.alloc(32, 0xff);
    const der = ecdsaRawToDer(Buffer.concat([r, s]));
    expect(der.toString("hex")).toBe(`3026020101022100${"ff".repeat(32)}`);
    const zero = ecdsaRawToDer(Buffer.alloc(64));
    expect(zero.toString("hex")).toBe("3006020100020100");
  });

  it("matches node's DER for many P-256 and P-384 signatures", () => {
    for (const namedCurve of ["prime256v1", "secp384r1"]) {
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve });
      for (let i = 0; i < 300; i++) {
        const data = Buffer.from(`m${i}`);
        const raw = nodeSign("sha256", data, { key: privateKey, dsaEncoding: "ieee-p1363" });
        expect(verify("sha256", data, publicKey, ecdsaRawToDer(raw))).toBe(true);
      }
    }
  });
});
