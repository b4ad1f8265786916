import type { KeyObject } from "node:crypto";
import { GatewayError } from "../errors.js";
import type { KeySpec } from "../signers/signer.js";
import type { KeyRule } from "./profile.js";

const CURVES: Record<string, "P-256" | "P-384"> = { prime256v1: "P-256", secp384r1: "P-384" };

/** Describes a public key as a KeySpec; weak or unknown keys are refused here, before any profile rule. */
export function describeKey(key: KeyObject): KeySpec {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === "rsa" || key.asymmetricKeyType === "rsa-pss") {
    const bits = d.modulusLength ?? 0;
    if (bits < 2048) throw new GatewayError("RA_ERR_KEY_WEAK", `RSA key of ${bits} bits is below 2048`);
    if (bits % 8 !== 0) throw new GatewayError("RA_ERR_KEY_WEAK", `RSA modulus length ${bits} is not a multiple of 8`);
    const e = d.publicExponent ?? 0n;
    if (e < 3n || e % 2n === 0n) throw new GatewayError("RA_ERR_KEY_WEAK", "RSA public exponent is invalid");
    return { kind: "rsa", bits };
  }
  if (key.asymmetricKeyType === "ec") {
    const curve = d.namedCurve ? CURVES[d.namedCurve] : undefined;
    if (!curve) throw new GatewayError("RA_ERR_KEY_NOT_ALLOWED", `EC curve ${d.namedCurve ?? "(explicit parameters)"} is not allowed`);
    return { kind: "ec", curve };
  }
  throw new GatewayError("RA_ERR_KEY_NOT_ALLOWED", `key type ${key.asymmetricKeyType ?? "unknown"} is not allowed`);
}

export function checkKeyAllowed(spec: KeySpec, rules: KeyRule[]): void {
  const ok = rules.some((r) =>
    r.type === "ec" ? spec.kind === "ec" && r.curves.includes(spec.curve) : spec.kind === "rsa" && spec.bits >= r.minBits && spec.bits <= r.maxBits,
  );
  if (!ok) {
    const what = spec.kind === "ec" ? `EC ${spec.curve}` : `RSA ${spec.bits}`;
    throw new GatewayError("RA_ERR_KEY_NOT_ALLOWED", `${what} keys are not allowed by this profile`);
  }
}
