import { AsnConvert, AsnProp, AsnPropTypes } from "@peculiar/asn1-schema";
import { derSequence, derTlv } from "./der-encode.js";
import { oidDer } from "./der-values.js";

/**
 * The two otherName forms that name a piece of hardware, and their text forms in the gateway
 * (ACME identifier values, SanSet entries, inventory):
 * - permanentIdentifier (RFC 4043): "value" or "value/assignerOID"
 * - hardwareModuleName (RFC 4108): "serial/hwTypeOID" (the serial as UTF-8)
 */
export const ID_ON_PERMANENT_IDENTIFIER = "1.3.6.1.5.5.7.8.3";
export const ID_ON_HARDWARE_MODULE_NAME = "1.3.6.1.5.5.7.8.4";

const OID = /^[0-2](\.(0|[1-9]\d{0,9})){1,30}$/;
/** Printable, no control characters; the value goes into a UTF8String / OCTET STRING as is. */
const VALUE = /^[^\p{Cc}\p{Cs}/]{1,255}$/u;

export interface PermanentId {
  value: string;
  assigner?: string;
}
export interface HardwareModule {
  serial: string;
  hwType: string;
}

export function isOid(s: string): boolean {
  return OID.test(s);
}

/** "value[/assigner]" → parts; undefined when malformed (no value, bad OID, control characters). */
export function parsePermanentId(text: string): PermanentId | undefined {
  const slash = text.lastIndexOf("/");
  const [value, assigner] = slash >= 0 && isOid(text.slice(slash + 1)) ? [text.slice(0, slash), text.slice(slash + 1)] : [text, undefined];
  return VALUE.test(value) ? { value, ...(assigner ? { assigner } : {}) } : undefined;
}

/** "serial/hwType" (the hwType part is mandatory, draft-ietf-acme-device-attest -08 on). */
export function parseHardwareModule(text: string): HardwareModule | undefined {
  const slash = text.lastIndexOf("/");
  if (slash < 0) return undefined;
  const serial = text.slice(0, slash);
  const hwType = text.slice(slash + 1);
  return VALUE.test(serial) && isOid(hwType) ? { serial, hwType } : undefined;
}

/** True when `oid` is one of `arcs` or an OID under one of them. */
export function oidUnder(oid: string, arcs: string[]): boolean {
  return arcs.some((a) => oid === a || oid.startsWith(`${a}.`));
}

export const permanentIdText = (p: PermanentId) => (p.assigner ? `${p.value}/${p.assigner}` : p.value);
export const hardwareModuleText = (h: HardwareModule) => `${h.serial}/${h.hwType}`;

/** GeneralName otherName: [0] IMPLICIT SEQUENCE { type-id OID, [0] EXPLICIT value }. */
function otherNameDer(typeId: string, value: Uint8Array): Uint8Array {
  return derTlv(0xa0, oidDer(typeId), derTlv(0xa0, value));
}

export function permanentIdGeneralName(p: PermanentId): Uint8Array {
  return otherNameDer(ID_ON_PERMANENT_IDENTIFIER, derSequence(derTlv(0x0c, Buffer.from(p.value, "utf8")), ...(p.assigner ? [oidDer(p.assigner)] : [])));
}

export function hardwareModuleGeneralName(h: HardwareModule): Uint8Array {
  return otherNameDer(ID_ON_HARDWARE_MODULE_NAME, derSequence(oidDer(h.hwType), derTlv(0x04, Buffer.from(h.serial, "utf8"))));
}

/** PermanentIdentifier ::= SEQUENCE { identifierValue UTF8String OPTIONAL, assigner OBJECT IDENTIFIER OPTIONAL } */
class PermanentIdentifierAsn {
  @AsnProp({ type: AsnPropTypes.Utf8String, optional: true }) identifierValue?: string;
  @AsnProp({ type: AsnPropTypes.ObjectIdentifier, optional: true }) assigner?: string;
}

/** HardwareModuleName ::= SEQUENCE { hwType OBJECT IDENTIFIER, hwSerialNum OCTET STRING } */
class HardwareModuleNameAsn {
  @AsnProp({ type: AsnPropTypes.ObjectIdentifier }) hwType = "";
  @AsnProp({ type: AsnPropTypes.OctetString }) hwSerialNum = new ArrayBuffer(0);
}

/**
 * The text form of a device otherName (the `value` is the DER inside [0] EXPLICIT), or undefined
 * for any other otherName or a value the gateway could not write back identically.
 */
export function deviceNameFromOtherName(typeId: string, value: ArrayBuffer): { kind: "permanentId" | "hardwareModule"; text: string } | undefined {
  try {
    if (typeId === ID_ON_PERMANENT_IDENTIFIER) {
      const p = AsnConvert.parse(value, PermanentIdentifierAsn);
      const parsed = p.identifierValue !== undefined ? parsePermanentId(permanentIdText({ value: p.identifierValue, assigner: p.assigner })) : undefined;
      return parsed && parsed.value === p.identifierValue ? { kind: "permanentId", text: permanentIdText(parsed) } : undefined;
    }
    if (typeId === ID_ON_HARDWARE_MODULE_NAME) {
      const h = AsnConvert.parse(value, HardwareModuleNameAsn);
      const serial = new TextDecoder("utf-8", { fatal: true }).decode(h.hwSerialNum);
      const parsed = parseHardwareModule(`${serial}/${h.hwType}`);
      return parsed && parsed.serial === serial ? { kind: "hardwareModule", text: hardwareModuleText(parsed) } : undefined;
    }
  } catch {
    return undefined;
  }
  return undefined;
}
