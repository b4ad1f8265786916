import { AsnArray, AsnIntegerBigIntConverter, AsnPropTypes, AsnTypeTypes, BitString } from "@peculiar/asn1-schema";
import { Prop, Type } from "./der-codec.js";
import "./x509.js";

/*
 * Types shared by the CMP (RFC 9480 / RFC 4210, EXPLICIT TAGS) and CRMF (RFC 4211, IMPLICIT TAGS) schemas.
 * Fields whose bytes matter as received (certificates, CSRs, opaque values) are ASN.1 ANY: an ArrayBuffer
 * of the whole TLV, never a re-encoding.
 */

/** PKIFreeText ::= SEQUENCE SIZE (1..MAX) OF UTF8String. */
@Type({ type: AsnTypeTypes.Sequence, itemType: AsnPropTypes.Utf8String })
export class PKIFreeText extends AsnArray<string> {
  constructor(items?: string[]) {
    super(items);
    Object.setPrototypeOf(this, PKIFreeText.prototype);
  }
}

/** InfoTypeAndValue ::= SEQUENCE { infoType OBJECT IDENTIFIER, infoValue ANY DEFINED BY infoType OPTIONAL }. */
export class InfoTypeAndValue {
  @Prop({ type: AsnPropTypes.ObjectIdentifier }) infoType = "";
  /** The value's DER; null when it is an ASN.1 NULL (e.g. implicitConfirm). */
  @Prop({ type: AsnPropTypes.Any, optional: true }) infoValue?: ArrayBuffer | null;
  constructor(p: Partial<InfoTypeAndValue> = {}) {
    Object.assign(this, p);
  }
}

/** PKIStatusInfo ::= SEQUENCE { status PKIStatus, statusString PKIFreeText OPTIONAL, failInfo PKIFailureInfo OPTIONAL }. */
export class PKIStatusInfo {
  @Prop({ type: AsnPropTypes.Integer }) status = 0;
  @Prop({ type: PKIFreeText, optional: true }) statusString?: PKIFreeText;
  /** Named-bit BIT STRING (bit 0 = badAlg …); `unusedBits` kept so it re-encodes as received. */
  @Prop({ type: BitString, optional: true }) failInfo?: BitString;
  constructor(p: Partial<PKIStatusInfo> = {}) {
    Object.assign(this, p);
  }
}

/** CRMF AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY DEFINED BY type } (controls, regInfo). */
export class AttributeTypeAndValue {
  @Prop({ type: AsnPropTypes.ObjectIdentifier }) type = "";
  @Prop({ type: AsnPropTypes.Any }) value: ArrayBuffer | null = null;
  constructor(p: Partial<AttributeTypeAndValue> = {}) {
    Object.assign(this, p);
  }
}

/** INTEGER as bigint: certReqId may be -1 (p10cr) or any size a client picks. */
export const BIGINT = { type: AsnPropTypes.Integer, converter: AsnIntegerBigIntConverter } as const;
