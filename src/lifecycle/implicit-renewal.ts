import type { AuditLog } from "../audit/audit-log.js";
import type { AuditEvent, Store } from "../store/types.js";

/**
 * A client that renews without saying so (an ACME client without ARI, a script re-enrolling with the
 * same names) still renews: a new certificate for the same requester, profile and names replaces the
 * newest valid one that nobody replaced yet. Runs inside the issuance transaction, from the
 * `certificate.issued` event alone (its actor is the requester as "kind:id"). The predecessor is one
 * index search on (requester, profile, names key, notAfter): the cost does not grow with how many
 * certificates the requester holds, and a requester with many devices finds it among all of them.
 * Reads and writes go through the event's transaction (`tx`).
 */
export function trackImplicitRenewals(audit: AuditLog): void {
  audit.subscribe(async (e: AuditEvent, tx: Store) => {
    if (e.type !== "certificate.issued" || e.data.renewalOf || !e.target) return;
    const { profile, sans, notAfter } = e.data as { profile?: string; sans?: string[]; notAfter?: string };
    const colon = e.actor.indexOf(":");
    if (!profile || !sans?.length || !notAfter || colon < 0) return;
    const requester = { kind: e.actor.slice(0, colon), id: e.actor.slice(colon + 1) };
    const previous = await tx.replaceable(requester, profile, sans, notAfter, e.ts, e.target);
    if (!previous) return;
    await tx.markReplaced(previous, e.target);
    await audit.record({ type: "certificate.replaced", actor: e.actor, target: previous, data: { by: e.target, implicit: true } }, tx);
  });
}
