import { createHash, createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encode } from "cborg";
import { openssl, tempDir } from "../../helpers/openssl.js";

/**
 * Device attestations made a second way, independently of fixtures.ts: certificates by the OpenSSL CLI
 * from config files, TPM structures written here from TPM 2.0 Part 2. What the verifiers accept must
 * not depend on one generator's habits.
 */

const PERMANENT_IDENTIFIER = "1.3.6.1.5.5.7.8.3";
const HARDWARE_MODULE_NAME = "1.3.6.1.5.5.7.8.4";
const YUBICO_SERIAL = "1.3.6.1.4.1.41482.3.7";
const APPLE_SERIAL = "1.2.840.113635.100.8.9.1";
const APPLE_UDID = "1.2.840.113635.100.8.9.2";
const APPLE_NONCE = "1.2.840.113635.100.8.11.1";

export interface PermanentIdClaim {
  value: string;
  assigner?: string;
}
export interface HardwareModuleClaim {
  serial: string;
  hwType: string;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex").toUpperCase();
/** A DER INTEGER for a non-negative serial, as YubiKeys write it. */
function derUint(n: number): Buffer {
  let h = n.toString(16);
  if (h.length % 2) h = `0${h}`;
  if (parseInt(h.slice(0, 2), 16) & 0x80) h = `00${h}`;
  return Buffer.concat([Buffer.from([0x02, h.length / 2]), Buffer.from(h, "hex")]);
}

class Ca {
  constructor(readonly dir: string, readonly name: string) {}
  get cert(): string {
    return join(this.dir, `${this.name}.pem`);
  }
  get key(): string {
    return join(this.dir, `${this.name}.key`);
  }
  get pem(): string {
    return readFileSync(this.cert, "utf8");
  }
}

/** Issues certificates with `openssl x509 -new` from an extension section written as text. */
class Issuer {
  private n = 0;
  constructor(private readonly dir: string) {}

  root(name: string, keyAlg: "rsa" | "ec"): Ca {
    const ca = new Ca(this.dir, name);
    const newkey = keyAlg === "rsa" ? ["-newkey", "rsa:2048"] : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"];
    openssl(["req", "-x509", ...newkey, "-nodes", "-keyout", ca.key, "-out", ca.cert, "-subj", `/CN=${name}`, "-days", "30",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    return ca;
  }

  /** A certificate for `publicKey` signed by `ca`; `ext` is the body of an OpenSSL extension section. */
  issue(ca: Ca, publicKey: KeyObject, subject: string, ext: string, keyPem?: { name: string }): { der: Buffer; path: string } {
    const id = `c${++this.n}`;
    const pub = join(this.dir, `${id}.pub`);
    const cnf = join(this.dir, `${id}.cnf`);
    const out = join(this.dir, keyPem?.name ? `${keyPem.name}.pem` : `${id}.pem`);
    const der = join(this.dir, `${id}.der`);
    writeFileSync(pub, publicKey.export({ type: "spki", format: "pem" }));
    writeFileSync(cnf, `[ext]\n${ext}\n`);
    openssl(["x509", "-new", "-force_pubkey", pub, "-subj", subject, "-CA", ca.cert, "-CAkey", ca.key, "-days", "30", "-extfile", cnf, "-extensions", "ext", "-out", out]);
    openssl(["x509", "-in", out, "-outform", "DER", "-out", der]);
    return { der: readFileSync(der), path: out };
  }
}

// ---- TPM 2.0 structures (Part 2), written big-endian ----

const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const u32 = (n: number) => Buffer.from([(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
const tpm2b = (b: Uint8Array) => Buffer.concat([u16(b.length), b]);
/** fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | sign. */
const KEY_ATTRIBUTES = 0x00040072;

/** TPMT_PUBLIC of an ECC P-256 signing key. */
function eccPubArea(key: KeyObject): Buffer {
  const jwk = key.export({ format: "jwk" });
  return Buffer.concat([
    u16(0x0023), u16(0x000b), u32(KEY_ATTRIBUTES), tpm2b(Buffer.alloc(0)),
    u16(0x0010), u16(0x0010), u16(0x0003), u16(0x0010),
    tpm2b(Buffer.from(jwk.x!, "base64url")), tpm2b(Buffer.from(jwk.y!, "base64url")),
  ]);
}

/** TPMS_ATTEST of type TPM_ST_ATTEST_CERTIFY over the key whose public area is `pubArea`. */
function certifyInfo(pubArea: Buffer, extraData: Buffer): Buffer {
  const name = Buffer.concat([u16(0x000b), createHash("sha256").update(pubArea).digest()]);
  return Buffer.concat([
    u32(0xff544347), u16(0x8017), tpm2b(Buffer.from("000b", "hex")), tpm2b(extraData),
    Buffer.alloc(17, 1), Buffer.alloc(8, 2), tpm2b(name), tpm2b(Buffer.alloc(0)),
  ]);
}

const attObj = (fmt: string, attStmt: Array<[string, unknown]>) =>
  Buffer.from(encode(new Map<string, unknown>([["fmt", fmt], ["attStmt", new Map(attStmt)], ["authData", new Uint8Array(0)]]))).toString("base64url");

export interface IndependentPkis {
  tpmRootPem: string;
  yubicoRootPem: string;
  appleRootPem: string;
  /** TPM2_Certify of `attested` (EC P-256) by an AK whose certificate carries exactly the given otherNames. */
  tpm(o: { attested: KeyObject; keyAuthorization: string; permanentIds?: PermanentIdClaim[]; hardwareModules?: HardwareModuleClaim[] }): string;
  /** A YubiKey PIV slot attestation of `privateKey` with the given serial, signed over the key authorization. */
  yubikey(o: { privateKey: KeyObject; keyAuthorization: string; serial: number }): string;
  /** An Apple Managed Device Attestation of `publicKey`; serial and UDID only where given. */
  apple(o: { publicKey: KeyObject; token: string; serial?: string; udid?: string }): string;
}

export function independentPkis(): IndependentPkis {
  const dir = tempDir("indep-attest-");
  const issuer = new Issuer(dir);
  const tpmRoot = issuer.root("Independent TPM Root", "rsa");
  const yubicoRoot = issuer.root("Independent Yubico PIV Root", "rsa");
  const appleRoot = issuer.root("Independent Apple Attestation Root", "ec");
  const f9Key = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const f9 = issuer.issue(yubicoRoot, f9Key.publicKey, "/CN=Independent Yubico PIV Attestation",
    "basicConstraints = critical,CA:TRUE,pathlen:0\nkeyUsage = critical,keyCertSign", { name: "f9" });
  writeFileSync(join(dir, "f9.key"), f9Key.privateKey.export({ type: "pkcs8", format: "pem" }));
  const appleSubKey = generateKeyPairSync("ec", { namedCurve: "P-384" });
  const appleSub = issuer.issue(appleRoot, appleSubKey.publicKey, "/CN=Independent Apple Attestation Sub CA",
    "basicConstraints = critical,CA:TRUE,pathlen:0\nkeyUsage = critical,keyCertSign", { name: "applesub" });
  writeFileSync(join(dir, "applesub.key"), appleSubKey.privateKey.export({ type: "pkcs8", format: "pem" }));
  const f9Ca = new Ca(dir, "f9");
  const appleSubCa = new Ca(dir, "applesub");
  let n = 0;

  return {
    tpmRootPem: tpmRoot.pem,
    yubicoRootPem: yubicoRoot.pem,
    appleRootPem: appleRoot.pem,
    tpm(o) {
      const ak = generateKeyPairSync("rsa", { modulusLength: 2048 });
      const sect = `s${++n}`;
      const otherNames = [
        ...(o.permanentIds ?? []).map((_p, i) => `otherName.${i + 1} = ${PERMANENT_IDENTIFIER};SEQUENCE:${sect}_p${i}`),
        ...(o.hardwareModules ?? []).map((_h, i) => `otherName.${i + 101} = ${HARDWARE_MODULE_NAME};SEQUENCE:${sect}_h${i}`),
      ];
      const sections = [
        ...(o.permanentIds ?? []).map((p, i) => `[${sect}_p${i}]\nvalue = UTF8:${p.value}\n${p.assigner ? `assigner = OID:${p.assigner}\n` : ""}`),
        ...(o.hardwareModules ?? []).map((h, i) => `[${sect}_h${i}]\nhwType = OID:${h.hwType}\nhwSerialNum = FORMAT:ASCII,OCTETSTRING:${h.serial}\n`),
      ];
      // OpenSSL reads "x." before a dirName field as a disambiguating prefix, so the numeric OIDs get one.
      const ext = [
        "basicConstraints = critical,CA:FALSE", "extendedKeyUsage = 2.23.133.8.3", "subjectAltName = critical,@san",
        "[san]", "dirName.1 = tpm_dir", ...otherNames,
        "[tpm_dir]", "a.2.23.133.2.1 = id:49424D00", "b.2.23.133.2.2 = Independent TPM", "c.2.23.133.2.3 = id:00020000",
        ...sections,
      ].join("\n");
      const akCert = issuer.issue(tpmRoot, ak.publicKey, "/", ext);
      const pubArea = eccPubArea(o.attested);
      const certInfo = certifyInfo(pubArea, createHash("sha256").update(o.keyAuthorization).digest());
      return attObj("tpm", [
        ["ver", "2.0"], ["alg", -257], ["x5c", [akCert.der]],
        ["sig", sign("sha256", certInfo, ak.privateKey)], ["certInfo", certInfo], ["pubArea", pubArea],
      ]);
    },
    yubikey(o) {
      const slot = issuer.issue(f9Ca, createPublicKey(o.privateKey), "/CN=YubiKey PIV Attestation 9a",
        `${YUBICO_SERIAL} = DER:${hex(derUint(o.serial))}\n1.3.6.1.4.1.41482.3.3 = DER:050403`);
      const sig = sign("sha256", Buffer.from(o.keyAuthorization), o.privateKey);
      return attObj("step", [["alg", -7], ["sig", encode(sig)], ["x5c", [slot.der, f9.der]]]);
    },
    apple(o) {
      const exts = [
        `${APPLE_NONCE} = DER:${hex(createHash("sha256").update(o.token).digest())}`,
        ...(o.serial ? [`${APPLE_SERIAL} = DER:${hex(Buffer.from(o.serial))}`] : []),
        ...(o.udid ? [`${APPLE_UDID} = DER:${hex(Buffer.from(o.udid))}`] : []),
      ];
      const leaf = issuer.issue(appleSubCa, o.publicKey, `/CN=${createHash("sha1").update(o.token).digest("hex")}`, exts.join("\n"));
      return attObj("apple", [["x5c", [leaf.der, appleSub.der]]]);
    },
  };
}
