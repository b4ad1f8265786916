import { AsnConvert } from "@peculiar/asn1-schema";
import {
  AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints, Certificate, CRLDistributionPoints, ExtendedKeyUsage, KeyUsage,
  SubjectAlternativeName, SubjectKeyIdentifier, type Extension,
} from "@peculiar/asn1-x509";
import { generalNamesToSans } from "../asn1/general-names.js";
import { certificateFacts, type CertFacts } from "../inventory/facts.js";
import { KEY_USAGES } from "../policy/profile.js";
import { sanList } from "../policy/request.js";

const EKU_NAMES: Record<string, string> = {
  "1.3.6.1.5.5.7.3.1": "serverAuth", "1.3.6.1.5.5.7.3.2": "clientAuth", "1.3.6.1.5.5.7.3.3": "codeSigning", "1.3.6.1.5.5.7.3.4": "emailProtection",
  "1.3.6.1.5.5.7.3.8": "timeStamping", "1.3.6.1.5.5.7.3.9": "OCSPSigning", "1.3.6.1.5.5.7.3.17": "ipsecIKE", "1.3.6.1.5.5.7.3.28": "cmcRA",
};
const hex = (b: ArrayBuffer | Uint8Array) => Buffer.from(b instanceof Uint8Array ? b : new Uint8Array(b)).toString("hex");

/** Each extension's name and a human reading of its value (unknown ones as hex). */
const READERS: Record<string, [string, (v: ArrayBuffer) => string]> = {
  "2.5.29.19": ["basicConstraints", (v) => {
    const b = AsnConvert.parse(v, BasicConstraints);
    return b.cA ? `CA:TRUE${b.pathLenConstraint !== undefined ? `, pathlen:${b.pathLenConstraint}` : ""}` : "CA:FALSE";
  }],
  "2.5.29.15": ["keyUsage", (v) => {
    const bits = AsnConvert.parse(v, KeyUsage).toNumber();
    return KEY_USAGES.filter((_, i) => bits & (1 << i)).join(", ");
  }],
  "2.5.29.37": ["extendedKeyUsage", (v) => AsnConvert.parse(v, ExtendedKeyUsage).map((o) => EKU_NAMES[o] ?? o).join(", ")],
  "2.5.29.17": ["subjectAltName", (v) => sanList(generalNamesToSans(AsnConvert.parse(v, SubjectAlternativeName))).join(", ")],
  "2.5.29.14": ["subjectKeyIdentifier", (v) => hex(AsnConvert.parse(v, SubjectKeyIdentifier).buffer)],
  "2.5.29.35": ["authorityKeyIdentifier", (v) => {
    const k = AsnConvert.parse(v, AuthorityKeyIdentifier).keyIdentifier;
    return k ? hex(k.buffer) : "";
  }],
  "2.5.29.31": ["cRLDistributionPoints", (v) => AsnConvert.parse(v, CRLDistributionPoints).flatMap((d) => d.distributionPoint?.fullName?.map((g) => g.uniformResourceIdentifier ?? "") ?? []).join(", ")],
  "1.3.6.1.5.5.7.1.1": ["authorityInfoAccess", (v) => AsnConvert.parse(v, AuthorityInfoAccessSyntax).map((a) => `${a.accessMethod === "1.3.6.1.5.5.7.48.1" ? "OCSP" : "caIssuers"}: ${a.accessLocation.uniformResourceIdentifier ?? ""}`).join(", ")],
};

export interface DecodedExtension {
  oid: string;
  name: string;
  critical: boolean;
  value: string;
}

function readExtension(e: Extension): DecodedExtension {
  const [name, read] = READERS[e.extnID] ?? [e.extnID, (v: ArrayBuffer) => hex(v)];
  let value: string;
  try {
    value = read(e.extnValue.buffer);
  } catch {
    value = hex(e.extnValue.buffer);
  }
  return { oid: e.extnID, name, critical: e.critical, value };
}

/** What the console shows of a certificate: its facts and every extension, decoded where the gateway knows it. */
export function decodeCertificate(der: Uint8Array): Omit<CertFacts, "sans" | "isCa" | "selfSigned" | "serverAuth" | "keyFamily"> & { extensions: DecodedExtension[] } {
  const f = certificateFacts(der);
  const extensions = (AsnConvert.parse(der, Certificate).tbsCertificate.extensions ?? []).map(readExtension);
  return {
    fingerprint: f.fingerprint, subject: f.subject, issuer: f.issuer, serial: f.serial, notBefore: f.notBefore, notAfter: f.notAfter, lifetimeDays: f.lifetimeDays,
    keyAlgorithm: f.keyAlgorithm, keySize: f.keySize, signatureAlgorithm: f.signatureAlgorithm, signatureOid: f.signatureOid, signatureHash: f.signatureHash, extensions,
  };
}
