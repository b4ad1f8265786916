/**
 * Signer whose private key lives in a PKCS#11 token (an HSM in production, SoftHSM2 in development).
 * Signing is synchronous graphene/pkcs11js: SoftHSM runs in-process, and one C_SignInit+C_Sign pair cannot
 * interleave with another on the same session because JavaScript runs it to completion.
 */
import { hash as digestOf, randomBytes, verify as cryptoVerify, constants, type KeyObject } from "node:crypto";
import {
  KeyType, MechanismEnum, MechanismFlag, ObjectClass, RsaMgf, RsaPssParams, registerAttribute,
  type ITemplate, type MechanismType, type Session, type SessionObject,
} from "graphene-pk11";
import { ML_DSA_SIZES } from "../asn1/algorithms.js";
import { GatewayError } from "../errors.js";
import { hashOf, isMlDsa, type KeySpec, type MlDsaLevel, type Signer, type SignatureAlgorithmName } from "./signer.js";
import { hashLength } from "./software.js";
import { formatPkcs11Uri, parsePkcs11Uri, type Pkcs11Uri } from "./pkcs11-uri.js";
import {
  EC_PARAMS, curveFromEcParams, ecPublicKeyFromPkcs11, ecdsaRawToDer, mlDsaLevelOfPublicKeyLength, mlDsaPublicKeyFromPkcs11,
  rsaPublicKeyFromPkcs11, ulongFromPkcs11,
} from "./pkcs11-der.js";
import {
  closeUserSession, errorText, findSlot, openUserSession, resolvePin, tokenMechanisms, type PinSources, type TokenMechanism,
} from "./pkcs11-session.js";

export { parsePkcs11Uri, formatPkcs11Uri, type Pkcs11Uri } from "./pkcs11-uri.js";
export { loadPkcs11Module, finalizePkcs11Modules } from "./pkcs11-session.js";

const CKS_RO_USER_FUNCTIONS = 1;
const CKS_RW_USER_FUNCTIONS = 3;
const CKA_VALUE = 0x11;
const CKA_EC_PARAMS = 0x180;
const CKA_EC_POINT = 0x181;

// PKCS#11 3.2 ML-DSA identifiers; graphene (a 2.40 header) has no names for them.
export const CKM_ML_DSA_KEY_PAIR_GEN = 0x1c;
/** Pure ML-DSA; without a parameter: empty context, and the token's default (hedged) signing. */
export const CKM_ML_DSA = 0x1d;
export const CKK_ML_DSA = 0x4a;
export const CKA_PARAMETER_SET = 0x61d;
export const CKP_ML_DSA: Readonly<Record<MlDsaLevel, number>> = { 44: 1, 65: 2, 87: 3 };
// Lets graphene templates carry it by name (it only converts attributes it knows).
registerAttribute("parameterSet", CKA_PARAMETER_SET, "number");

export interface OpenPkcs11SignerOptions extends PinSources {
  /** `pkcs11:` URI of the private key: token (or serial/slot-id) plus object and/or id. */
  uri: string | Pkcs11Uri;
  /** PKCS#11 library; defaults to the URI's module-path. */
  modulePath?: string;
  /** Defaults to ECDSA with the curve's hash, or RSA PKCS#1 v1.5 with SHA-256. */
  algorithm?: SignatureAlgorithmName;
}

export class Pkcs11Signer implements Signer {
  private closed = false;
  /** See Signer.verifyAfterSign: a token's signature is checked before it is released (guard against HSM faults). */
  readonly verifyAfterSign = true;

  /** Use {@link openPkcs11Signer}; the session must already be logged in. */
  constructor(
    readonly id: string,
    readonly publicKey: KeyObject,
    readonly algorithm: SignatureAlgorithmName,
    private readonly session: Session,
    private readonly privateKey: SessionObject,
    private readonly release: () => void,
  ) {}

  async sign(data: Uint8Array): Promise<Buffer> {
    return this.signSync(data);
  }

  signSync(data: Uint8Array): Buffer {
    if (this.closed) throw new Error(`PKCS#11 signer ${this.id} is closed`);
    const alg = this.algorithm;
    const hash = hashOf(alg);
    const input = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    try {
      if (isMlDsa(alg)) {
        // Not graphene's Sign.once: its fixed 1024-byte output buffer is shorter than any ML-DSA signature.
        const lib = this.session.lib;
        lib.C_SignInit(this.session.handle, { mechanism: CKM_ML_DSA }, this.privateKey.handle);
        return lib.C_Sign(this.session.handle, input, Buffer.alloc(ML_DSA_SIZES[mlDsaLevelOf(alg)].signature));
      }
      if (alg.startsWith("ecdsa")) {
        // CKM_ECDSA signs a precomputed digest; hashing in node keeps long TBS data off the token.
        const digest = digestOf(hash, input, "buffer");
        return ecdsaRawToDer(this.session.createSign("ECDSA", this.privateKey.toType()).once(digest));
      }
      return this.session.createSign(rsaMechanism(alg), this.privateKey.toType()).once(input);
    } catch (e) {
      throw new Error(`PKCS#11 signing with ${this.id} failed: ${errorText(e)}`);
    }
  }

  /**
   * The raw RSA private operation (CKM_RSA_X_509) for an RA key that unwraps SCEP content keys: the
   * caller removes the PKCS#1 padding itself, in constant time (no padding oracle from the token).
   */
  rawRsaDecrypt(block: Uint8Array): Buffer {
    if (this.closed) throw new Error(`PKCS#11 signer ${this.id} is closed`);
    try {
      // The output buffer must hold a whole modulus-sized block.
      const out = Buffer.alloc(block.length + 16);
      return this.session.createDecipher("RSA_X_509", this.privateKey.toType()).once(Buffer.from(block), out);
    } catch (e) {
      throw new Error(`PKCS#11 decryption with ${this.id} failed: ${errorText(e)}`);
    }
  }

  /** True while the session is open and logged in as user. */
  async ping(): Promise<boolean> {
    if (this.closed) return false;
    try {
      const info = this.session.lib.C_GetSessionInfo(this.session.handle);
      if (info.state !== CKS_RO_USER_FUNCTIONS && info.state !== CKS_RW_USER_FUNCTIONS) return false;
      return this.privateKey.getAttribute({ sign: null }).sign === true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.release();
  }
}

function mlDsaLevelOf(alg: SignatureAlgorithmName): MlDsaLevel {
  return Number(alg.slice(7)) as MlDsaLevel;
}

function rsaMechanism(alg: SignatureAlgorithmName): MechanismType {
  const h = hashOf(alg).toUpperCase() as "SHA256" | "SHA384" | "SHA512";
  if (!alg.startsWith("rsa-pss")) return `${h}_RSA_PKCS`;
  const mgf = { SHA256: RsaMgf.MGF1_SHA256, SHA384: RsaMgf.MGF1_SHA384, SHA512: RsaMgf.MGF1_SHA512 }[h];
  return { name: `${h}_RSA_PKCS_PSS`, params: new RsaPssParams(MechanismEnum[h], mgf, hashLength(hashOf(alg))) };
}

function keyTemplate(cls: ObjectClass, uri: Pkcs11Uri): ITemplate {
  const t: ITemplate = { class: cls };
  if (uri.object !== undefined) t.label = uri.object;
  if (uri.id !== undefined) t.id = uri.id;
  return t;
}

function findOne(session: Session, template: ITemplate): SessionObject | undefined {
  const found = session.find(template);
  if (found.length > 1) throw new Error(`${found.length} objects match; make the URI more specific (object= and id=)`);
  return found.length === 1 ? found.items(0) : undefined;
}

interface TokenPublicKey { key: KeyObject; family: "ec" | "rsa" | "ml-dsa"; defaultAlgorithm: SignatureAlgorithmName }

/** Public key of the pair: the CKO_PUBLIC_KEY object, or for RSA the public attributes of the private key. */
function readPublicKey(session: Session, priv: SessionObject, uri: Pkcs11Uri): TokenPublicKey {
  const keyType = priv.getAttribute({ keyType: null }).keyType as number;
  const pub = findOne(session, keyTemplate(ObjectClass.PUBLIC_KEY, uri));
  if (keyType === KeyType.EC) {
    if (!pub) throw new Error("no CKO_PUBLIC_KEY object with the same label/id as the EC private key");
    // By number: graphene maps 0x180 back to its alias "paramsECDSA", so a named read comes back empty.
    const params = pub.getAttribute(CKA_EC_PARAMS);
    const key = ecPublicKeyFromPkcs11(params, pub.getAttribute(CKA_EC_POINT));
    return { key, family: "ec", defaultAlgorithm: curveFromEcParams(params) === "P-384" ? "ecdsa-sha384" : "ecdsa-sha256" };
  }
  if (keyType === KeyType.RSA) {
    const a = (pub ?? priv).getAttribute({ modulus: null, publicExponent: null });
    return { key: rsaPublicKeyFromPkcs11(a.modulus as Buffer, a.publicExponent as Buffer), family: "rsa", defaultAlgorithm: "rsa-pkcs1-sha256" };
  }
  if (keyType === CKK_ML_DSA) {
    if (!pub) throw new Error("no CKO_PUBLIC_KEY object with the same label/id as the ML-DSA private key");
    // CKA_VALUE holds the raw public key octets; their length names the level, and CKA_PARAMETER_SET, where the
    // token reports it, must agree.
    const value = pub.getAttribute(CKA_VALUE);
    const level = mlDsaLevelOfPublicKeyLength(value.length);
    if (!level) throw new Error(`ML-DSA public key from token has ${value.length} bytes, which fits no ML-DSA level`);
    const set = readUlong(pub, CKA_PARAMETER_SET);
    if (set !== undefined && set !== CKP_ML_DSA[level]) throw new Error(`ML-DSA public key of ${value.length} bytes (ML-DSA-${level}) but CKA_PARAMETER_SET ${set}`);
    return { key: mlDsaPublicKeyFromPkcs11(level, value), family: "ml-dsa", defaultAlgorithm: `ml-dsa-${level}` };
  }
  throw new Error(`unsupported PKCS#11 key type ${keyType}`);
}

function readUlong(obj: SessionObject, type: number): number | undefined {
  try {
    return ulongFromPkcs11(obj.getAttribute(type));
  } catch {
    return undefined; // CKR_ATTRIBUTE_TYPE_INVALID: not reported
  }
}

function familyOf(alg: SignatureAlgorithmName): TokenPublicKey["family"] {
  return isMlDsa(alg) ? "ml-dsa" : alg.startsWith("ecdsa") ? "ec" : "rsa";
}

/** Opens a session, logs in and locates the key; the signer holds the session until `close()`. */
export async function openPkcs11Signer(opts: OpenPkcs11SignerOptions): Promise<Pkcs11Signer> {
  const uri = typeof opts.uri === "string" ? parsePkcs11Uri(opts.uri) : opts.uri;
  const id = formatPkcs11Uri(uri, { query: false });
  const modulePath = opts.modulePath ?? uri.modulePath;
  if (!modulePath) throw new Error(`no PKCS#11 module for ${id} (modulePath or module-path=)`);
  if (uri.type !== undefined && uri.type !== "private") throw new Error(`${id}: type must be "private"`);
  if (uri.object === undefined && uri.id === undefined) throw new Error(`${id}: the URI must name the key (object= and/or id=)`);
  const pin = await resolvePin(opts, uri);
  const slot = findSlot(modulePath, uri);
  const session = openUserSession(modulePath, slot, pin, false, id);
  const release = () => closeUserSession(modulePath, slot, session);
  try {
    const priv = findOne(session, keyTemplate(ObjectClass.PRIVATE_KEY, uri));
    if (!priv) throw new Error("private key not found");
    const pub = readPublicKey(session, priv, uri);
    const algorithm = opts.algorithm ?? pub.defaultAlgorithm;
    // An ML-DSA key signs at its own level only.
    if (familyOf(algorithm) !== pub.family || (pub.family === "ml-dsa" && algorithm !== pub.defaultAlgorithm)) {
      throw new Error(`algorithm ${algorithm} does not fit the ${pub.family === "ml-dsa" ? pub.defaultAlgorithm.toUpperCase() : pub.family.toUpperCase()} key`);
    }
    const signer = new Pkcs11Signer(id, pub.key, algorithm, session, priv, release);
    selfTest(signer);
    return signer;
  } catch (e) {
    try {
      release();
    } catch {
      // report the original failure
    }
    throw e instanceof Error && e.message.startsWith("PKCS#11") ? e : new Error(`PKCS#11 key ${id}: ${errorText(e, pin)}`);
  }
}

/** Catches a public key object that belongs to a different private key before it ends up in a certificate. */
function selfTest(signer: Pkcs11Signer): void {
  const data = randomBytes(32);
  const sig = signer.signSync(data);
  const hash = hashOf(signer.algorithm);
  const ok = isMlDsa(signer.algorithm)
    ? cryptoVerify(null, data, signer.publicKey, sig)
    : signer.algorithm.startsWith("rsa-pss")
    ? cryptoVerify(hash, data, { key: signer.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: hashLength(hash) }, sig)
    : cryptoVerify(hash, data, signer.publicKey, sig);
  if (!ok) throw new Error("PKCS#11 public key object does not match the private key (self-test signature failed)");
}

export interface GeneratePkcs11KeyPairOptions {
  modulePath: string;
  tokenLabel: string;
  pin: string;
  /** CKA_LABEL of both keys. */
  label: string;
  /** CKA_ID bytes, or a hex string of them; random 8 bytes if omitted. */
  id?: Uint8Array | string;
  spec: KeySpec;
  /** Also allow decryption (an RSA RA key that unwraps SCEP content keys); signing keys never decrypt. */
  decrypt?: boolean;
}

/**
 * Generates a token-resident key pair whose private half is sensitive and never extractable, and returns the
 * private key's `pkcs11:` URI (no PIN, no module-path). Refuses an id that is already in use on the token.
 */
export async function generatePkcs11KeyPair(opts: GeneratePkcs11KeyPairOptions): Promise<string> {
  const id = typeof opts.id === "string" ? hexId(opts.id) : opts.id ? Buffer.from(opts.id) : randomBytes(8);
  const uri: Pkcs11Uri = { token: opts.tokenLabel, object: opts.label, id, type: "private", other: {} };
  const where = formatPkcs11Uri(uri);
  const common = { token: true, label: opts.label, id };
  let mech: MechanismType;
  let pubT: ITemplate;
  if (opts.spec.kind === "ml-dsa") {
    const set = CKP_ML_DSA[opts.spec.level];
    if (set === undefined) throw new Error(`unsupported ML-DSA level ${String(opts.spec.level)}`);
    mech = { name: CKM_ML_DSA_KEY_PAIR_GEN, params: null };
    pubT = { ...common, class: ObjectClass.PUBLIC_KEY, keyType: CKK_ML_DSA, parameterSet: set };
  } else if (opts.spec.kind === "ec") {
    const params = EC_PARAMS[opts.spec.curve];
    if (!params) throw new Error(`unsupported curve ${String(opts.spec.curve)}`);
    mech = "EC_KEY_PAIR_GEN";
    pubT = { ...common, class: ObjectClass.PUBLIC_KEY, keyType: KeyType.EC, paramsEC: params };
  } else {
    const bits = opts.spec.bits;
    if (!Number.isInteger(bits) || bits < 2048 || bits > 4096 || bits % 8 !== 0) throw new Error(`RSA key size must be 2048-4096 bits, got ${bits}`);
    mech = "RSA_PKCS_KEY_PAIR_GEN";
    pubT = { ...common, class: ObjectClass.PUBLIC_KEY, keyType: KeyType.RSA, modulusBits: bits, publicExponent: Buffer.from([1, 0, 1]) };
  }
  Object.assign(pubT, { private: false, verify: true, encrypt: false, wrap: false });
  const privT: ITemplate = {
    ...common, class: ObjectClass.PRIVATE_KEY, keyType: pubT.keyType, private: true,
    sensitive: true, extractable: false, sign: true, decrypt: opts.decrypt === true && opts.spec.kind === "rsa", unwrap: false, derive: false,
  };
  const slot = findSlot(opts.modulePath, uri);
  if (opts.spec.kind === "ml-dsa") assertMechanisms(tokenMechanisms(slot), opts.tokenLabel, opts.spec);
  const session = openUserSession(opts.modulePath, slot, opts.pin, true, where);
  try {
    // Labels may repeat (URIs carry label and id); a repeated id would pair keys wrongly.
    if (session.find({ id }).length > 0) throw new Error("an object with this id already exists");
    session.generateKeyPair(mech, pubT, privT);
  } catch (e) {
    throw new Error(`PKCS#11 key generation for ${where} failed: ${errorText(e, opts.pin)}`);
  } finally {
    closeUserSession(opts.modulePath, slot, session);
  }
  return where;
}

const ML_DSA_NEEDS = [
  { type: CKM_ML_DSA_KEY_PAIR_GEN, flag: MechanismFlag.GENERATE_KEY_PAIR, name: "CKM_ML_DSA_KEY_PAIR_GEN" },
  { type: CKM_ML_DSA, flag: MechanismFlag.SIGN, name: "CKM_ML_DSA" },
];

/**
 * Why a token cannot hold an ML-DSA key of `level`, naming what it offers instead; undefined when it can. EC and
 * RSA are not checked ahead: every token has them, while tokens without PKCS#11 3.2 are today's common case.
 */
export function mlDsaMechanismRefusal(offered: TokenMechanism[], tokenLabel: string, level: MlDsaLevel): string | undefined {
  const missing = ML_DSA_NEEDS.filter((n) => !offered.some((m) => m.type === n.type && (m.flags & n.flag) !== 0));
  if (missing.length === 0) return undefined;
  // Public-key mechanisms only: a MAC "signs" too, with a secret key no certificate can name.
  const names = (flag: number) => offered.filter((m) => (m.flags & flag) !== 0 && !/MAC$/.test(m.name)).map((m) => m.name).join(", ") || "none";
  const what = missing.length === ML_DSA_NEEDS.length
    ? `offers no ML-DSA mechanism (${ML_DSA_NEEDS.map((n) => n.name).join(", ")} from PKCS#11 3.2)`
    : `lacks ${missing.map((n) => n.name).join(", ")} (PKCS#11 3.2) for ML-DSA`;
  return `token "${tokenLabel}" ${what}, so it cannot hold an ML-DSA-${level} CA key; it offers key-pair generation: ` +
    `${names(MechanismFlag.GENERATE_KEY_PAIR)}; signing: ${names(MechanismFlag.SIGN)}`;
}

function assertMechanisms(offered: TokenMechanism[], tokenLabel: string, spec: KeySpec): void {
  const refusal = spec.kind === "ml-dsa" ? mlDsaMechanismRefusal(offered, tokenLabel, spec.level) : undefined;
  if (refusal) throw new GatewayError("RA_ERR_CONFIG", refusal);
}

/**
 * Refuses (RA_ERR_CONFIG), before anything is created, key specs the token cannot generate and sign with (ML-DSA
 * without the PKCS#11 3.2 mechanisms). Reads the mechanism list only: no login.
 */
export function checkPkcs11KeySpecs(modulePath: string, tokenLabel: string, specs: KeySpec[]): void {
  if (!specs.some((s) => s.kind === "ml-dsa")) return;
  const offered = tokenMechanisms(findSlot(modulePath, { token: tokenLabel, other: {} }));
  for (const spec of specs) assertMechanisms(offered, tokenLabel, spec);
}

function hexId(s: string): Buffer {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(s)) throw new Error("PKCS#11 key id must be an even-length hex string");
  return Buffer.from(s, "hex");
}
