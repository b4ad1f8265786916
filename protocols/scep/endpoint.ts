import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pemToDer, type CertificateAuthority } from "../../src/ca/authority.js";
import { ensureSoftwareRa, openRaKey, type RaKey } from "../../src/ca/ra.js";
import { readSecret } from "../../src/config/load.js";
import { GatewayError } from "../../src/errors.js";
import type { Gateway } from "../../src/gateway.js";
import type { Profile } from "../../src/policy/profile.js";
import type { ScepEndpointConfig } from "./config.js";
import { desSelfTest } from "./des.js";

/** A configured SCEP endpoint, resolved at start: profile, issuing CA, RA key, challenge sources. */
export interface ScepEndpoint {
  cfg: ScepEndpointConfig;
  profile: Profile;
  ca: CertificateAuthority;
  ra: RaKey;
  /** SHA-256 of the static challenge (compared in constant time, never kept in clear). */
  staticChallenge?: Buffer;
  webhook?: { url: string; timeoutMs: number; hmacSecret?: string; bearerToken?: string };
  nextCaCert?: Uint8Array;
  /** What the endpoint accepts besides AES and SHA-2: SHA-1 and 3DES (`legacy`), single DES (`singleDes`, implies legacy). */
  algorithms: { legacy: boolean; singleDes: boolean };
}

export async function resolveEndpoints(gw: Gateway): Promise<Map<string, ScepEndpoint>> {
  const out = new Map<string, ScepEndpoint>();
  for (const cfg of gw.config.scep.endpoints) {
    const where = `scep.endpoints.${cfg.name}`;
    if (!gw.profiles.has(cfg.profile)) throw new GatewayError("RA_ERR_CONFIG", `${where}: no profile named ${cfg.profile}`);
    const profile = gw.profiles.get(cfg.profile);
    if (!profile.protocols.includes("scep")) throw new GatewayError("RA_ERR_CONFIG", `${where}: profile ${profile.name} is not offered over scep`);
    const ca = gw.cas.get(profile.issuer);
    let ra: RaKey;
    if (cfg.ra) {
      ra = await openRaKey(cfg.ra.certFile, cfg.ra.key, process.cwd(), `${where}.ra`);
    } else {
      const made = await ensureSoftwareRa(ca, join(gw.paths.data, "scep", cfg.name), `SCEP RA ${cfg.name}`);
      if (made.created) await gw.audit.record({ type: "scep.ra.created", actor: "system", target: cfg.name, data: { ca: ca.name, subject: made.ra.cert.subject.replace(/\n/g, ", ") } });
      ra = made.ra;
    }
    gw.metrics.signerCertificate(`scep-ra:${cfg.name}`, ra.cert.validTo);
    const ch = cfg.challenge;
    const hook = ch.webhook;
    if (cfg.allowSingleDes) {
      if (!desSelfTest()) throw new GatewayError("RA_ERR_CONFIG", `${where}.allowSingleDes: this runtime's OpenSSL cannot run single DES (Triple DES with one key)`);
      gw.log.warn({ endpoint: cfg.name }, `SCEP endpoint ${cfg.name} accepts single-DES (56-bit) encrypted requests (allowSingleDes); keep it for devices that speak nothing else`);
    }
    out.set(cfg.name, {
      cfg, profile, ca, ra, algorithms: { legacy: cfg.legacyAlgorithms || cfg.allowSingleDes, singleDes: cfg.allowSingleDes },
      staticChallenge: ch.static ? createHash("sha256").update(readSecret(ch.static, `${where}.challenge.static`)).digest() : undefined,
      webhook: hook && {
        url: hook.url, timeoutMs: hook.timeoutMs,
        hmacSecret: hook.hmacSecret ? readSecret(hook.hmacSecret, `${where}.challenge.webhook.hmacSecret`) : undefined,
        bearerToken: hook.bearerToken ? readSecret(hook.bearerToken, `${where}.challenge.webhook.bearerToken`) : undefined,
      },
      nextCaCert: cfg.nextCaCertFile ? pemToDer(readFileSync(cfg.nextCaCertFile, "utf8")) : undefined,
    });
  }
  return out;
}
