import type { KeyObject } from "node:crypto";
import { importSpki } from "../asn1/spki-import.js";
import { AsnConvert } from "@peculiar/asn1-schema";
import { CertificationRequest } from "@peculiar/asn1-csr";
import { Extensions, SubjectAlternativeName, id_ce_subjectAltName, id_ce_basicConstraints, BasicConstraints } from "@peculiar/asn1-x509";
import { nameToString } from "../asn1/name.js";
import { checkDer } from "../asn1/der-limits.js";
import { childSpans } from "../asn1/der-walk.js";
import { verifyParamsFor, verifySignature, WEAK_SIGNATURE_OIDS } from "../asn1/algorithms.js";
import { GatewayError } from "../errors.js";
import { emptySans, type SanSet } from "./request.js";
import { generalNamesToSans } from "../asn1/general-names.js";

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
}

/**
 * Parses and checks a PKCS#10 request from untrusted input: DER limits, strict DER
 * (re-encode and compare), signature algorithm allow-list, self-signature.
 */
export function parseCsr(der: Uint8Array, maxBytes = 16 * 1024): ParsedCsr {
  checkDer(der, { maxBytes, maxDepth: 24, maxNodes: 4000 });
  let csr: CertificationRequest;
  try {
    csr = AsnConvert.parse(der, CertificationRequest);
  } catch (e) {
    throw new GatewayError("RA_ERR_MALFORMED", "CSR is not a PKCS#10 CertificationRequest", { cause: (e as Error).message });
  }
  const sigAlg = csr.signatureAlgorithm;
  if (WEAK_SIGNATURE_OIDS.has(sigAlg.algorithm)) {
    throw new GatewayError("RA_ERR_WEAK_SIGNATURE_ALG", `CSR signature algorithm ${sigAlg.algorithm} (MD5/SHA-1) is not accepted`);
  }
  const params = verifyParamsFor(sigAlg);
  if (!params) throw new GatewayError("RA_ERR_WEAK_SIGNATURE_ALG", `CSR signature algorithm ${sigAlg.algorithm} is not supported`);

  // certificationRequestInfo = SEQUENCE { version, subject, subjectPKInfo, attributes }: take the SPKI bytes as sent.
  const [infoStart, infoEnd] = childSpans(der)[0];
  const spkiSpan = childSpans(der, infoStart)[2];
  const spki = der.subarray(spkiSpan[0], spkiSpan[1]);
  let publicKey: KeyObject;
  try {
    publicKey = importSpki(spki);
  } catch {
    throw new GatewayError("RA_ERR_KEY_WEAK", "CSR public key is not usable (unknown type or explicit curve parameters)");
  }
  // The signature covers the exact bytes of certificationRequestInfo as sent.
  if (!verifySignature(publicKey, params, der.subarray(infoStart, infoEnd), new Uint8Array(csr.signature))) {
    throw new GatewayError("RA_ERR_BAD_CSR_SIGNATURE", "CSR signature does not verify");
  }

  const info = csr.certificationRequestInfo;
  const cn = info.subject.flatMap((rdn) => rdn).find((a) => a.type === CN_OID)?.value.toString();
  let sans = emptySans();
  const requestedExtensions: string[] = [];
  let requestsCa = false;
  let challengePassword: string | undefined;
  for (const attr of info.attributes ?? []) {
    if (attr.type === EXTENSION_REQUEST && attr.values.length > 0) {
      const exts = AsnConvert.parse(attr.values[0], Extensions);
      for (const ext of exts) {
        requestedExtensions.push(ext.extnID);
        if (ext.extnID === id_ce_subjectAltName) sans = generalNamesToSans(AsnConvert.parse(ext.extnValue, SubjectAlternativeName));
        if (ext.extnID === id_ce_basicConstraints) requestsCa = AsnConvert.parse(ext.extnValue, BasicConstraints).cA;
      }
    } else if (attr.type === CHALLENGE_PASSWORD && attr.values.length > 0) {
      challengePassword = directoryStringValue(attr.values[0]);
    }
  }
  return {
    der, spki, publicKey, commonName: cn, sans, requestedExtensions, requestsCa, challengePassword,
    // Formatting the DN is comparatively costly and rarely needed: on demand.
    get subject() {
      return nameToString(info.subject);
    },
  };
}

/** Decodes a DirectoryString (UTF8/Printable/IA5/T61/BMP) to text. */
function directoryStringValue(buf: ArrayBuffer): string | undefined {
  const b = new Uint8Array(buf);
  if (b.length < 2) return undefined;
  const [start, end] = [b[1] < 0x80 ? 2 : 2 + (b[1] & 0x7f), b.length];
  const body = Buffer.from(b.subarray(start, end));
  return b[0] === 0x1e ? body.swap16().toString("utf16le") : body.toString("utf8");
}
