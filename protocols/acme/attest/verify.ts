import { createHash, type X509Certificate } from "node:crypto";
import { loadAnchors } from "../../../src/ca/chain.js";
import type { AttestationFormat, Profile } from "../../../src/policy/profile.js";
import type { Store } from "../../../src/store/types.js";
import { verifyApple } from "./apple.js";
import { proveIdentifier, type IdentityProof } from "./identity.js";
import { attestationFailure, decodeAttestationObject } from "./statement.js";
import { verifyStep } from "./step.js";
import { verifyTpm } from "./tpm.js";
import type { AttestationInput, AttestationResult, DeviceIdentifier } from "./types.js";

const VERIFIERS: Record<AttestationFormat, (i: AttestationInput) => AttestationResult> = { apple: verifyApple, tpm: verifyTpm, step: verifyStep };

export interface VerifiedAttestation {
  format: AttestationFormat;
  /** SPKI DER of the attested key. */
  spki: Uint8Array;
  facts: Record<string, string>;
  /** "attested" when the attestation names the order's device; "delegated" when it names none and the profile leaves the identity to its authorization webhook. */
  identity: IdentityProof;
}

export interface ChallengeAnswer {
  /** The client's `attObj` (base64url CBOR). */
  attObj: unknown;
  token: string;
  keyAuthorization: string;
  identifier: DeviceIdentifier;
}

/**
 * device-attest-01: decodes the attestation object, runs the verifier of its format with the profile's
 * trust anchors, checks that it proves the order's identifier, and records the object as used, so the
 * same attestation never passes twice.
 * Anchors are read once at start, so a missing root file stops the gateway instead of failing devices.
 */
export class DeviceAttestationVerifier {
  private readonly anchors = new Map<string, X509Certificate[]>();

  constructor(profiles: Profile[], private readonly store: Store) {
    for (const p of profiles) {
      for (const f of p.attestation?.formats ?? []) this.anchors.set(`${p.name}\u0000${f}`, loadAnchors(p.attestation!.roots[f]!, `profile ${p.name} attestation roots (${f})`));
    }
  }

  async verify(profile: Profile, answer: ChallengeAnswer, now = Date.now()): Promise<VerifiedAttestation> {
    const { fmt, attStmt } = decodeAttestationObject(answer.attObj);
    if (!(fmt in VERIFIERS)) throw attestationFailure(fmt, "format", `attestation format ${JSON.stringify(fmt)} is not supported (apple, tpm, step are)`);
    const format = fmt as AttestationFormat;
    const anchors = this.anchors.get(`${profile.name}\u0000${format}`);
    if (!anchors) throw attestationFailure(format, "format", `profile ${profile.name} does not accept ${format} attestations`);
    const res = VERIFIERS[format]({ attStmt, token: answer.token, keyAuthorization: answer.keyAuthorization, anchors, now });
    const identity = proveIdentifier(format, answer.identifier, res.claims, profile);
    const digest = createHash("sha256").update(Buffer.from(String(answer.attObj), "base64url")).digest("hex");
    if (!(await this.store.markChallengeUsed(digest, "acme-attestation", new Date(now).toISOString()))) throw attestationFailure(format, "replay", "this attestation was already used");
    return { format, spki: new Uint8Array(res.publicKey.export({ type: "spki", format: "der" })), facts: res.facts, identity };
  }
}
