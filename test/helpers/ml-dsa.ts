/**
 * ML-DSA test material made with node:crypto (OpenSSL 3.5): keys, and PKCS#10 requests signed with them, built
 * field by field so a test can also make the broken ones the gateway must refuse (RFC 9881 rules).
 */
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { Attributes, CertificationRequest, CertificationRequestInfo } from "@peculiar/asn1-csr";
import { Attribute } from "@peculiar/asn1-x509";
import {
  AlgorithmIdentifier, Extension, Extensions, GeneralName, SubjectAlternativeName, SubjectPublicKeyInfo, id_ce_subjectAltName,
} from "@peculiar/asn1-x509";
import { buildName } from "../../src/asn1/name.js";

export type Level = 44 | 65 | 87;
export const ML_DSA_OID: Record<Level, string> = { 44: "2.16.840.1.101.3.4.3.17", 65: "2.16.840.1.101.3.4.3.18", 87: "2.16.840.1.101.3.4.3.19" };
const EXTENSION_REQUEST = "1.2.840.113549.1.9.14";
const NULL = new Uint8Array([0x05, 0x00]).buffer;

export function mlDsaKeys(level: Level): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync(`ml-dsa-${level}`);
}

export interface MlDsaCsrOptions {
  level: Level;
  cn: string;
  dns?: string[];
  keys?: { privateKey: KeyObject; publicKey: KeyObject };
  /** Make a request the gateway must refuse. */
  broken?: "signature" | "key-parameters" | "signature-parameters" | "key-length" | "wrong-level-oid";
}

/** DER PKCS#10 request for an ML-DSA key, self-signed in pure mode with an empty context. */
export function mlDsaCsr(o: MlDsaCsrOptions): { der: Uint8Array; pem: string; keys: { privateKey: KeyObject; publicKey: KeyObject } } {
  const keys = o.keys ?? mlDsaKeys(o.level);
  const spki = AsnConvert.parse(keys.publicKey.export({ type: "spki", format: "der" }), SubjectPublicKeyInfo);
  if (o.broken === "key-parameters") spki.algorithm = new AlgorithmIdentifier({ algorithm: ML_DSA_OID[o.level], parameters: NULL });
  if (o.broken === "key-length") spki.subjectPublicKey = new Uint8Array(spki.subjectPublicKey).subarray(1).slice().buffer;
  const attributes = new Attributes();
  if (o.dns?.length) {
    const san = new SubjectAlternativeName(o.dns.map((d) => new GeneralName({ dNSName: d })));
    const exts = new Extensions([new Extension({ extnID: id_ce_subjectAltName, critical: false, extnValue: new OctetString(AsnConvert.serialize(san)) })]);
    attributes.push(new Attribute({ type: EXTENSION_REQUEST, values: [AsnConvert.serialize(exts)] }));
  }
  const info = new CertificationRequestInfo({
    version: 0, subject: buildName([["CN", o.cn]]), subjectPKInfo: spki, attributes,
  });
  const infoDer = AsnConvert.serialize(info);
  const sig = new Uint8Array(sign(null, Buffer.from(infoDer), keys.privateKey));
  if (o.broken === "signature") sig[10] ^= 0x01;
  const sigOid = o.broken === "wrong-level-oid" ? ML_DSA_OID[o.level === 44 ? 65 : 44] : ML_DSA_OID[o.level];
  const csr = new CertificationRequest({
    certificationRequestInfo: info,
    signatureAlgorithm: new AlgorithmIdentifier(o.broken === "signature-parameters" ? { algorithm: sigOid, parameters: NULL } : { algorithm: sigOid }),
    signature: sig.buffer,
  });
  const der = new Uint8Array(AsnConvert.serialize(csr));
  const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(der).toString("base64").replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n")}-----END CERTIFICATE REQUEST-----\n`;
  return { der, pem, keys };
}

/** A profile YAML issuing ML-DSA certificates for names under example.com (signing key usage only, RFC 9881). */
export function pqProfile(o: { name: string; issuer: string; protocols?: string[]; keys?: string[] }): string {
  const keys = o.keys ?? ["{ type: ml-dsa, levels: [44, 65, 87] }"];
  return `name: ${o.name}
issuer: ${o.issuer}
protocols: [${(o.protocols ?? ["admin"]).join(", ")}]
keys:
${keys.map((k) => `  - ${k}`).join("\n")}
names:
  dns: { suffixes: [example.com] }
validity: { default: 30d, max: 90d }
keyUsage: [digitalSignature]
extendedKeyUsage: [serverAuth]
`;
}
