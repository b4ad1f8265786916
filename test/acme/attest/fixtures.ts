import { createHash, createPublicKey, generateKeyPair, randomBytes, sign, type KeyObject } from "node:crypto";
import { promisify } from "node:util";
import { encode } from "cborg";

/**
 * Test PKIs and attestation objects for device-attest-01 (draft-ietf-acme-device-attest): Apple
 * Managed Device Attestation, YubiKey PIV ("step") and TPM 2.0. Certificates are written with a
 * small DER writer and signed with node:crypto, so every byte the verifiers read is set here on
 * purpose (raw Apple extension values, empty TPM subjects, critical SANs) rather than by a library.
 */

export type Cose = -7 | -257 | -8 | -65535;
export interface TestPki {
  rootPem: string;
  rootDer: Buffer;
}

export interface AppleAttOptions {
  publicKey: KeyObject;
  token: string;
  serial?: string;
  udid?: string;
  /** "token" (default): SHA-256 of the token; "absent": no nonce extension; bytes: exactly those. */
  nonce?: "token" | "absent" | Buffer;
  expired?: boolean;
}
export interface StepAttOptions {
  privateKey: KeyObject;
  keyAuthorization: string;
  serial: number;
  /** Only the label in attStmt.alg; the signature always follows the key's type (so a wrong label can be tested). */
  alg?: -7 | -257 | -8;
  tamperSig?: boolean;
  omitSerial?: boolean;
}
export type AkShape = "ok" | "subject" | "ca" | "noEku" | "noSan";
export interface TpmAttOptions {
  publicKey: KeyObject;
  keyAuthorization: string;
  akAlg?: "rsa" | "ec";
  alg?: -257 | -7 | -65535;
  /** Default "raw" for an RSA AK and "tpmt" for an EC AK; "raw" ECDSA is DER (as WebAuthn verifiers read it). */
  sigForm?: "raw" | "tpmt";
  permanentIdentifier?: { value: string; assigner?: string };
  tamperCertInfo?: "magic" | "type" | "extraData" | "name";
  akShape?: AkShape;
}

export interface AttestationPkis {
  apple: TestPki & {
    /** Apple Enterprise Attestation Sub CA 1 (x5c[1]). */
    intermediateDer: Buffer;
    /** Leaf (attests `publicKey`) issued by "Apple Enterprise Attestation Sub CA 1"-like intermediate, under a root like "Apple Enterprise Attestation Root CA" (EC P-384, ecdsa-with-SHA384). */
    attObj(o: AppleAttOptions): Buffer;
  };
  yubico: TestPki & {
    /** The device's F9 certificate (x5c[1]). */
    intermediateDer: Buffer;
    /** x5c = [slot attestation cert (subject CN "YubiKey PIV Attestation 9a", attests the key), device F9 cert (CN "Yubico PIV Attestation", CA:TRUE pathlen 0)], root like "Yubico PIV Root CA Serial 263751" (RSA 2048). */
    attObj(o: StepAttOptions): Buffer;
  };
  tpm: TestPki & {
    /** The EUS-NTC-KEYID intermediate (x5c[1]). */
    intermediateDer: Buffer;
    /** An AK certificate (DER, the real shape) for an AK made elsewhere, e.g. in a software TPM. */
    akCertificate(publicKey: KeyObject): Buffer;
    /** x5c = [AK cert, intermediate], root like "Microsoft TPM Root Certificate Authority 2014" (RSA). */
    attObj(o: TpmAttOptions): Buffer;
  };
}

// ---- DER writer (just what certificates need) ----

const derLen = (n: number) => (n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
const tlv = (tag: number, ...parts: Uint8Array[]): Buffer => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag, ...derLen(body.length)]), body]);
};
const seq = (...parts: Uint8Array[]) => tlv(0x30, ...parts);
/** DER SET OF: members in ascending order of their encodings. */
const set = (...parts: Buffer[]) => tlv(0x31, ...[...parts].sort(Buffer.compare));
const explicit = (n: number, ...parts: Uint8Array[]) => tlv(0xa0 | n, ...parts);
const octets = (b: Uint8Array) => tlv(0x04, b);
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, "utf8"));
const bitString = (b: Uint8Array) => tlv(0x03, Buffer.from([0]), b);
const TRUE = Buffer.from([0x01, 0x01, 0xff]);

function oid(text: string): Buffer {
  const [a, b, ...rest] = text.split(".").map(Number);
  const out = [40 * a + b];
  for (const n of rest) {
    const bytes = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) bytes.unshift((v & 0x7f) | 0x80);
    out.push(...bytes);
  }
  return tlv(0x06, Buffer.from(out));
}

/** INTEGER from a non-negative number or big-endian magnitude: minimal, with a 00 when the top bit is set. */
function int(v: number | Uint8Array): Buffer {
  let b = typeof v === "number" ? Buffer.from(v.toString(16).padStart(2, "0").replace(/^(.(..)*)$/, "0$1"), "hex") : Buffer.from(v);
  while (b.length > 1 && b[0] === 0 && b[1] < 0x80) b = b.subarray(1);
  return tlv(0x02, b[0] >= 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

function time(ms: number): Buffer {
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/\D/g, "");
  const year = Number(iso.slice(0, 4));
  return year >= 1950 && year < 2050 ? tlv(0x17, Buffer.from(`${digits.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${digits}Z`));
}

const AT = { CN: "2.5.4.3", C: "2.5.4.6", L: "2.5.4.7", ST: "2.5.4.8", O: "2.5.4.10", OU: "2.5.4.11" } as const;
type Rdn = [keyof typeof AT, string];
/** One attribute per RDN, in the order given (the order OpenSSL prints); countryName is a PrintableString. */
const dn = (...rdns: Rdn[]) => seq(...rdns.map(([k, v]) => set(seq(oid(AT[k]), k === "C" ? tlv(0x13, Buffer.from(v)) : utf8(v)))));

// ---- Certificate pieces ----

const OID = {
  basicConstraints: "2.5.29.19", keyUsage: "2.5.29.15", extKeyUsage: "2.5.29.37", subjectAltName: "2.5.29.17",
  ski: "2.5.29.14", aki: "2.5.29.35",
  appleSerial: "1.2.840.113635.100.8.9.1", appleUdid: "1.2.840.113635.100.8.9.2",
  appleSepOs: "1.2.840.113635.100.8.10.2", appleNonce: "1.2.840.113635.100.8.11.1",
  ykFirmware: "1.3.6.1.4.1.41482.3.3", ykSerial: "1.3.6.1.4.1.41482.3.7", ykPolicy: "1.3.6.1.4.1.41482.3.8", ykFormFactor: "1.3.6.1.4.1.41482.3.9",
  tcgKpAikCertificate: "2.23.133.8.3", tpmManufacturer: "2.23.133.2.1", tpmModel: "2.23.133.2.2", tpmVersion: "2.23.133.2.3",
  permanentIdentifier: "1.3.6.1.5.5.7.8.3",
} as const;

const ext = (id: string, value: Uint8Array, critical = false) => seq(oid(id), ...(critical ? [TRUE] : []), octets(value));
const basicConstraints = (ca: boolean, pathLen?: number) => ext(OID.basicConstraints, seq(...(ca ? [TRUE] : []), ...(pathLen === undefined ? [] : [int(pathLen)])), true);
const KU_DIGITAL_SIGNATURE = ext(OID.keyUsage, Buffer.from([0x03, 0x02, 0x07, 0x80]), true);
const KU_CERT_SIGN = ext(OID.keyUsage, Buffer.from([0x03, 0x02, 0x01, 0x06]), true); // keyCertSign + cRLSign
const ekuAik = () => ext(OID.extKeyUsage, seq(oid(OID.tcgKpAikCertificate)));
const skiOf = (key: KeyObject) => createHash("sha1").update(spkiOf(key)).digest();
const skiExt = (key: KeyObject) => ext(OID.ski, octets(skiOf(key)));
const akiExt = (issuerKey: KeyObject) => ext(OID.aki, seq(tlv(0x80, skiOf(issuerKey))));
/** Accepts either half of a key pair (createPublicKey refuses a public KeyObject). */
const publicOf = (key: KeyObject) => (key.type === "public" ? key : createPublicKey(key));
const spkiOf = (key: KeyObject) => publicOf(key).export({ type: "spki", format: "der" });

/** Hash and AlgorithmIdentifier the issuer's key signs with: P-384 → SHA-384, P-256 → SHA-256, RSA → sha256WithRSAEncryption. */
function sigAlgOf(key: KeyObject): { hash: string; algId: Buffer } {
  if (key.asymmetricKeyType === "rsa") return { hash: "sha256", algId: seq(oid("1.2.840.113549.1.1.11"), Buffer.from([0x05, 0x00])) };
  const p384 = key.asymmetricKeyDetails?.namedCurve === "secp384r1";
  return { hash: p384 ? "sha384" : "sha256", algId: seq(oid(p384 ? "1.2.840.10045.4.3.3" : "1.2.840.10045.4.3.2")) };
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface CertSpec {
  subject: Buffer;
  publicKey: KeyObject;
  issuer: { name: Buffer; key: KeyObject };
  extensions: Buffer[];
  notBefore?: number;
  notAfter?: number;
}

function certificate(c: CertSpec): Buffer {
  const { hash, algId } = sigAlgOf(c.issuer.key);
  const serial = randomBytes(16);
  serial[0] = (serial[0] & 0x7f) | 0x40; // positive, 16 bytes, never shortened
  const tbs = seq(
    explicit(0, int(2)), // v3
    int(serial),
    algId,
    c.issuer.name,
    seq(time(c.notBefore ?? Date.now() - HOUR), time(c.notAfter ?? Date.now() + 30 * DAY)),
    c.subject,
    spkiOf(c.publicKey),
    ...(c.extensions.length ? [explicit(3, seq(...c.extensions))] : []),
  );
  return seq(tbs, algId, bitString(sign(hash, tbs, c.issuer.key)));
}

interface Ca {
  name: Buffer;
  key: KeyObject;
  der: Buffer;
}

/** A CA certificate (self-signed when `parent` is absent), valid from yesterday for ten years. */
function makeCa(name: Buffer, keys: { privateKey: KeyObject }, extensions: Buffer[], parent?: Ca): Ca {
  const issuer = parent ?? { name, key: keys.privateKey };
  const der = certificate({
    subject: name, publicKey: keys.privateKey, issuer, notBefore: Date.now() - DAY, notAfter: Date.now() + 3650 * DAY,
    extensions: [...extensions, skiExt(keys.privateKey), ...(parent ? [akiExt(parent.key)] : [])],
  });
  return { name, key: keys.privateKey, der };
}

const pem = (der: Buffer) => `-----BEGIN CERTIFICATE-----\n${der.toString("base64").replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n")}-----END CERTIFICATE-----\n`;
const testPki = (root: Ca): TestPki => ({ rootPem: pem(root.der), rootDer: root.der });
const sha256 = (data: Uint8Array | string) => createHash("sha256").update(data).digest();

// ---- CBOR ----

/** {fmt, attStmt, authData}; cborg sorts the text keys canonically. Buffers are copied to plain Uint8Arrays. */
function attestationObject(fmt: string, attStmt: Record<string, unknown>): Buffer {
  return rawAttObj(fmt, attStmt);
}

/** An attestation object with arbitrary fmt/attStmt, for negative tests. A fmt or attStmt of `undefined` leaves that key out. */
export function rawAttObj(fmt: unknown, attStmt: unknown, authData: Uint8Array = new Uint8Array(0)): Buffer {
  const top: Record<string, unknown> = { authData: new Uint8Array(authData) };
  if (fmt !== undefined) top.fmt = fmt;
  if (attStmt !== undefined) top.attStmt = attStmt;
  return Buffer.from(encode(top));
}

const bytes = (b: Uint8Array) => new Uint8Array(b);

// ---- TPM structures (TPM 2.0 Part 2, big-endian) ----

const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const u64 = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(n); return b; };
const tpm2b = (b: Uint8Array) => Buffer.concat([u16(b.length), b]);
const TPM_ALG = { rsa: 0x0001, sha1: 0x0004, sha256: 0x000b, null: 0x0010, rsassa: 0x0014, ecdsa: 0x0018, ecc: 0x0023 } as const;
const TPM_ECC_NIST_P256 = 0x0003;
/** fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | noDA | sign: a typical restricted-free signing key. */
const OBJECT_ATTRIBUTES = 0x00050072;
export const TPM_GENERATED_VALUE = 0xff544347;
export const TPM_ST_ATTEST_CERTIFY = 0x8017;

/** TPMT_PUBLIC for an RSA or EC P-256 public key (what attStmt.pubArea carries). */
export function tpmPubArea(key: KeyObject): Buffer {
  const pub = publicOf(key);
  const jwk = pub.export({ format: "jwk" });
  const head = (type: number) => Buffer.concat([u16(type), u16(TPM_ALG.sha256), u32(OBJECT_ATTRIBUTES), tpm2b(Buffer.alloc(0))]);
  if (pub.asymmetricKeyType === "rsa") {
    const n = Buffer.from(jwk.n!, "base64url"); // JWK has no leading zero
    const e = Number.parseInt(Buffer.from(jwk.e!, "base64url").toString("hex"), 16);
    return Buffer.concat([head(TPM_ALG.rsa), u16(TPM_ALG.null), u16(TPM_ALG.null), u16(n.length * 8), u32(e === 65537 ? 0 : e), tpm2b(n)]);
  }
  if (pub.asymmetricKeyType === "ec" && jwk.crv === "P-256") {
    const [x, y] = [Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url")];
    return Buffer.concat([head(TPM_ALG.ecc), u16(TPM_ALG.null), u16(TPM_ALG.null), u16(TPM_ECC_NIST_P256), u16(TPM_ALG.null), tpm2b(x), tpm2b(y)]);
  }
  throw new Error(`tpmPubArea: only RSA and EC P-256 keys (got ${pub.asymmetricKeyType} ${jwk.crv ?? ""})`);
}

/** TPM2B_NAME of a SHA-256 named object: nameAlg ‖ digest. */
const tpmName = (digest: Buffer) => tpm2b(Buffer.concat([u16(TPM_ALG.sha256), digest]));

function tpmsAttest(o: { pubArea: Buffer; keyAuthorization: string; tamper?: TpmAttOptions["tamperCertInfo"] }): Buffer {
  const t = o.tamper;
  return Buffer.concat([
    u32(t === "magic" ? 0xff544348 : TPM_GENERATED_VALUE),
    u16(t === "type" ? 0x8018 : TPM_ST_ATTEST_CERTIFY),
    tpmName(randomBytes(32)), // qualifiedSigner
    tpm2b(sha256(t === "extraData" ? `${o.keyAuthorization}.other` : o.keyAuthorization)),
    u64(BigInt(Date.now())), u32(7), u32(3), Buffer.from([1]), // clockInfo: clock, resetCount, restartCount, safe
    u64(0x0007000200000000n), // firmwareVersion
    tpmName(t === "name" ? sha256(Buffer.concat([o.pubArea, Buffer.from([0])])) : sha256(o.pubArea)), // TPMS_CERTIFY_INFO.name
    tpmName(randomBytes(32)), // qualifiedName
  ]);
}

/** The AK certificate's critical SAN: directoryName {manufacturer, model, version} in one RDN, and the permanent identifier. */
function akSubjectAltName(permanentIdentifier?: TpmAttOptions["permanentIdentifier"]): Buffer {
  const attr = (id: string, v: string) => seq(oid(id), utf8(v));
  const dirName = tlv(0xa4, seq(set(attr(OID.tpmManufacturer, "id:4E544300"), attr(OID.tpmModel, "NPCT75x"), attr(OID.tpmVersion, "id:00070002"))));
  const names = [dirName];
  if (permanentIdentifier) {
    const { value, assigner } = permanentIdentifier;
    names.push(tlv(0xa0, oid(OID.permanentIdentifier), explicit(0, seq(utf8(value), ...(assigner ? [oid(assigner)] : [])))));
  }
  return ext(OID.subjectAltName, seq(...names), true);
}

// ---- The three PKIs ----

const genKeyPair = promisify(generateKeyPair);
const ecKey = (namedCurve: "P-256" | "P-384") => genKeyPair("ec", { namedCurve });
const rsaKey = () => genKeyPair("rsa", { modulusLength: 2048 });

/** Fresh keys and certificates on every call (RSA roots are 2048-bit to keep this fast). */
export async function createAttestationPkis(): Promise<AttestationPkis> {
  const [appleRootK, appleSubK, ykRootK, ykF9K, tpmRootK, tpmInterK, akRsa, akEc] = await Promise.all([
    ecKey("P-384"), ecKey("P-384"), rsaKey(), rsaKey(), rsaKey(), rsaKey(), rsaKey(), ecKey("P-256"),
  ]);

  // Apple
  const appleRoot = makeCa(dn(["CN", "Apple Enterprise Attestation Root CA"], ["O", "Apple Inc."], ["ST", "California"]), appleRootK, [basicConstraints(true), KU_CERT_SIGN]);
  const appleSub = makeCa(dn(["CN", "Apple Enterprise Attestation Sub CA 1"], ["O", "Apple Inc."], ["C", "US"]), appleSubK, [basicConstraints(true, 0), KU_CERT_SIGN], appleRoot);
  const apple: AttestationPkis["apple"] = {
    ...testPki(appleRoot),
    intermediateDer: appleSub.der,
    attObj(o) {
      const now = Date.now();
      const nonce = o.nonce === "absent" ? undefined : Buffer.isBuffer(o.nonce) ? o.nonce : sha256(o.token);
      const leaf = certificate({
        subject: dn(["CN", randomBytes(32).toString("hex")], ["OU", "AAA Certification"], ["O", "Apple Inc."], ["ST", "California"]),
        publicKey: o.publicKey,
        issuer: appleSub,
        ...(o.expired ? { notBefore: now - 30 * DAY, notAfter: now - DAY } : {}),
        extensions: [
          basicConstraints(false), KU_DIGITAL_SIGNATURE, akiExt(appleSub.key),
          // Apple's own extensions hold raw bytes in extnValue, not DER.
          ...(o.serial !== undefined ? [ext(OID.appleSerial, Buffer.from(o.serial, "utf8"))] : []),
          ...(o.udid !== undefined ? [ext(OID.appleUdid, Buffer.from(o.udid, "utf8"))] : []),
          ext(OID.appleSepOs, Buffer.from("15.5")),
          ...(nonce ? [ext(OID.appleNonce, nonce)] : []),
        ],
      });
      return attestationObject("apple", { x5c: [bytes(leaf), bytes(appleSub.der)] });
    },
  };

  // YubiKey PIV: root → per-device F9 (slot f9 attestation key) → slot 9a attestation
  const ykFirmware = ext(OID.ykFirmware, Buffer.from([5, 4, 3]));
  const ykRoot = makeCa(dn(["CN", "Yubico PIV Root CA Serial 263751"]), ykRootK, [basicConstraints(true)]);
  const f9 = makeCa(dn(["CN", "Yubico PIV Attestation"]), ykF9K, [basicConstraints(true, 0), ykFirmware], ykRoot);
  const yubico: AttestationPkis["yubico"] = {
    ...testPki(ykRoot),
    intermediateDer: f9.der,
    attObj(o) {
      const type = o.privateKey.asymmetricKeyType;
      if (type !== "ec" && type !== "rsa" && type !== "ed25519") throw new Error(`step fixture: unsupported key type ${type}`);
      const alg = o.alg ?? (type === "ec" ? -7 : type === "rsa" ? -257 : -8);
      const msg = Buffer.from(o.keyAuthorization);
      const raw = type === "ed25519" ? sign(null, msg, o.privateKey) : sign("sha256", msg, o.privateKey);
      if (o.tamperSig) raw[raw.length - 1] ^= 0x01; // last byte: still well-formed DER for ECDSA, just wrong
      const slot = certificate({
        subject: dn(["CN", "YubiKey PIV Attestation 9a"]),
        publicKey: o.privateKey,
        issuer: f9,
        extensions: [
          ykFirmware,
          ...(o.omitSerial ? [] : [ext(OID.ykSerial, int(o.serial))]), // the one Yubico extension that is DER
          ext(OID.ykPolicy, Buffer.from([1, 1])), // PIN policy, touch policy
          ext(OID.ykFormFactor, Buffer.from([1])),
        ],
      });
      // step-ca reads sig as a CBOR byte string inside the byte string.
      return attestationObject("step", { alg, sig: encode(bytes(raw)), x5c: [bytes(slot), bytes(f9.der)] });
    },
  };

  // TPM: Microsoft root → EUS-NTC-KEYID intermediate → AK certificate
  const tpmRoot = makeCa(
    dn(["C", "US"], ["ST", "Washington"], ["L", "Redmond"], ["O", "Microsoft Corporation"], ["CN", "Microsoft TPM Root Certificate Authority 2014"]),
    tpmRootK, [basicConstraints(true), KU_CERT_SIGN],
  );
  const keyId = createHash("sha1").update(spkiOf(tpmInterK.publicKey)).digest("hex").toUpperCase();
  const tpmInter = makeCa(dn(["CN", `EUS-NTC-KEYID-${keyId}`]), tpmInterK, [basicConstraints(true, 0), KU_CERT_SIGN, ekuAik()], tpmRoot);
  const akCertificate = (publicKey: KeyObject, shape: AkShape = "ok", permanentIdentifier?: TpmAttOptions["permanentIdentifier"]) => certificate({
    subject: shape === "subject" ? dn(["CN", "ak"]) : seq(), // real AK certificates have an empty subject
    publicKey,
    issuer: tpmInter,
    extensions: [
      basicConstraints(shape === "ca"), KU_DIGITAL_SIGNATURE, akiExt(tpmInter.key),
      ...(shape === "noEku" ? [] : [ekuAik()]),
      ...(shape === "noSan" ? [] : [akSubjectAltName(permanentIdentifier)]),
    ],
  });
  const tpm: AttestationPkis["tpm"] = {
    ...testPki(tpmRoot),
    intermediateDer: tpmInter.der,
    akCertificate: (publicKey) => akCertificate(publicKey),
    attObj(o) {
      const akAlg = o.akAlg ?? "rsa";
      const ak = akAlg === "ec" ? akEc : akRsa;
      const alg = o.alg ?? (akAlg === "ec" ? -7 : -257);
      if ((alg === -7) !== (akAlg === "ec")) throw new Error(`tpm fixture: alg ${alg} does not fit an ${akAlg} AK`);
      const akCert = akCertificate(ak.publicKey, o.akShape ?? "ok", o.permanentIdentifier);
      const pubArea = tpmPubArea(o.publicKey);
      // Tampering happens before signing, so only the semantic checks can catch it.
      const certInfo = tpmsAttest({ pubArea, keyAuthorization: o.keyAuthorization, tamper: o.tamperCertInfo });
      const form = o.sigForm ?? (akAlg === "ec" ? "tpmt" : "raw");
      let sig: Buffer;
      if (alg === -7) {
        // TPMS_SIGNATURE_ECDSA holds r and s as fixed 32-byte TPM2Bs: that is the P1363 form split in two.
        const rs = sign("sha256", certInfo, { key: ak.privateKey, dsaEncoding: form === "raw" ? "der" : "ieee-p1363" });
        sig = form === "raw" ? rs : Buffer.concat([u16(TPM_ALG.ecdsa), u16(TPM_ALG.sha256), tpm2b(rs.subarray(0, 32)), tpm2b(rs.subarray(32))]);
      } else {
        const raw = sign(alg === -65535 ? "sha1" : "sha256", certInfo, ak.privateKey);
        sig = form === "raw" ? raw : Buffer.concat([u16(TPM_ALG.rsassa), u16(alg === -65535 ? TPM_ALG.sha1 : TPM_ALG.sha256), tpm2b(raw)]);
      }
      return attestationObject("tpm", {
        ver: "2.0", alg, x5c: [bytes(akCert), bytes(tpmInter.der)], sig: bytes(sig), certInfo: bytes(certInfo), pubArea: bytes(pubArea),
      });
    },
  };

  return { apple, yubico, tpm };
}
