import { AsnArray, AsnIntegerArrayBufferConverter, AsnPropTypes, AsnTypeTypes, BitString } from "@peculiar/asn1-schema";
import { Prop, Type } from "./der-codec.js";
import { AlgorithmIdentifier, Extension, GeneralName, Name, SubjectPublicKeyInfo, Time } from "@peculiar/asn1-x509";
import { AttributeTypeAndValue, BIGINT } from "./common.js";

/*
 * RFC 4211 (CRMF), an IMPLICIT TAGS module. A tag on a CHOICE (Name, Time, GeneralName, POPOPrivKey) is
 * explicit whatever the module default (X.680 §31.2.7), so those fields are declared without `implicit`.
 */

/** OptionalValidity ::= SEQUENCE { notBefore [0] Time OPTIONAL, notAfter [1] Time OPTIONAL }. */
export class OptionalValidity {
  @Prop({ type: Time, context: 0, optional: true }) notBefore?: Time;
  @Prop({ type: Time, context: 1, optional: true }) notAfter?: Time;
  constructor(p: Partial<OptionalValidity> = {}) {
    Object.assign(this, p);
  }
}

/** CertTemplate ::= SEQUENCE { version [0] … extensions [9] }, every field optional (RFC 4211 §5). */
export class CertTemplate {
  @Prop({ type: AsnPropTypes.Integer, context: 0, implicit: true, optional: true }) version?: number;
  @Prop({ type: AsnPropTypes.Integer, converter: AsnIntegerArrayBufferConverter, context: 1, implicit: true, optional: true }) serialNumber?: ArrayBuffer;
  @Prop({ type: AlgorithmIdentifier, context: 2, implicit: true, optional: true }) signingAlg?: AlgorithmIdentifier;
  @Prop({ type: Name, context: 3, optional: true }) issuer?: Name;
  @Prop({ type: OptionalValidity, context: 4, implicit: true, optional: true }) validity?: OptionalValidity;
  @Prop({ type: Name, context: 5, optional: true }) subject?: Name;
  @Prop({ type: SubjectPublicKeyInfo, context: 6, implicit: true, optional: true }) publicKey?: SubjectPublicKeyInfo;
  @Prop({ type: BitString, context: 7, implicit: true, optional: true }) issuerUID?: BitString;
  @Prop({ type: BitString, context: 8, implicit: true, optional: true }) subjectUID?: BitString;
  @Prop({ type: Extension, context: 9, implicit: true, repeated: "sequence", optional: true }) extensions?: Extension[];
  constructor(p: Partial<CertTemplate> = {}) {
    Object.assign(this, p);
  }
}

/** CertRequest ::= SEQUENCE { certReqId INTEGER, certTemplate CertTemplate, controls Controls OPTIONAL }. */
export class CertRequest {
  @Prop(BIGINT) certReqId = 0n;
  @Prop({ type: CertTemplate }) certTemplate = new CertTemplate();
  @Prop({ type: AttributeTypeAndValue, repeated: "sequence", optional: true }) controls?: AttributeTypeAndValue[];
  constructor(p: Partial<CertRequest> = {}) {
    Object.assign(this, p);
  }
}

/** PKMACValue ::= SEQUENCE { algId AlgorithmIdentifier, value BIT STRING }. */
export class PKMACValue {
  @Prop({ type: AlgorithmIdentifier }) algId = new AlgorithmIdentifier();
  @Prop({ type: BitString }) value = new BitString();
}

/** authInfo CHOICE { sender [0] GeneralName, publicKeyMAC PKMACValue }. */
@Type({ type: AsnTypeTypes.Choice })
export class POPOSigningKeyAuthInfo {
  @Prop({ type: GeneralName, context: 0 }) sender?: GeneralName;
  @Prop({ type: PKMACValue }) publicKeyMAC?: PKMACValue;
}

/** POPOSigningKeyInput ::= SEQUENCE { authInfo CHOICE {…}, publicKey SubjectPublicKeyInfo }. */
export class POPOSigningKeyInput {
  @Prop({ type: POPOSigningKeyAuthInfo }) authInfo = new POPOSigningKeyAuthInfo();
  @Prop({ type: SubjectPublicKeyInfo }) publicKey = new SubjectPublicKeyInfo();
}

/** POPOSigningKey ::= SEQUENCE { poposkInput [0] POPOSigningKeyInput OPTIONAL, algorithmIdentifier, signature BIT STRING }. */
export class POPOSigningKey {
  @Prop({ type: POPOSigningKeyInput, context: 0, implicit: true, optional: true }) poposkInput?: POPOSigningKeyInput;
  @Prop({ type: AlgorithmIdentifier }) algorithmIdentifier = new AlgorithmIdentifier();
  @Prop({ type: BitString }) signature = new BitString();
  constructor(p: Partial<POPOSigningKey> = {}) {
    Object.assign(this, p);
  }
}

/**
 * ProofOfPossession ::= CHOICE { raVerified [0] NULL, signature [1] POPOSigningKey,
 * keyEncipherment [2] POPOPrivKey, keyAgreement [3] POPOPrivKey }. The POPOPrivKey choices are kept
 * as their DER: the gateway does not offer indirect or encrypted-key proof of possession.
 */
@Type({ type: AsnTypeTypes.Choice })
export class ProofOfPossession {
  @Prop({ type: AsnPropTypes.Null, context: 0, implicit: true }) raVerified?: null;
  @Prop({ type: POPOSigningKey, context: 1, implicit: true }) signature?: POPOSigningKey;
  @Prop({ type: AsnPropTypes.Any, context: 2 }) keyEncipherment?: ArrayBuffer;
  @Prop({ type: AsnPropTypes.Any, context: 3 }) keyAgreement?: ArrayBuffer;
  constructor(p: Partial<ProofOfPossession> = {}) {
    Object.assign(this, p);
  }
}

/** CertReqMsg ::= SEQUENCE { certReq CertRequest, popo ProofOfPossession OPTIONAL, regInfo SEQUENCE OF AttributeTypeAndValue OPTIONAL }. */
export class CertReqMsg {
  /** `certReqRaw` (set by the parser) holds the CertRequest's DER as received: the POP signature covers it. */
  @Prop({ type: CertRequest, raw: true }) certReq = new CertRequest();
  certReqRaw?: Uint8Array;
  @Prop({ type: ProofOfPossession, optional: true }) popo?: ProofOfPossession;
  @Prop({ type: AttributeTypeAndValue, repeated: "sequence", optional: true }) regInfo?: AttributeTypeAndValue[];
  constructor(p: Partial<CertReqMsg> = {}) {
    Object.assign(this, p);
  }
}

/** CertReqMessages ::= SEQUENCE SIZE (1..MAX) OF CertReqMsg. */
@Type({ type: AsnTypeTypes.Sequence, itemType: CertReqMsg })
export class CertReqMessages extends AsnArray<CertReqMsg> {
  constructor(items?: CertReqMsg[]) {
    super(items);
    Object.setPrototypeOf(this, CertReqMessages.prototype);
  }
}

/** CertId ::= SEQUENCE { issuer GeneralName, serialNumber INTEGER } (revCerts of RevRepContent). */
export class CertId {
  @Prop({ type: GeneralName }) issuer = new GeneralName();
  @Prop({ type: AsnPropTypes.Integer, converter: AsnIntegerArrayBufferConverter }) serialNumber = new ArrayBuffer(0);
}

/** PBMParameter ::= SEQUENCE { salt OCTET STRING, owf AlgorithmIdentifier, iterationCount INTEGER, mac AlgorithmIdentifier } (§4.4). */
export class PBMParameter {
  @Prop({ type: AsnPropTypes.OctetString }) salt = new ArrayBuffer(0);
  @Prop({ type: AlgorithmIdentifier }) owf = new AlgorithmIdentifier();
  @Prop(BIGINT) iterationCount = 0n;
  @Prop({ type: AlgorithmIdentifier }) mac = new AlgorithmIdentifier();
  constructor(p: Partial<PBMParameter> = {}) {
    Object.assign(this, p);
  }
}
