import type { KeyObject, X509Certificate } from "node:crypto";
import type { AttestedDevice } from "../../../src/policy/request.js";
import type { DeviceClaims } from "./identity.js";
import type { Statement } from "./statement.js";

export type DeviceIdentifier = AttestedDevice["identifier"];

/** What every format's verifier is given. */
export interface AttestationInput {
  attStmt: Statement;
  /** The challenge token (Apple binds this). */
  token: string;
  /** token "." thumbprint (TPM and step bind this). */
  keyAuthorization: string;
  /** The profile's trust anchors for this format. */
  anchors: X509Certificate[];
  now: number;
}

/** The attested key, the device identifiers the attestation carries, and what else it says about the device. */
export interface AttestationResult {
  publicKey: KeyObject;
  claims: DeviceClaims;
  facts: Record<string, string>;
}
