import type { AuditLog } from "../audit/audit-log.js";
import type { CaRegistry } from "../ca/authority.js";
import { GatewayError } from "../errors.js";
import { normalizeSerial } from "../ca/serial.js";
import type { Store } from "../store/types.js";
import type { CrlPublisher } from "./crl.js";
import { parseReason, reasonName } from "./reasons.js";

export class RevocationService {
  /** Revocations this process committed, by reason name (gateway_revocations_total reads it when scraped). */
  readonly revoked = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly cas: CaRegistry,
    private readonly crls: CrlPublisher,
    private readonly audit: AuditLog,
  ) {}

  /**
   * Revokes and audits in one transaction that also marks the CA's CRL dirty, then returns: OCSP
   * answers "revoked" from the store at once; the CRL rebuild is scheduled (crl.rebuildDelaySeconds)
   * and shared by every revocation of a burst, so a revocation never waits for a CRL build.
   */
  async revoke(serialHexText: string, reason: string | number | undefined, actor: string): Promise<{ serial: string; reason: string; revokedAt: string }> {
    const code = parseReason(reason);
    const serial = normalizeSerial(serialHexText);
    const rec = await this.store.getCertificate(serial);
    if (!rec || rec.stage !== "issued") throw new GatewayError("RA_ERR_NOT_FOUND", `no issued certificate with serial ${serial}`);
    // Archived means expired longer than the retention period: no CRL or OCSP answer covers it any more.
    if (rec.archived) throw new GatewayError("RA_ERR_NOT_FOUND", `certificate ${serial} expired at ${rec.notAfter} and is archived; there is nothing left to revoke`);
    if (rec.revokedAt) throw new GatewayError("RA_ERR_ALREADY_REVOKED", `certificate ${serial} was revoked at ${rec.revokedAt}`);
    const at = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
    const done = await this.store.transaction(async (tx) => {
      if (!(await tx.revoke(serial, code, at))) return false;
      await tx.crl.markDirty(rec.caName, at);
      await this.audit.record({ type: "certificate.revoked", actor, target: serial, data: { reason: reasonName(code), ca: rec.caName, profile: rec.profile } }, tx);
      return true;
    });
    if (!done) throw new GatewayError("RA_ERR_ALREADY_REVOKED", `certificate ${serial} is already revoked`);
    this.count(reasonName(code), 1);
    this.crls.schedule(rec.caName);
    return { serial, reason: reasonName(code), revokedAt: at };
  }

  /**
   * Revokes many certificates with one reason (live enforcement): each audited, each CA marked dirty
   * in the same transaction and its CRL rebuild scheduled once. Returns the serials this call revoked
   * (already revoked ones are skipped).
   */
  async revokeMany(serials: string[], code: number, actor: string): Promise<string[]> {
    const at = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
    const done: string[] = [];
    const cas = new Set<string>();
    await this.store.transaction(async (tx) => {
      for (const serial of serials) {
        const rec = await tx.getCertificate(serial);
        if (!rec || !(await tx.revoke(serial, code, at))) continue;
        done.push(serial);
        if (!cas.has(rec.caName)) await tx.crl.markDirty(rec.caName, at);
        cas.add(rec.caName);
        await this.audit.record({ type: "certificate.revoked", actor, target: serial, data: { reason: reasonName(code), ca: rec.caName, profile: rec.profile } }, tx);
      }
    });
    if (done.length) this.count(reasonName(code), done.length);
    for (const name of cas) this.crls.schedule(name);
    return done;
  }

  private count(reason: string, n: number): void {
    this.revoked.set(reason, (this.revoked.get(reason) ?? 0) + n);
  }

  /**
   * Releases holds (certificateHold → valid again): each release, its audit event and the CA's dirty
   * marker in one transaction, so a crash cannot leave a released certificate on the next CRL. Returns
   * the released certificates.
   */
  async releaseHolds(certs: Array<{ serial: string; caName: string; profile: string }>, actor: string): Promise<string[]> {
    const at = new Date().toISOString();
    const released: string[] = [];
    const cas = new Set<string>();
    await this.store.transaction(async (tx) => {
      for (const c of certs) {
        if (!(await tx.releaseHold(c.serial))) continue;
        released.push(c.serial);
        if (!cas.has(c.caName)) await tx.crl.markDirty(c.caName, at);
        cas.add(c.caName);
        await this.audit.record({ type: "certificate.hold_released", actor, target: c.serial, data: { ca: c.caName, profile: c.profile } }, tx);
      }
    });
    for (const name of cas) if (this.cas.find(name)) this.crls.schedule(name);
    return released;
  }

  /** Marks the named CAs' CRLs dirty and schedules their rebuild (after holds are released, or many revocations). */
  async republish(caNames: string[]): Promise<void> {
    const names = [...new Set(caNames)].filter((n) => this.cas.find(n));
    const at = new Date().toISOString();
    await this.store.transaction(async (tx) => {
      for (const name of names) await tx.crl.markDirty(name, at);
    });
    for (const name of names) this.crls.schedule(name);
  }
}
