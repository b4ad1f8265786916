import { AsnArray, AsnPropTypes, AsnTypeTypes } from "@peculiar/asn1-schema";
import { Prop, Type } from "./der-codec.js";
import { AlgorithmIdentifier, Extension } from "@peculiar/asn1-x509";
import { BIGINT, InfoTypeAndValue, PKIFreeText, PKIStatusInfo } from "./common.js";
import { CertId, CertTemplate } from "./crmf.js";

/*
 * Body contents of RFC 9480 / RFC 4210 (EXPLICIT TAGS). Certificates and CRLs are ASN.1 ANY (their DER as
 * received or as issued), so no re-encoding ever touches signed bytes.
 */

/** CertOrEncCert ::= CHOICE { certificate [0] CMPCertificate, encryptedCert [1] EncryptedKey }. */
@Type({ type: AsnTypeTypes.Choice })
export class CertOrEncCert {
  @Prop({ type: AsnPropTypes.Any, context: 0 }) certificate?: ArrayBuffer;
  @Prop({ type: AsnPropTypes.Any, context: 1 }) encryptedCert?: ArrayBuffer;
  constructor(p: Partial<CertOrEncCert> = {}) {
    Object.assign(this, p);
  }
}

/** CertifiedKeyPair ::= SEQUENCE { certOrEncCert, privateKey [0] EncryptedKey OPTIONAL, publicationInfo [1] PKIPublicationInfo OPTIONAL }. */
export class CertifiedKeyPair {
  @Prop({ type: CertOrEncCert }) certOrEncCert = new CertOrEncCert();
  @Prop({ type: AsnPropTypes.Any, context: 0, optional: true }) privateKey?: ArrayBuffer;
  @Prop({ type: AsnPropTypes.Any, context: 1, optional: true }) publicationInfo?: ArrayBuffer;
  constructor(p: Partial<CertifiedKeyPair> = {}) {
    Object.assign(this, p);
  }
}

/** CertResponse ::= SEQUENCE { certReqId INTEGER, status PKIStatusInfo, certifiedKeyPair OPTIONAL, rspInfo OCTET STRING OPTIONAL }. */
export class CertResponse {
  @Prop(BIGINT) certReqId = 0n;
  @Prop({ type: PKIStatusInfo }) status = new PKIStatusInfo();
  @Prop({ type: CertifiedKeyPair, optional: true }) certifiedKeyPair?: CertifiedKeyPair;
  @Prop({ type: AsnPropTypes.OctetString, optional: true }) rspInfo?: ArrayBuffer;
  constructor(p: Partial<CertResponse> = {}) {
    Object.assign(this, p);
  }
}

/** CertRepMessage ::= SEQUENCE { caPubs [1] SEQUENCE SIZE (1..MAX) OF CMPCertificate OPTIONAL, response SEQUENCE OF CertResponse }. */
export class CertRepMessage {
  @Prop({ type: AsnPropTypes.Any, context: 1, repeated: "sequence", optional: true }) caPubs?: ArrayBuffer[];
  @Prop({ type: CertResponse, repeated: "sequence" }) response: CertResponse[] = [];
  constructor(p: Partial<CertRepMessage> = {}) {
    Object.assign(this, p);
  }
}

/** RevDetails ::= SEQUENCE { certDetails CertTemplate, crlEntryDetails Extensions OPTIONAL }. */
export class RevDetails {
  @Prop({ type: CertTemplate }) certDetails = new CertTemplate();
  @Prop({ type: Extension, repeated: "sequence", optional: true }) crlEntryDetails?: Extension[];
  constructor(p: Partial<RevDetails> = {}) {
    Object.assign(this, p);
  }
}

@Type({ type: AsnTypeTypes.Sequence, itemType: RevDetails })
export class RevReqContent extends AsnArray<RevDetails> {
  constructor(items?: RevDetails[]) {
    super(items);
    Object.setPrototypeOf(this, RevReqContent.prototype);
  }
}

/** RevRepContent ::= SEQUENCE { status SEQUENCE OF PKIStatusInfo, revCerts [0] SEQUENCE OF CertId OPTIONAL, crls [1] SEQUENCE OF CertificateList OPTIONAL }. */
export class RevRepContent {
  @Prop({ type: PKIStatusInfo, repeated: "sequence" }) status: PKIStatusInfo[] = [];
  @Prop({ type: CertId, context: 0, repeated: "sequence", optional: true }) revCerts?: CertId[];
  @Prop({ type: AsnPropTypes.Any, context: 1, repeated: "sequence", optional: true }) crls?: ArrayBuffer[];
  constructor(p: Partial<RevRepContent> = {}) {
    Object.assign(this, p);
  }
}

/** CertStatus ::= SEQUENCE { certHash OCTET STRING, certReqId INTEGER, statusInfo PKIStatusInfo OPTIONAL, hashAlg [0] AlgorithmIdentifier OPTIONAL (RFC 9480) }. */
export class CertStatus {
  @Prop({ type: AsnPropTypes.OctetString }) certHash = new ArrayBuffer(0);
  @Prop(BIGINT) certReqId = 0n;
  @Prop({ type: PKIStatusInfo, optional: true }) statusInfo?: PKIStatusInfo;
  @Prop({ type: AlgorithmIdentifier, context: 0, optional: true }) hashAlg?: AlgorithmIdentifier;
  constructor(p: Partial<CertStatus> = {}) {
    Object.assign(this, p);
  }
}

@Type({ type: AsnTypeTypes.Sequence, itemType: CertStatus })
export class CertConfirmContent extends AsnArray<CertStatus> {
  constructor(items?: CertStatus[]) {
    super(items);
    Object.setPrototypeOf(this, CertConfirmContent.prototype);
  }
}

/** PollReqContent ::= SEQUENCE OF SEQUENCE { certReqId INTEGER }. */
export class PollReq {
  @Prop(BIGINT) certReqId = 0n;
  constructor(p: Partial<PollReq> = {}) {
    Object.assign(this, p);
  }
}

@Type({ type: AsnTypeTypes.Sequence, itemType: PollReq })
export class PollReqContent extends AsnArray<PollReq> {
  constructor(items?: PollReq[]) {
    super(items);
    Object.setPrototypeOf(this, PollReqContent.prototype);
  }
}

/** PollRepContent ::= SEQUENCE OF SEQUENCE { certReqId INTEGER, checkAfter INTEGER, reason PKIFreeText OPTIONAL }. */
export class PollRep {
  @Prop(BIGINT) certReqId = 0n;
  @Prop(BIGINT) checkAfter = 0n;
  @Prop({ type: PKIFreeText, optional: true }) reason?: PKIFreeText;
  constructor(p: Partial<PollRep> = {}) {
    Object.assign(this, p);
  }
}

@Type({ type: AsnTypeTypes.Sequence, itemType: PollRep })
export class PollRepContent extends AsnArray<PollRep> {
  constructor(items?: PollRep[]) {
    super(items);
    Object.setPrototypeOf(this, PollRepContent.prototype);
  }
}

/** GenMsgContent and GenRepContent ::= SEQUENCE OF InfoTypeAndValue. */
@Type({ type: AsnTypeTypes.Sequence, itemType: InfoTypeAndValue })
export class GenMsgContent extends AsnArray<InfoTypeAndValue> {
  constructor(items?: InfoTypeAndValue[]) {
    super(items);
    Object.setPrototypeOf(this, GenMsgContent.prototype);
  }
}

/** ErrorMsgContent ::= SEQUENCE { pKIStatusInfo PKIStatusInfo, errorCode INTEGER OPTIONAL, errorDetails PKIFreeText OPTIONAL }. */
export class ErrorMsgContent {
  @Prop({ type: PKIStatusInfo }) pKIStatusInfo = new PKIStatusInfo();
  @Prop({ ...BIGINT, optional: true }) errorCode?: bigint;
  @Prop({ type: PKIFreeText, optional: true }) errorDetails?: PKIFreeText;
  constructor(p: Partial<ErrorMsgContent> = {}) {
    Object.assign(this, p);
  }
}

/** GenRepContent has the same shape as GenMsgContent. */
export { GenMsgContent as GenRepContent };
