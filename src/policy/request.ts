import type { KeyObject } from "node:crypto";
import type { KeySpec } from "../signers/signer.js";

export type Protocol = "acme" | "est" | "scep" | "cmp" | "admin";

/** Who is asking, as the front-end authenticated them (e.g. `{kind: "acme-account", id: "42"}`). */
export interface RequesterIdentity {
  kind: string;
  id: string;
  attributes?: Record<string, string>;
}

export interface SanSet {
  dns: string[];
  ip: string[];
  email: string[];
  uri: string[];
  /** otherName permanentIdentifier (RFC 4043), as "value" or "value/assignerOID". */
  permanentId?: string[];
  /** otherName hardwareModuleName (RFC 4108), as "serial/hwTypeOID". */
  hardwareModule?: string[];
}

/** The name forms of a SanSet with the prefixes the inventory uses ("dns:x", "permanentId:y", …). */
export const SAN_KINDS = ["dns", "ip", "email", "uri", "permanentId", "hardwareModule"] as const;

/** What a front-end verified about the device that holds the key (ACME device-attest-01). */
export interface AttestedDevice {
  /** The attestation statement format ("apple", "tpm", "step"). */
  format: string;
  /** SPKI DER of the attested key: the only key the certificate may carry. */
  spki: Uint8Array;
  /** The identifier the attestation proved; the profile decides which otherName carries it. */
  identifier: { type: "permanent-identifier" | "hardware-module"; value: string };
  /** Facts read from the attestation (serial, UDID, firmware…), for audit and authorization hooks. */
  facts: Record<string, string>;
  /**
   * "attested": the attestation names this identifier. "delegated": it names no device and the profile
   * lets its authorization webhook decide the identity (only ever issued when that webhook allows).
   */
  identity: "attested" | "delegated";
}

/** The one protocol-neutral request every front-end produces. */
export interface EnrollmentRequest {
  requestId: string;
  protocol: Protocol;
  requester: RequesterIdentity;
  /** Profile asked for; the configured default when absent. */
  profile?: string;
  /** PKCS#10 DER. Exactly one of `csr` and `keyGen`. */
  csr?: Uint8Array;
  /**
   * A CRMF certificate template (CMP ir/cr/kur) whose proof of possession the front-end verified: the key,
   * the name the CN would come from and the names asked for. Exactly one of `csr`, `certTemplate`, `keyGen`.
   */
  certTemplate?: {
    spki: Uint8Array; commonName?: string; sans: SanSet; requestedExtensions: string[];
    /** `spki` as the front-end already imported it to verify the proof of possession: spares a second import. Not stored. */
    publicKey?: KeyObject;
  };
  /** Server-side key generation: the gateway makes the key and returns it once. */
  keyGen?: { spec: KeySpec; subject?: string; names: SanSet };
  /** Names the protocol already validated (e.g. ACME order identifiers); the CSR must match them exactly. */
  expectedNames?: SanSet;
  /** SPKI DER of keys the certificate must not carry (ACME: the account key). */
  forbiddenKeys?: Uint8Array[];
  validity?: { notBefore?: Date; notAfter?: Date };
  /** Serial (hex) of the certificate this one renews. */
  renewalOf?: string;
  /** Renewals: the subject the new certificate must carry (the old one's, RFC 4514 string); the CSR may not change it. */
  expectedSubject?: string;
  /** The front-end's retry key (EST: identity + CSR, SCEP: transactionID): a repeat gets the first answer. */
  lookupKey?: string;
  /** A verified device attestation: the CSR must carry its key, and the certificate names the device only. */
  attested?: AttestedDevice;
  /** Accept a CSR signed with SHA-1: set only by a SCEP endpoint with legacyAlgorithms (old devices); everyone else is refused. */
  allowSha1CsrSignature?: boolean;
}

export function emptySans(): SanSet {
  return { dns: [], ip: [], email: [], uri: [] };
}

export function sanCount(s: SanSet): number {
  return SAN_KINDS.reduce((n, k) => n + (s[k]?.length ?? 0), 0);
}

/** "kind:value" entries, the inventory's form. */
export function sanList(s: SanSet): string[] {
  return SAN_KINDS.flatMap((k) => (s[k] ?? []).map((v) => `${k}:${v}`));
}

/** The inventory's SAN list ("dns:x", "ip:y", …) back as a SanSet (renewals keep the old names). */
export function sansFromInventory(list: string[]): SanSet {
  const s = emptySans();
  for (const entry of list) {
    const i = entry.indexOf(":");
    const kind = entry.slice(0, i) as keyof SanSet;
    if ((SAN_KINDS as readonly string[]).includes(kind)) (s[kind] ??= []).push(entry.slice(i + 1));
  }
  return s;
}
