import { createHash, type X509Certificate } from "node:crypto";
import type { CertificateAuthority } from "../../src/ca/authority.js";
import { readSecret } from "../../src/config/load.js";
import { GatewayError } from "../../src/errors.js";
import type { Gateway } from "../../src/gateway.js";
import type { Profile } from "../../src/policy/profile.js";
import { loadAnchors } from "./client-cert.js";
import type { EstLabelConfig } from "./config.js";

/** A configured EST label, resolved once at start: its profile, CA, users and trust anchors. */
export interface EstLabel {
  cfg: EstLabelConfig;
  profile: Profile;
  ca: CertificateAuthority;
  /** Basic users: name → SHA-256 of the password (compared in constant time, never kept in clear). */
  users: Map<string, Buffer>;
  anchors: X509Certificate[];
}

export function resolveLabels(gw: Gateway): Map<string, EstLabel> {
  const out = new Map<string, EstLabel>();
  for (const cfg of gw.config.est.labels) {
    const where = `est.labels.${cfg.name}`;
    if (!gw.profiles.has(cfg.profile)) throw new GatewayError("RA_ERR_CONFIG", `${where}: no profile named ${cfg.profile}`);
    const profile = gw.profiles.get(cfg.profile);
    if (!profile.protocols.includes("est")) throw new GatewayError("RA_ERR_CONFIG", `${where}: profile ${profile.name} is not offered over est`);
    const users = new Map<string, Buffer>();
    for (const u of cfg.auth.users) users.set(u.name, createHash("sha256").update(readSecret(u.password, `${where}.auth.users.${u.name}`)).digest());
    out.set(cfg.name, { cfg, profile, ca: gw.cas.get(profile.issuer), users, anchors: loadAnchors(cfg.auth.trustAnchors, `${where}.auth.trustAnchors`) });
  }
  return out;
}
