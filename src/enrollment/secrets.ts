import { createCipheriv, createDecipheriv, createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import type { AuditLog } from "../audit/audit-log.js";
import { GatewayError } from "../errors.js";
import type { ProfileSet } from "../policy/profile.js";
import type { EnrollmentSecretRecord, Store } from "../store/types.js";

export interface MintedSecret {
  id: string;
  /** Shown once; only its hash is stored. */
  secret: string;
  profile: string;
  subject?: string;
  protocols: string[];
  expiresAt: string;
}

/** The protocols a one-time secret can authenticate. */
const SECRET_PROTOCOLS = ["est", "scep", "cmp"] as const;

const hash = (s: string) => createHash("sha256").update(s).digest("hex");

/** One-time enrollment secrets for SCEP challenges, EST Basic auth and CMP shared-secret MAC. */
export class EnrollmentSecrets {
  /** `sealKey` (32 bytes, the data dir's `secrets.key`) lets CMP secrets be kept for MAC verification. */
  constructor(private readonly store: Store, private readonly profiles: ProfileSet, private readonly audit: AuditLog, private readonly sealKey?: Uint8Array) {}

  private seal(id: string, secret: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", this.sealKey!, iv).setAAD(Buffer.from(id));
    const body = Buffer.concat([c.update(secret, "utf8"), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), body]).toString("base64");
  }

  /**
   * The secret of a one-time CMP secret, for MAC verification: undefined when unknown, not for CMP, used,
   * expired or not sealed. The caller consumes it (`consume`) once the request is accepted.
   */
  /**
   * The MAC secret of a one-time secret, unsealed. `spentToo` also returns one already used or expired: the follow-up
   * messages of the CMP transaction it opened verify with it on any instance, as the first message did.
   */
  async macSecret(id: string, protocol: string, now = new Date(), spentToo = false): Promise<{ rec: EnrollmentSecretRecord; secret: Uint8Array } | undefined> {
    const rec = await this.store.getSecret(id);
    if (!rec?.sealed || !this.sealKey || !rec.protocols.includes(protocol)) return undefined;
    if (!spentToo && (rec.usedAt || rec.expiresAt <= now.toISOString())) return undefined;
    const raw = Buffer.from(rec.sealed, "base64");
    const d = createDecipheriv("aes-256-gcm", this.sealKey, raw.subarray(0, 12)).setAAD(Buffer.from(id));
    d.setAuthTag(raw.subarray(12, 28));
    return { rec, secret: new Uint8Array(Buffer.concat([d.update(raw.subarray(28)), d.final()])) };
  }

  async mint(opts: { profile: string; subject?: string; protocols?: string[]; ttlMinutes?: number }, actor: string): Promise<MintedSecret> {
    const profile = this.profiles.get(opts.profile);
    // A secret for a protocol its profile refuses could never be redeemed: refuse it when minted, not at enrollment.
    const offered = SECRET_PROTOCOLS.filter((p) => profile.protocols.includes(p));
    const unknown = (opts.protocols ?? []).filter((p) => !(SECRET_PROTOCOLS as readonly string[]).includes(p));
    if (unknown.length) throw new GatewayError("RA_ERR_MALFORMED", `one-time secrets are for ${SECRET_PROTOCOLS.join(", ")}; not ${unknown.join(", ")}`);
    const protocols = opts.protocols ? [...new Set(opts.protocols)] : offered;
    const refused = protocols.filter((p) => !(offered as string[]).includes(p));
    if (!protocols.length || refused.length) {
      // A bad request from an authenticated administrator (not a 401: the console would take it for a lost session).
      throw new GatewayError("RA_ERR_MALFORMED", `profile ${profile.name} is not offered over ${refused.join(", ") || SECRET_PROTOCOLS.join(", ")}`);
    }
    const ttl = Math.min(Math.max(opts.ttlMinutes ?? 60, 1), 7 * 24 * 60);
    const id = randomUUID();
    const secret = randomBytes(24).toString("base64url");
    const now = new Date();
    const rec: EnrollmentSecretRecord = {
      id, profile: opts.profile, subject: opts.subject, protocols, secretHash: hash(secret),
      createdAt: now.toISOString(), expiresAt: new Date(now.getTime() + ttl * 60_000).toISOString(),
    };
    if (rec.protocols.includes("cmp") && this.sealKey) rec.sealed = this.seal(id, secret);
    await this.store.insertSecret(rec);
    await this.audit.record({ type: "secret.created", actor, target: id, data: { profile: rec.profile, subject: rec.subject, protocols: rec.protocols, expiresAt: rec.expiresAt } });
    return { id, secret, profile: rec.profile, subject: rec.subject, protocols: rec.protocols, expiresAt: rec.expiresAt };
  }

  /**
   * Checks `secret` in constant time without consuming it: the record when the secret is right
   * and meant for `protocol` (used or expired ones included, so a front-end can answer a retry),
   * undefined otherwise.
   */
  async check(id: string, secret: string, protocol: string): Promise<EnrollmentSecretRecord | undefined> {
    const rec = await this.store.getSecret(id);
    const want = Buffer.from(rec?.secretHash ?? "0".repeat(64), "hex");
    const got = Buffer.from(hash(secret), "hex");
    return rec && timingSafeEqual(want, got) && rec.protocols.includes(protocol) ? rec : undefined;
  }

  /** A secret presented without its id (SCEP challengePassword), found by hash; undefined when unknown or not for `protocol`. */
  async findBySecret(secret: string, protocol: string): Promise<EnrollmentSecretRecord | undefined> {
    const rec = await this.store.findSecretByHash(hash(secret));
    return rec && rec.protocols.includes(protocol) ? rec : undefined;
  }

  /** Consumes a checked secret atomically: true once, false for a used, expired or concurrent redemption. */
  async consume(id: string, protocol: string): Promise<boolean> {
    const redeemed = await this.store.redeemSecret(id, new Date().toISOString());
    if (redeemed) await this.audit.record({ type: "secret.redeemed", actor: `secret:${id}`, target: id, data: { protocol, profile: redeemed.profile } });
    return redeemed !== undefined;
  }

  /** check + consume; every failure reads the same to the caller. */
  async redeem(id: string, secret: string, protocol: string): Promise<EnrollmentSecretRecord> {
    const rec = await this.check(id, secret, protocol);
    if (!rec || !(await this.consume(id, protocol))) throw new GatewayError("RA_ERR_UNAUTHORIZED", "enrollment secret not valid");
    return rec;
  }
}
