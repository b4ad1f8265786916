import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { AuditLog } from "../../src/audit/audit-log.js";
import { GatewayError } from "../../src/errors.js";
import type { ProfileSet } from "../../src/policy/profile.js";
import type { AcmeEabKeyRecord, AcmeStore } from "../../src/store/acme-types.js";
import { importAccountJwk } from "./jwk.js";

const HASH: Record<string, string> = { HS256: "sha256", HS384: "sha384", HS512: "sha512" };

export interface NewEabKey {
  profiles: string[];
  nameSuffixes?: string[];
  endpoint?: string;
  ttlHours?: number;
  createdBy: string;
}

/** External account binding keys (RFC 8555 §7.3.4): minted by operators, each bound to profiles and name rules. */
export class EabKeys {
  constructor(private readonly store: AcmeStore, private readonly profiles: ProfileSet, private readonly audit: AuditLog) {}

  /** Returns the MAC key once; it is stored for verification but never shown again. */
  async create(k: NewEabKey): Promise<{ kid: string; hmacKey: string; record: AcmeEabKeyRecord }> {
    if (!k.profiles.length) throw new GatewayError("RA_ERR_MALFORMED", "an EAB key needs at least one profile");
    for (const p of k.profiles) {
      if (!this.profiles.get(p).protocols.includes("acme")) throw new GatewayError("RA_ERR_PROFILE_NOT_ALLOWED", `profile ${p} is not offered over ACME`);
    }
    const now = new Date();
    const record: AcmeEabKeyRecord = {
      id: `eab_${randomBytes(12).toString("base64url")}`,
      hmacKey: randomBytes(32).toString("base64url"),
      endpoint: k.endpoint,
      profiles: k.profiles,
      nameSuffixes: (k.nameSuffixes ?? []).map((s) => s.toLowerCase().replace(/^\.+/, "")),
      createdBy: k.createdBy,
      createdAt: now.toISOString(),
      expiresAt: k.ttlHours ? new Date(now.getTime() + k.ttlHours * 3_600_000).toISOString() : undefined,
    };
    await this.store.insertEabKey(record);
    await this.audit.record({ type: "acme.eab.created", actor: k.createdBy, target: record.id, data: { profiles: record.profiles, nameSuffixes: record.nameSuffixes, endpoint: record.endpoint, expiresAt: record.expiresAt } });
    return { kid: record.id, hmacKey: record.hmacKey, record };
  }

  /**
   * Verifies the binding inside newAccount: HMAC JWS over the account key, `url` equal to
   * newAccount's, key unused, unexpired and for this endpoint. Binding happens in the caller's transaction.
   */
  async verify(binding: unknown, accountThumbprint: string, newAccountUrl: string, endpoint: string): Promise<AcmeEabKeyRecord> {
    const bad = (why: string) => new GatewayError("RA_ERR_EAB_INVALID", `externalAccountBinding ${why}`);
    if (!binding || typeof binding !== "object") throw bad("must be a flattened JWS object");
    const b = binding as Record<string, unknown>;
    if (typeof b.protected !== "string" || typeof b.payload !== "string" || typeof b.signature !== "string" || Object.keys(b).length !== 3) {
      throw bad("must be a flattened JWS with protected, payload and signature only");
    }
    let header: Record<string, unknown>;
    let inner: unknown;
    try {
      header = JSON.parse(Buffer.from(b.protected, "base64url").toString("utf8"));
      inner = JSON.parse(Buffer.from(b.payload, "base64url").toString("utf8"));
    } catch {
      throw bad("is not valid base64url JSON");
    }
    const hash = HASH[String(header.alg)];
    if (!hash) throw new GatewayError("RA_ERR_BAD_SIGNATURE_ALG", "externalAccountBinding must use HS256, HS384 or HS512", undefined, { algorithms: Object.keys(HASH) });
    if ("nonce" in header) throw bad("must not carry a nonce");
    if (header.url !== newAccountUrl) throw bad("url must equal the newAccount URL");
    if (typeof header.kid !== "string") throw bad("has no kid");
    if (importAccountJwk(inner).thumbprint !== accountThumbprint) throw bad("payload is not the account key");
    const rec = await this.store.getEabKey(header.kid);
    // Unknown kid and wrong MAC get the same answer, so kids cannot be probed.
    const key = Buffer.from(rec?.hmacKey ?? randomBytes(32).toString("base64url"), "base64url");
    const mac = createHmac(hash, key).update(`${b.protected}.${b.payload}`).digest();
    const sig = Buffer.from(b.signature, "base64url");
    const macOk = sig.length === mac.length && timingSafeEqual(sig, mac);
    if (!rec || !macOk) throw bad("does not verify");
    if (rec.accountId) throw bad("key was already used");
    if (rec.expiresAt && rec.expiresAt <= new Date().toISOString()) throw bad("key has expired");
    if (rec.endpoint && rec.endpoint !== endpoint) throw bad("key is for another ACME endpoint");
    return rec;
  }
}
