import type { KeyObject } from "node:crypto";
import { GatewayError } from "../errors.js";
import type { KeySpec, MlDsaLevel } from "../signers/signer.js";
import type { KeyRule } from "./profile.js";

const CURVES: Record<string, "P-256" | "P-384"> = { prime256v1: "P-256", secp384r1: "P-384" };
const ML_DSA_TYPES: Record<string, MlDsaLevel> = { "ml-dsa-44": 44, "ml-dsa-65": 65, "ml-dsa-87": 87 };

/** A key as the inventory, the console and the authorization hook name it: "EC P-256", "RSA 2048", "ML-DSA-65". */
export function keySpecText(k: KeySpec): string {
  return k.kind === "ec" ? `EC ${k.curve}` : k.kind === "rsa" ? `RSA ${k.bits}` : `ML-DSA-${k.level}`;
}

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
  const mlDsa = ML_DSA_TYPES[key.asymmetricKeyType ?? ""];
  if (mlDsa) return { kind: "ml-dsa", level: mlDsa };
  if (key.asymmetricKeyType === "ec") {
    const curve = d.namedCurve ? CURVES[d.namedCurve] : undefined;
    if (!curve) throw new GatewayError("RA_ERR_KEY_NOT_ALLOWED", `EC curve ${d.namedCurve ?? "(explicit parameters)"} is not allowed`);
    return { kind: "ec", curve };
  }
  throw new GatewayError("RA_ERR_KEY_NOT_ALLOWED", `key type ${key.asymmetricKeyType ?? "unknown"} is not allowed`);
}

export function checkKeyAllowed(spec: KeySpec, rules: KeyRule[]): void {
  const ok = rules.some((r) => {
    if (r.type === "ec") return spec.kind === "ec" && r.curves.includes(spec.curve);
    if (r.type === "ml-dsa") return spec.kind === "ml-dsa" && r.levels.includes(spec.level);
    return spec.kind === "rsa" && spec.bits >= r.minBits && spec.bits <= r.maxBits;
  });
  if (!ok) {
    throw new GatewayError("RA_ERR_KEY_NOT_ALLOWED", `${keySpecText(spec)} keys are not allowed by this profile (it allows ${rules.map(ruleText).join("; ")})`);
  }
}

function ruleText(r: KeyRule): string {
  return r.type === "ec" ? `EC ${r.curves.join(", ")}` : r.type === "rsa" ? `RSA ${r.minBits} to ${r.maxBits}` : `ML-DSA-${r.levels.join(", ML-DSA-")}`;
}
