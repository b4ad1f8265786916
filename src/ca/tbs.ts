import { createPublicKey, type KeyObject } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Extension, Extensions, Name, SubjectPublicKeyInfo, TBSCertificate, Validity, Version } from "@peculiar/asn1-x509";
import { algorithmIdentifier } from "../asn1/algorithms.js";
import type { SignatureAlgorithmName } from "../signers/signer.js";
import { toArrayBuffer } from "./sign-object.js";

export interface TbsInput {
  serial: Uint8Array;
  issuer: Name | Uint8Array;
  subject: Name;
  /** The subject key, or its DER SubjectPublicKeyInfo. */
  publicKey: KeyObject | Uint8Array;
  notBefore: Date;
  notAfter: Date;
  algorithm: SignatureAlgorithmName;
  extensions: Extension[];
}

/** The public half of a key given as either half. */
export function publicOf(key: KeyObject): KeyObject {
  return key.type === "public" ? key : createPublicKey(key);
}

export function spkiOf(key: KeyObject): SubjectPublicKeyInfo {
  return AsnConvert.parse(publicOf(key).export({ type: "spki", format: "der" }), SubjectPublicKeyInfo);
}

/** Times are truncated to whole seconds: X.509 times carry no fractions. */
export function wholeSeconds(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

export function buildTbs(i: TbsInput): TBSCertificate {
  return new TBSCertificate({
    version: Version.v3,
    serialNumber: toArrayBuffer(i.serial),
    signature: algorithmIdentifier(i.algorithm),
    issuer: i.issuer instanceof Name ? i.issuer : AsnConvert.parse(i.issuer, Name),
    validity: new Validity({ notBefore: wholeSeconds(i.notBefore), notAfter: wholeSeconds(i.notAfter) }),
    subject: i.subject,
    subjectPublicKeyInfo: i.publicKey instanceof Uint8Array ? AsnConvert.parse(i.publicKey, SubjectPublicKeyInfo) : spkiOf(i.publicKey),
    extensions: new Extensions(i.extensions),
  });
}
