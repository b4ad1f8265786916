import { createHash } from "node:crypto";
import { canonicalJson, eventHash, type AuditLog, type ChainVerdict } from "../audit/audit-log.js";
import { GatewayError } from "../errors.js";
import type { AuditEvent, Store } from "../store/types.js";

const PAGE = 1000;
const MAX_EVENTS = 1_000_000;

export interface AuditExport {
  format: "enrollment-gateway-audit-export/1";
  generatedAt: string;
  period: { from?: string; to?: string };
  /** How to check it without the gateway: hash = SHA-256(prevHash ‖ canonical JSON of {seq, ts, type, actor, target, data}). */
  hashRule: string;
  /** The exported events checked on their own: contiguous, each linked to the one before, each hash recomputed. */
  segment: { count: number; firstSeq?: number; lastSeq?: number; anchorPrevHash?: string; lastHash?: string; verified: boolean; brokenAt?: number; why?: string };
  /** The whole chain from event 1, checked now. */
  chain: ChainVerdict;
  /** SHA-256 over the canonical JSON of `events`, to quote in a report. */
  eventsSha256: string;
  events: AuditEvent[];
}

function checkSegment(events: AuditEvent[]): AuditExport["segment"] {
  const base = { count: events.length, firstSeq: events[0]?.seq, lastSeq: events.at(-1)?.seq, anchorPrevHash: events[0]?.prevHash, lastHash: events.at(-1)?.hash };
  let prev = events[0]?.prevHash;
  for (const [i, e] of events.entries()) {
    if (i > 0 && e.seq !== events[i - 1].seq + 1) return { ...base, verified: false, brokenAt: events[i - 1].seq + 1, why: "an event is missing" };
    if (e.prevHash !== prev) return { ...base, verified: false, brokenAt: e.seq, why: "previous-hash link does not match" };
    if (eventHash(e.prevHash, e.seq, e) !== e.hash) return { ...base, verified: false, brokenAt: e.seq, why: "content does not match its hash" };
    prev = e.hash;
  }
  return { ...base, verified: true };
}

/** The audit evidence for a period, with its verification: what an operator hands to an auditor. */
export async function exportAudit(store: Store, audit: AuditLog, period: { from?: string; to?: string }): Promise<AuditExport> {
  for (const [k, v] of Object.entries(period)) {
    if (v !== undefined && Number.isNaN(Date.parse(v))) throw new GatewayError("RA_ERR_MALFORMED", `${k} must be an ISO 8601 date or time`);
  }
  const from = period.from ? new Date(period.from).toISOString() : undefined;
  const to = period.to ? new Date(period.to).toISOString() : undefined;
  const events: AuditEvent[] = [];
  for (let after = 0; ; ) {
    const page = await store.queryAudit({ afterSeq: after, from, to, limit: PAGE });
    events.push(...page);
    if (page.length < PAGE) break;
    if (events.length >= MAX_EVENTS) throw new GatewayError("RA_ERR_MALFORMED", `the period holds more than ${MAX_EVENTS} events; export a shorter one`);
    after = page[page.length - 1].seq;
  }
  return {
    format: "enrollment-gateway-audit-export/1",
    generatedAt: new Date().toISOString(),
    period: { from, to },
    hashRule: "hash = hex(SHA-256(prevHash || canonicalJSON({seq, ts, type, actor, target, data}))), keys sorted, target null when absent; the first event's prevHash is 64 zeros",
    segment: checkSegment(events),
    chain: await audit.verify(),
    eventsSha256: createHash("sha256").update(canonicalJson(events)).digest("hex"),
    events,
  };
}
