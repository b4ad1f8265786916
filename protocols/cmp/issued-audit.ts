import type { AuditInput, AuditLog } from "../../src/audit/audit-log.js";
import type { AuditEvent, Store } from "../../src/store/types.js";

/**
 * The cmp.request event of a certificate request that is answered with a certificate, recorded inside the
 * transaction that stores the certificate (from its `certificate.issued` event, as trackImplicitRenewals does)
 * instead of in a commit of its own after it: one commit fewer per issued certificate, and the answer's audit
 * record is durable exactly when the certificate is. Requests that end otherwise (rejected, waiting for
 * approval, failed) are audited by the handler as before.
 */
export class IssuedAudit {
  private readonly waiting = new Map<string, { event: (serial: string) => AuditInput; done: boolean }>();

  constructor(private readonly audit: AuditLog) {
    audit.subscribe((e: AuditEvent, tx: Store) => this.onEvent(e, tx));
  }

  /**
   * Runs `issue` (the enrollment of request `requestId`) with `event` ready to be recorded with the issued
   * certificate, given its serial; `audited` says whether it was.
   */
  async issuing<T>(requestId: string, event: (serial: string) => AuditInput, issue: () => Promise<T>): Promise<{ value: T; audited: boolean }> {
    const entry = { event, done: false };
    this.waiting.set(requestId, entry);
    try {
      const value = await issue();
      return { value, audited: entry.done };
    } finally {
      this.waiting.delete(requestId);
    }
  }

  private async onEvent(e: AuditEvent, tx: Store): Promise<void> {
    if (e.type !== "certificate.issued" || !e.target || typeof e.data.requestId !== "string") return;
    const entry = this.waiting.get(e.data.requestId);
    if (!entry) return;
    // Every run records: a group commit may roll a batch back and run its jobs again, and only the committed run counts.
    await this.audit.record(entry.event(e.target), tx);
    entry.done = true;
  }
}
