import { AsnPropTypes as T, OctetString } from "@peculiar/asn1-schema";
import {
  AlgorithmIdentifier, AttributeTypeAndValue, AttributeValue, Extension, Extensions, GeneralName, Name, OtherName, RelativeDistinguishedName,
  SubjectPublicKeyInfo, Time,
} from "@peculiar/asn1-x509";
import { field, register } from "./der-codec.js";

/*
 * The @peculiar/asn1-x509 classes the CMP schemas use, registered with the fast codec as their decorators
 * declare them. GeneralName's x400Address and ediPartyName are left out (never used by CMP peers; peculiar
 * tags ediPartyName wrongly): a message carrying one is refused as malformed.
 */
register(AlgorithmIdentifier, "sequence", [field("algorithm", { type: T.ObjectIdentifier }), field("parameters", { type: T.Any, optional: true })]);
register(SubjectPublicKeyInfo, "sequence", [field("algorithm", { type: AlgorithmIdentifier }), field("subjectPublicKey", { type: T.BitString })]);
register(Extension, "sequence", [
  field("extnID", { type: T.ObjectIdentifier }),
  field("critical", { type: T.Boolean, defaultValue: false }),
  field("extnValue", { type: OctetString }),
]);
register(Extensions, "sequence", [], Extension);
register(Time, "choice", [field("utcTime", { type: T.UTCTime }), field("generalTime", { type: T.GeneralizedTime })]);
register(AttributeValue, "choice", [
  field("teletexString", { type: T.TeletexString }),
  field("printableString", { type: T.PrintableString }),
  field("universalString", { type: T.UniversalString }),
  field("utf8String", { type: T.Utf8String }),
  field("bmpString", { type: T.BmpString }),
  field("ia5String", { type: T.IA5String }),
  field("anyValue", { type: T.Any }),
]);
register(AttributeTypeAndValue, "sequence", [field("type", { type: T.ObjectIdentifier }), field("value", { type: AttributeValue })]);
register(RelativeDistinguishedName, "set", [], AttributeTypeAndValue);
register(Name, "sequence", [], RelativeDistinguishedName);
register(OtherName, "sequence", [field("typeId", { type: T.ObjectIdentifier }), field("value", { type: T.Any, context: 0 })]);
register(GeneralName, "choice", [
  field("otherName", { type: OtherName, context: 0, implicit: true }),
  field("rfc822Name", { type: T.IA5String, context: 1, implicit: true }),
  field("dNSName", { type: T.IA5String, context: 2, implicit: true }),
  field("directoryName", { type: Name, context: 4 }),
  field("uniformResourceIdentifier", { type: T.IA5String, context: 6, implicit: true }),
  field("iPAddress", { type: T.OctetString, context: 7, implicit: true, ip: true }),
  field("registeredID", { type: T.ObjectIdentifier, context: 8, implicit: true }),
]);
