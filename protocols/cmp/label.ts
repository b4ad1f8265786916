import type { X509Certificate } from "node:crypto";
import type { CertificateAuthority } from "../../src/ca/authority.js";
import { readSecret } from "../../src/config/load.js";
import { GatewayError } from "../../src/errors.js";
import type { Gateway } from "../../src/gateway.js";
import type { Profile } from "../../src/policy/profile.js";
import { loadAnchors } from "../../src/ca/chain.js";
import type { CmpLabelConfig } from "./config.js";

/** A configured CMP label, resolved at start: profile, issuing CA, MAC secrets by senderKID, trust anchors. */
export interface CmpLabel {
  cfg: CmpLabelConfig;
  profile: Profile;
  ca: CertificateAuthority;
  macSecrets: Map<string, Uint8Array>;
  anchors: X509Certificate[];
}

export function resolveLabels(gw: Gateway): Map<string, CmpLabel> {
  const out = new Map<string, CmpLabel>();
  for (const cfg of gw.config.cmp.labels) {
    const where = `cmp.labels.${cfg.name}`;
    if (!gw.profiles.has(cfg.profile)) throw new GatewayError("RA_ERR_CONFIG", `${where}: no profile named ${cfg.profile}`);
    const profile = gw.profiles.get(cfg.profile);
    if (!profile.protocols.includes("cmp")) throw new GatewayError("RA_ERR_CONFIG", `${where}: profile ${profile.name} is not offered over cmp`);
    const macSecrets = new Map<string, Uint8Array>();
    for (const s of cfg.secrets) macSecrets.set(s.kid, new Uint8Array(Buffer.from(readSecret(s.secret, `${where}.secrets.${s.kid}`), "utf8")));
    out.set(cfg.name, { cfg, profile, ca: gw.cas.get(profile.issuer), macSecrets, anchors: loadAnchors(cfg.trustAnchors, `${where}.trustAnchors`) });
  }
  return out;
}
