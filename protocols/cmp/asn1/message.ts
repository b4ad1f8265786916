import { AsnPropTypes, AsnTypeTypes, BitString } from "@peculiar/asn1-schema";
import { Prop, Type } from "./der-codec.js";
import { AlgorithmIdentifier, GeneralName } from "@peculiar/asn1-x509";
import { InfoTypeAndValue, PKIFreeText } from "./common.js";
import {
  CertConfirmContent, CertRepMessage, ErrorMsgContent, GenMsgContent, PollRepContent, PollReqContent, RevRepContent, RevReqContent,
} from "./content.js";
import { CertReqMessages } from "./crmf.js";

/** PKIHeader (RFC 9480 §5.1.1); every tagged field is EXPLICIT. */
export class PKIHeader {
  /** cmp2000(2), or cmp2021(3) when RFC 9480 features are used. */
  @Prop({ type: AsnPropTypes.Integer }) pvno = 2;
  @Prop({ type: GeneralName }) sender = new GeneralName();
  @Prop({ type: GeneralName }) recipient = new GeneralName();
  /** The GeneralizedTime TLV as received: its text (fractions included) must re-encode unchanged. Read it with `messageTimeOf`. */
  @Prop({ type: AsnPropTypes.Any, context: 0, optional: true }) messageTime?: ArrayBuffer;
  @Prop({ type: AlgorithmIdentifier, context: 1, optional: true }) protectionAlg?: AlgorithmIdentifier;
  @Prop({ type: AsnPropTypes.OctetString, context: 2, optional: true }) senderKID?: ArrayBuffer;
  @Prop({ type: AsnPropTypes.OctetString, context: 3, optional: true }) recipKID?: ArrayBuffer;
  @Prop({ type: AsnPropTypes.OctetString, context: 4, optional: true }) transactionID?: ArrayBuffer;
  @Prop({ type: AsnPropTypes.OctetString, context: 5, optional: true }) senderNonce?: ArrayBuffer;
  @Prop({ type: AsnPropTypes.OctetString, context: 6, optional: true }) recipNonce?: ArrayBuffer;
  @Prop({ type: PKIFreeText, context: 7, optional: true }) freeText?: PKIFreeText;
  @Prop({ type: InfoTypeAndValue, context: 8, repeated: "sequence", optional: true }) generalInfo?: InfoTypeAndValue[];
  constructor(p: Partial<PKIHeader> = {}) {
    Object.assign(this, p);
  }
}

/**
 * PKIBody ::= CHOICE, all 27 alternatives so no valid message is refused as malformed; the ones the
 * gateway does not process (and p10cr, whose CSR must stay byte-exact) are kept as DER.
 */
@Type({ type: AsnTypeTypes.Choice })
export class PKIBody {
  @Prop({ type: CertReqMessages, context: 0 }) ir?: CertReqMessages;
  @Prop({ type: CertRepMessage, context: 1 }) ip?: CertRepMessage;
  @Prop({ type: CertReqMessages, context: 2 }) cr?: CertReqMessages;
  @Prop({ type: CertRepMessage, context: 3 }) cp?: CertRepMessage;
  /** CertificationRequest (PKCS #10) DER as received. */
  @Prop({ type: AsnPropTypes.Any, context: 4 }) p10cr?: ArrayBuffer;
  @Prop({ type: AsnPropTypes.Any, context: 5 }) popdecc?: ArrayBuffer;
  @Prop({ type: AsnPropTypes.Any, context: 6 }) popdecr?: ArrayBuffer;
  @Prop({ type: CertReqMessages, context: 7 }) kur?: CertReqMessages;
  @Prop({ type: CertRepMessage, context: 8 }) kup?: CertRepMessage;
  @Prop({ type: CertReqMessages, context: 9 }) krr?: CertReqMessages;
  @Prop({ type: AsnPropTypes.Any, context: 10 }) krp?: ArrayBuffer;
  @Prop({ type: RevReqContent, context: 11 }) rr?: RevReqContent;
  @Prop({ type: RevRepContent, context: 12 }) rp?: RevRepContent;
  @Prop({ type: CertReqMessages, context: 13 }) ccr?: CertReqMessages;
  @Prop({ type: CertRepMessage, context: 14 }) ccp?: CertRepMessage;
  @Prop({ type: AsnPropTypes.Any, context: 15 }) ckuann?: ArrayBuffer;
  @Prop({ type: AsnPropTypes.Any, context: 16 }) cann?: ArrayBuffer;
  @Prop({ type: AsnPropTypes.Any, context: 17 }) rann?: ArrayBuffer;
  @Prop({ type: AsnPropTypes.Any, context: 18 }) crlann?: ArrayBuffer;
  /** PKIConfirmContent ::= NULL. */
  @Prop({ type: AsnPropTypes.Null, context: 19 }) pkiconf?: null;
  @Prop({ type: AsnPropTypes.Any, context: 20 }) nested?: ArrayBuffer;
  @Prop({ type: GenMsgContent, context: 21 }) genm?: GenMsgContent;
  @Prop({ type: GenMsgContent, context: 22 }) genp?: GenMsgContent;
  @Prop({ type: ErrorMsgContent, context: 23 }) error?: ErrorMsgContent;
  @Prop({ type: CertConfirmContent, context: 24 }) certConf?: CertConfirmContent;
  @Prop({ type: PollReqContent, context: 25 }) pollReq?: PollReqContent;
  @Prop({ type: PollRepContent, context: 26 }) pollRep?: PollRepContent;
  constructor(p: Partial<PKIBody> = {}) {
    Object.assign(this, p);
  }
}

/** The name of the PKIBody alternative, in tag order. */
export const BODY_TYPES = [
  "ir", "ip", "cr", "cp", "p10cr", "popdecc", "popdecr", "kur", "kup", "krr", "krp", "rr", "rp", "ccr", "ccp",
  "ckuann", "cann", "rann", "crlann", "pkiconf", "nested", "genm", "genp", "error", "certConf", "pollReq", "pollRep",
] as const;
export type BodyType = (typeof BODY_TYPES)[number];

/** PKIMessage ::= SEQUENCE { header, body, protection [0] PKIProtection OPTIONAL, extraCerts [1] SEQUENCE SIZE (1..MAX) OF CMPCertificate OPTIONAL }. */
export class PKIMessage {
  @Prop({ type: PKIHeader }) header = new PKIHeader();
  @Prop({ type: PKIBody }) body = new PKIBody();
  @Prop({ type: BitString, context: 0, optional: true }) protection?: BitString;
  @Prop({ type: AsnPropTypes.Any, context: 1, repeated: "sequence", optional: true }) extraCerts?: ArrayBuffer[];
  constructor(p: Partial<PKIMessage> = {}) {
    Object.assign(this, p);
  }
}

/** ProtectedPart ::= SEQUENCE { header PKIHeader, body PKIBody }: what the protection covers. */
export class ProtectedPart {
  @Prop({ type: PKIHeader }) header = new PKIHeader();
  @Prop({ type: PKIBody }) body = new PKIBody();
}
