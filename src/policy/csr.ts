import { verify, type KeyObject } from "node:crypto";
import { importSpki } from "../asn1/spki-import.js";
import { AsnConvert } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier, Extensions, SubjectAlternativeName, id_ce_subjectAltName, id_ce_basicConstraints, BasicConstraints } from "@peculiar/asn1-x509";
import { nameToString } from "../asn1/name.js";
import { checkDer } from "../asn1/der-limits.js";
import { childSpans, header } from "../asn1/der-walk.js";
import { oidDer, oidText } from "../asn1/der-values.js";
import { mlDsaLevelOf, verifyParamsFor, verifySignature, WEAK_SIGNATURE_OIDS } from "../asn1/algorithms.js";
import { GatewayError } from "../errors.js";
import { emptySans, type SanSet } from "./request.js";
import { generalNamesDerToSans, generalNamesToSans } from "../asn1/general-names.js";

const EXTENSION_REQUEST = "1.2.840.113549.1.9.14";
const CHALLENGE_PASSWORD = "1.2.840.113549.1.9.7";
const CN_OID = "2.5.4.3";

export interface ParsedCsr {
  der: Uint8Array;
  spki: Uint8Array;
  publicKey: KeyObject;
  readonly subject: string;
  commonName?: string;
  sans: SanSet;
  /** OIDs of extensions the CSR asked for; recorded, never copied. */
  requestedExtensions: string[];
  requestsCa: boolean;
  challengePassword?: string;
  /** Signed with SHA-1: accepted only under {@link CsrOptions.allowSha1Signature}. */
  sha1Signature: boolean;
}

export interface CsrOptions {
  /**
   * Accept a SHA-1 signature (sha1WithRSAEncryption, ecdsa-with-SHA1). Only a SCEP endpoint with
   * legacyAlgorithms asks for this, for devices that cannot sign otherwise; MD2/MD4/MD5 stay refused.
   */
  allowSha1Signature?: boolean;
}

/** SHA-1 signature algorithms and the key type each needs. */
const SHA1_SIGNATURES: Record<string, "rsa" | "ec"> = {
  "1.2.840.113549.1.1.5": "rsa", // sha1WithRSAEncryption
  "1.3.14.3.2.29": "rsa", // sha1WithRSA (OIW)
  "1.2.840.10045.4.1": "ec", // ecdsa-with-SHA1
};

const EXTENSION_REQUEST_DER = Buffer.from(oidDer(EXTENSION_REQUEST));
const CHALLENGE_PASSWORD_DER = Buffer.from(oidDer(CHALLENGE_PASSWORD));
const CN_DER = Buffer.from(oidDer(CN_OID));

function malformed(why: string): GatewayError {
  return new GatewayError("RA_ERR_MALFORMED", `CSR is not a PKCS#10 CertificationRequest: ${why}`);
}

/** Children of the constructed value at `span`, after checking its tag. */
function children(der: Uint8Array, span: [number, number], tag: number, what: string): Array<[number, number]> {
  if (der[span[0]] !== tag) throw malformed(`${what} has tag 0x${der[span[0]].toString(16)}, not 0x${tag.toString(16)}`);
  return childSpans(der, span[0]);
}

function content(der: Uint8Array, span: [number, number]): Uint8Array {
  return der.subarray(header(der, span[0]).contentStart, span[1]);
}

/**
 * Parses and checks a PKCS#10 request from untrusted input: DER limits and strict DER rules
 * (checkDer), the structure walked by hand (the hot path of every enrollment), signature
 * algorithm allow-list, self-signature over the exact bytes sent.
 */
export function parseCsr(der: Uint8Array, maxBytes = 16 * 1024, o: CsrOptions = {}): ParsedCsr {
  // A front-end that already parsed these very bytes (to check a binding or a bound subject) and the
  // policy layer share one parse: signature verification is the costly part. A SHA-1 parse is reused only
  // by a caller that accepts SHA-1 too; any other caller parses again and is refused.
  const known = parsedOnce.get(der);
  if (known && der.length <= maxBytes && (!known.sha1Signature || o.allowSha1Signature)) return known;
  const parsed = parseCsrUncached(der, maxBytes, o.allowSha1Signature === true);
  parsedOnce.set(der, parsed);
  return parsed;
}

const parsedOnce = new WeakMap<Uint8Array, ParsedCsr>();

function parseCsrUncached(der: Uint8Array, maxBytes: number, allowSha1: boolean): ParsedCsr {
  checkDer(der, { maxBytes, maxDepth: 24, maxNodes: 4000 });
  const top = children(der, [0, der.length], 0x30, "CertificationRequest");
  if (top.length !== 3) throw malformed("it must have exactly info, algorithm and signature");
  const [infoSpan, algSpan, sigSpan] = top;
  const sigAlg = signatureAlgorithm(der.subarray(algSpan[0], algSpan[1]));
  const sha1KeyType = allowSha1 ? SHA1_SIGNATURES[sigAlg.algorithm] : undefined;
  if (WEAK_SIGNATURE_OIDS.has(sigAlg.algorithm) && !sha1KeyType) {
    throw new GatewayError("RA_ERR_WEAK_SIGNATURE_ALG", `CSR signature algorithm ${sigAlg.algorithm} (MD5/SHA-1) is not accepted`);
  }
  // An encoded NULL parses as null, absent parameters as undefined: RFC 9881 allows only absent.
  if (mlDsaLevelOf(sigAlg.algorithm) && sigAlg.parameters !== undefined) {
    throw new GatewayError("RA_ERR_MALFORMED", "CSR signature algorithm: an ML-DSA AlgorithmIdentifier must have no parameters (RFC 9881)");
  }
  const params = sha1KeyType ? undefined : verifyParamsFor(sigAlg);
  if (!params && !sha1KeyType) throw new GatewayError("RA_ERR_WEAK_SIGNATURE_ALG", `CSR signature algorithm ${sigAlg.algorithm} is not supported`);
  if (der[sigSpan[0]] !== 0x03) throw malformed("signature is not a BIT STRING");
  const sigBits = content(der, sigSpan);
  if (sigBits.length < 2 || sigBits[0] !== 0) throw malformed("signature BIT STRING has unused bits");

  // certificationRequestInfo = SEQUENCE { version INTEGER (0), subject Name, subjectPKInfo, attributes [0] }
  const info = children(der, infoSpan, 0x30, "certificationRequestInfo");
  if (info.length !== 4 && info.length !== 3) throw malformed("certificationRequestInfo has the wrong number of fields");
  const [versionSpan, subjectSpan, spkiSpan, attrsSpan] = info;
  if (der[versionSpan[0]] !== 0x02 || versionSpan[1] - versionSpan[0] !== 3 || der[versionSpan[0] + 2] !== 0) throw malformed("version must be 0");
  const rdns = children(der, subjectSpan, 0x30, "subject");
  if (der[spkiSpan[0]] !== 0x30) throw malformed("subjectPKInfo is not a SEQUENCE");
  const spki = der.subarray(spkiSpan[0], spkiSpan[1]);
  let publicKey: KeyObject;
  try {
    publicKey = importSpki(spki);
  } catch (e) {
    if (e instanceof GatewayError) throw e;
    throw new GatewayError("RA_ERR_KEY_WEAK", "CSR public key is not usable (unknown type or explicit curve parameters)");
  }
  // A key type the signature OID does not name (an ML-DSA-44 key under id-ml-dsa-65) could never verify: say so.
  if (params?.keyType && publicKey.asymmetricKeyType !== params.keyType) {
    const keyType = (publicKey.asymmetricKeyType ?? "unknown").toUpperCase();
    throw new GatewayError("RA_ERR_BAD_CSR_SIGNATURE", `CSR signature algorithm is ${params.keyType.toUpperCase()} but its public key is ${keyType}`);
  }
  // The signature covers the exact bytes of certificationRequestInfo as sent.
  const signed = der.subarray(infoSpan[0], infoSpan[1]);
  const verified = params ? verifySignature(publicKey, params, signed, sigBits.subarray(1)) : sha1Verify(publicKey, sha1KeyType!, signed, sigBits.subarray(1));
  if (!verified) {
    throw new GatewayError("RA_ERR_BAD_CSR_SIGNATURE", "CSR signature does not verify");
  }

  let cn: string | undefined;
  for (const rdn of rdns) {
    for (const atv of children(der, rdn, 0x31, "RelativeDistinguishedName")) {
      const [oid, value] = children(der, atv, 0x30, "AttributeTypeAndValue");
      if (!value) throw malformed("an attribute has no value");
      if (cn === undefined && Buffer.from(der.subarray(oid[0], oid[1])).equals(CN_DER)) cn = directoryStringValue(der.subarray(value[0], value[1]));
    }
  }

  let sans = emptySans();
  const requestedExtensions: string[] = [];
  let requestsCa = false;
  let challengePassword: string | undefined;
  for (const attr of attrsSpan ? children(der, attrsSpan, 0xa0, "attributes") : []) {
    const [oid, set] = children(der, attr, 0x30, "Attribute");
    if (!set) throw malformed("an attribute has no values");
    const values = children(der, set, 0x31, "attribute values");
    const oidBytes = Buffer.from(der.subarray(oid[0], oid[1]));
    if (!values.length) continue;
    if (oidBytes.equals(EXTENSION_REQUEST_DER)) {
      for (const ext of requestedExtensionList(der.subarray(values[0][0], values[0][1]))) {
        requestedExtensions.push(ext.extnID);
        // extnValue is client bytes: a SAN or basicConstraints that does not decode is a malformed CSR, not an internal error.
        try {
          if (ext.extnID === id_ce_subjectAltName) sans = generalNamesDerToSans(ext.extnValue) ?? generalNamesToSans(AsnConvert.parse(ext.extnValue, SubjectAlternativeName));
          if (ext.extnID === id_ce_basicConstraints) requestsCa = AsnConvert.parse(ext.extnValue, BasicConstraints).cA;
        } catch (e) {
          throw new GatewayError("RA_ERR_MALFORMED", `CSR extension ${ext.extnID} does not decode`, { cause: (e as Error).message });
        }
      }
    } else if (oidBytes.equals(CHALLENGE_PASSWORD_DER)) {
      challengePassword = directoryStringValue(der.subarray(values[0][0], values[0][1]));
    }
  }
  const subjectDer = der.subarray(subjectSpan[0], subjectSpan[1]);
  return {
    der, spki, publicKey, commonName: cn, sans, requestedExtensions, requestsCa, challengePassword, sha1Signature: sha1KeyType !== undefined,
    // Formatting the DN is comparatively costly and rarely needed: on demand.
    get subject() {
      // The walk above checks the RDN shape only; a bad OID or value inside still fails here, as the client's fault.
      try {
        return nameToString(subjectDer);
      } catch (e) {
        throw new GatewayError("RA_ERR_MALFORMED", "CSR subject is not a valid Name", { cause: (e as Error).message });
      }
    },
  };
}

/** AlgorithmIdentifiers of the usual CSR signatures by their exact DER: these skip the schema parser. */
const KNOWN_ALGORITHMS = new Map<string, AlgorithmIdentifier>(
  [...["1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4", "1.3.101.112", "1.3.101.113"].map((algorithm) => new AlgorithmIdentifier({ algorithm })),
    ...["1.2.840.113549.1.1.11", "1.2.840.113549.1.1.12", "1.2.840.113549.1.1.13"].map((algorithm) => new AlgorithmIdentifier({ algorithm, parameters: new Uint8Array([5, 0]).buffer }))]
    .map((a) => [Buffer.from(AsnConvert.serialize(a)).toString("latin1"), a]),
);

function signatureAlgorithm(der: Uint8Array): AlgorithmIdentifier {
  const known = KNOWN_ALGORITHMS.get(Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("latin1"));
  if (known) return known;
  try {
    return AsnConvert.parse(der, AlgorithmIdentifier);
  } catch (e) {
    throw new GatewayError("RA_ERR_MALFORMED", "CSR signature algorithm is not an AlgorithmIdentifier", { cause: (e as Error).message });
  }
}

/**
 * The extensions of an extensionRequest: walked by hand when each is the plain {OID, [BOOLEAN], OCTET STRING}
 * (the CSR passed checkDer, so the structure is sound), else through the schema parser, which decides.
 */
function requestedExtensionList(der: Uint8Array): Array<{ extnID: string; extnValue: Uint8Array }> {
  const fast = extensionsByWalk(der);
  if (fast) return fast;
  try {
    return AsnConvert.parse(der, Extensions).map((e) => ({ extnID: e.extnID, extnValue: new Uint8Array(e.extnValue.buffer) }));
  } catch (e) {
    throw new GatewayError("RA_ERR_MALFORMED", "CSR extensionRequest is not a list of extensions", { cause: (e as Error).message });
  }
}

function extensionsByWalk(der: Uint8Array): Array<{ extnID: string; extnValue: Uint8Array }> | undefined {
  if (der[0] !== 0x30) return undefined;
  const out: Array<{ extnID: string; extnValue: Uint8Array }> = [];
  for (const e of childSpans(der, 0)) {
    if (der[e[0]] !== 0x30) return undefined;
    const f = childSpans(der, e[0]);
    const [oid, critical, value] = f.length === 3 ? f : f.length === 2 ? [f[0], undefined, f[1]] : [];
    if (!oid || !value || der[oid[0]] !== 0x06 || der[value[0]] !== 0x04 || (critical && der[critical[0]] !== 0x01)) return undefined;
    const extnID = oidText(content(der, oid));
    if (!extnID) return undefined;
    out.push({ extnID, extnValue: content(der, value) });
  }
  return out;
}

/** A SHA-1 signature, with the key type the algorithm names (an RSA algorithm never verifies with an EC key). */
function sha1Verify(key: KeyObject, keyType: "rsa" | "ec", data: Uint8Array, signature: Uint8Array): boolean {
  if (key.asymmetricKeyType !== keyType) return false;
  try {
    return verify("sha1", data, key, signature);
  } catch {
    return false;
  }
}

/** Decodes a DirectoryString (UTF8/Printable/IA5/T61/BMP) to text. */
function directoryStringValue(b: Uint8Array): string | undefined {
  if (b.length < 2) return undefined;
  const [start, end] = [b[1] < 0x80 ? 2 : 2 + (b[1] & 0x7f), b.length];
  const body = Buffer.from(b.subarray(start, end));
  return b[0] === 0x1e ? body.swap16().toString("utf16le") : body.toString("utf8");
}
