import type { GeneralName } from "@peculiar/asn1-x509";
import type { AuditInput } from "../../src/audit/audit-log.js";
import type { ResponderKey } from "../../src/ca/responder.js";
import type { EnrollmentSecrets } from "../../src/enrollment/secrets.js";
import type { Gateway } from "../../src/gateway.js";
import type { RequesterIdentity } from "../../src/policy/request.js";
import type { CertificateRecord } from "../../src/store/types.js";
import type { PKIBody, PKIHeader } from "./asn1/message.js";
import type { DecodedMessage } from "./codec.js";
import type { IssuedAudit } from "./issued-audit.js";
import type { CmpLabel } from "./label.js";
import type { MacKeyCache } from "./mac-cache.js";
import type { MacKeyPool } from "./mac-pool.js";
import type { MacThrottle } from "./mac-throttle.js";
import type { CmpMetrics } from "./metrics.js";
import type { OpenTransaction, Protection, TransactionTable } from "./transactions.js";

export interface CmpDeps {
  gw: Gateway;
  tx: TransactionTable;
  secrets: EnrollmentSecrets;
  /** Signs answers to signature-protected requests and to requests whose protection failed. */
  responder: ResponderKey;
  /** The responder certificate's subject as a GeneralName: the sender of every answer (decoded once). */
  responderSender: GeneralName;
  /** The same GeneralName's DER, for answers written as DER (answer-der.ts). */
  responderSenderDer: Uint8Array;
  /** MAC keys derived off the event loop and cached once used, failed MACs counted per senderKID and address. */
  mac: { pool: MacKeyPool; cache: MacKeyCache; throttle: MacThrottle; metrics: CmpMetrics };
  /** Records the cmp.request of an issued certificate in the certificate's own commit. */
  issued: IssuedAudit;
}

/** Who sent a request, established by its protection. */
export interface Authenticated {
  protection: Protection;
  requester: RequesterIdentity;
  /** Signature protection by a valid certificate of ours: its record (kur, rr by the certificate itself). */
  own?: CertificateRecord;
  /** Signature protection by a configured trusted RA: raVerified proof of possession is accepted. */
  trustedRa: boolean;
  /** MAC with a one-time secret: consumed when its first request is accepted; its bound subject, if any. */
  oneTime?: { id: string; subject?: string };
}

/** One request being handled. */
export interface CmpCall {
  label: CmpLabel;
  deps: CmpDeps;
  msg: DecodedMessage;
  header: PKIHeader;
  body: PKIBody;
  auth: Authenticated;
  transactionId: string;
  actor: string;
  /** A follow-up's open transaction, as read once for this request (undefined for a new transaction or none open). */
  open?: OpenTransaction;
}

/** An answer before protection: the body (or its DER, answer-der.ts), and whether the header announces implicit confirmation. */
export interface Reply {
  body: PKIBody | Uint8Array;
  implicitConfirm?: boolean;
  /** Decision summary for the audit trail. */
  decision: string;
  failInfo?: string[];
  detail?: Record<string, unknown>;
  /** Its cmp.request event is recorded already (with the certificate it carries, issued-audit.ts). */
  audited?: boolean;
  /** Called with our senderNonce once the answer is built (a transaction remembers it for the follow-up). */
  remember?: (ourNonce: Uint8Array) => Promise<unknown>;
  /** For extraCerts besides the responder's: the issued certificate's CA certificates below the root (RFC 9483 §4.1.1). */
  extraCerts?: Uint8Array[];
}

/** The cmp.request audit event of one answered message: label, transactionID, body type, decision and details. */
export function requestEvent(label: string, actor: string, transactionId: string, bodyType: string, reply: Pick<Reply, "decision" | "failInfo" | "detail">): AuditInput {
  return { type: "cmp.request", actor, data: { label, transactionId, bodyType, decision: reply.decision, failInfo: reply.failInfo, ...reply.detail } };
}

/**
 * CMP failure with PKIFailureInfo bit names (RFC 4210 §5.2.3). `retryAfterSeconds` becomes an HTTP
 * Retry-After; `unaudited` refusals are counted by a metric instead (throttled senders would flood the log).
 */
export class CmpFailure extends Error {
  constructor(readonly failInfo: string[], message: string, readonly o: { retryAfterSeconds?: number; unaudited?: boolean } = {}) {
    super(message);
    this.name = "CmpFailure";
  }
}
