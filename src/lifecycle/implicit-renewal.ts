import type { AuditLog } from "../audit/audit-log.js";
import type { AuditEvent, Store } from "../store/types.js";

/**
 * A client that renews without saying so (an ACME client without ARI, a script re-enrolling with the
 * same names) still renews: a new certificate for the same requester, profile and names replaces the
 * newest valid one that nobody replaced yet. Runs inside the issuance transaction.
 */
export function trackImplicitRenewals(store: Store, audit: AuditLog): void {
  audit.subscribe((e: AuditEvent) => {
    if (e.type !== "certificate.issued" || e.data.renewalOf || !e.target) return;
    const fresh = store.getCertificate(e.target);
    if (!fresh) return;
    const names = [...fresh.sans].sort().join("\n");
    const previous = store
      .findCertificates({ requester: `${fresh.requesterKind}:${fresh.requesterId}`, profile: fresh.profile, status: "valid", limit: 50 })
      .find((c) => c.serial !== fresh.serial && !c.replacedBy && c.notAfter <= fresh.notAfter && [...c.sans].sort().join("\n") === names);
    if (!previous || !names) return;
    store.markReplaced(previous.serial, fresh.serial);
    audit.record({ type: "certificate.replaced", actor: e.actor, target: previous.serial, data: { by: fresh.serial, implicit: true } });
  });
}
