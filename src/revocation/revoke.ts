import type { AuditLog } from "../audit/audit-log.js";
import type { CaRegistry } from "../ca/authority.js";
import { GatewayError } from "../errors.js";
import { normalizeSerial } from "../ca/serial.js";
import type { Store } from "../store/types.js";
import type { CrlPublisher } from "./crl.js";
import { parseReason, reasonName } from "./reasons.js";

export class RevocationService {
  constructor(
    private readonly store: Store,
    private readonly cas: CaRegistry,
    private readonly crls: CrlPublisher,
    private readonly audit: AuditLog,
  ) {}

  /** Revokes, audits, and regenerates the CA's CRL at once so CRL and OCSP agree immediately. */
  async revoke(serialHexText: string, reason: string | number | undefined, actor: string): Promise<{ serial: string; reason: string; revokedAt: string }> {
    const code = parseReason(reason);
    const serial = normalizeSerial(serialHexText);
    const rec = this.store.getCertificate(serial);
    if (!rec || rec.stage !== "issued") throw new GatewayError("RA_ERR_NOT_FOUND", `no issued certificate with serial ${serial}`);
    if (rec.revokedAt) throw new GatewayError("RA_ERR_ALREADY_REVOKED", `certificate ${serial} was revoked at ${rec.revokedAt}`);
    const at = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
    if (!this.store.revoke(serial, code, at)) throw new GatewayError("RA_ERR_ALREADY_REVOKED", `certificate ${serial} is already revoked`);
    this.audit.record({ type: "certificate.revoked", actor, target: serial, data: { reason: reasonName(code), ca: rec.caName, profile: rec.profile } });
    const ca = this.cas.find(rec.caName);
    if (ca) await this.crls.publish(ca);
    return { serial, reason: reasonName(code), revokedAt: at };
  }

  /**
   * Revokes many certificates with one reason (live enforcement): each audited, each CA's CRL
   * regenerated once at the end. Returns the serials this call revoked (already revoked ones are skipped).
   */
  async revokeMany(serials: string[], code: number, actor: string): Promise<string[]> {
    const at = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
    const done: string[] = [];
    const cas = new Set<string>();
    this.store.transaction(() => {
      for (const serial of serials) {
        const rec = this.store.getCertificate(serial);
        if (!rec || !this.store.revoke(serial, code, at)) continue;
        done.push(serial);
        cas.add(rec.caName);
        this.audit.record({ type: "certificate.revoked", actor, target: serial, data: { reason: reasonName(code), ca: rec.caName, profile: rec.profile } });
      }
    });
    await this.republish([...cas]);
    return done;
  }

  /** Regenerates the CRLs of the named CAs (after holds are released, or many revocations). */
  async republish(caNames: string[]): Promise<void> {
    for (const name of new Set(caNames)) {
      const ca = this.cas.find(name);
      if (ca) await this.crls.publish(ca);
    }
  }
}
