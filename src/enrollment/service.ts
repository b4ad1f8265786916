import type { KeyObject } from "node:crypto";
import type { AuditLog } from "../audit/audit-log.js";
import type { IssuingEngine, IssuedCertificate } from "../ca/engine.js";
import { timeOrderedUuid } from "../ca/serial.js";
import { GatewayError, toGatewayError } from "../errors.js";
import { AuthorizationHook, classificationWith, type AuthorizationGrant } from "../policy/authorization-hook.js";
import { decide, type IssuancePlan, type PolicyContext } from "../policy/decide.js";
import type { EnrollmentRequest } from "../policy/request.js";
import type { Metrics } from "../server/metrics.js";
import { generateSoftwareKey } from "../signers/software.js";
import type { Store } from "../store/types.js";
import { deserializeRequest, serializeRequest } from "./payload.js";

export type EnrollmentOutcome =
  | { status: "issued"; requestId: string; certificate: IssuedCertificate; privateKey?: KeyObject }
  | { status: "pending"; requestId: string; reason: string };

/**
 * Runs a front-end's request through policy and, when allowed, the engine. Every
 * outcome is recorded and audited. A rejection is thrown as a GatewayError for the
 * front-end to render in its protocol.
 */
export class EnrollmentService {
  constructor(
    private readonly policy: PolicyContext,
    private readonly engine: IssuingEngine,
    private readonly store: Store,
    private readonly audit: AuditLog,
    private readonly metrics?: Metrics,
    /** Revokes a replaced certificate when its profile says so (`renewal.revokeReplaced`). */
    private readonly revokeReplaced?: (serial: string, actor: string) => Promise<void>,
    /** Profiles' authorization webhooks (dynamic issuance); injectable for tests. */
    private readonly authorization: AuthorizationHook = new AuthorizationHook({ audit }),
  ) {}

  /**
   * The answer already given to a request with this retry key, or undefined when none was
   * recorded: the certificate once issued, pending while it waits, the rejection once decided.
   */
  async previousOutcome(lookupKey: string): Promise<EnrollmentOutcome | undefined> {
    const rec = await this.store.findRequestByLookupKey(lookupKey);
    if (!rec) return undefined;
    if (rec.status === "pending" || (rec.status === "approved" && !rec.certificateSerial)) {
      return { status: "pending", requestId: rec.id, reason: rec.reason ?? "awaiting approval" };
    }
    if (rec.status === "rejected") {
      throw new GatewayError("RA_ERR_APPROVAL_REJECTED", `request ${rec.id} was rejected${rec.reason ? `: ${rec.reason}` : ""}`);
    }
    const cert = rec.certificateSerial ? await this.store.getCertificate(rec.certificateSerial) : undefined;
    if (rec.status !== "issued" || !cert?.der) return undefined;
    const ca = this.engine.authority(cert.caName);
    return {
      status: "issued", requestId: rec.id,
      certificate: { serial: cert.serial, der: cert.der, chain: [ca.certDer, ...ca.chain], ca, notAfter: new Date(cert.notAfter) },
    };
  }

  async enroll(req: EnrollmentRequest): Promise<EnrollmentOutcome> {
    const actor = `${req.requester.kind}:${req.requester.id}`;
    const generated = req.keyGen ? generateSoftwareKey(req.keyGen.spec) : undefined;
    const d = decide(req, this.policy, generated);
    const profile = d.decision === "reject" ? d.profile ?? req.profile ?? this.policy.defaultProfile : d.plan.profile.name;
    // A metric label only ever names a configured profile: a requested name that matches none would add one series per name sent.
    const profileLabel = d.decision === "reject" && !d.profile ? "unknown" : profile;
    const base = {
      id: req.requestId, protocol: req.protocol, requesterKind: req.requester.kind, requesterId: req.requester.id, profile,
      payload: serializeRequest(req), createdAt: new Date().toISOString(),
    };
    // Rejections keep no retry key: the same request may be tried again once the cause is fixed.
    const keyed = { ...base, lookupKey: req.lookupKey };
    const rejected = async (error: GatewayError): Promise<never> => {
      await this.store.insertRequest({ ...base, status: "rejected", reason: error.message, errorCode: error.code });
      await this.audit.record({ type: "request.rejected", actor, target: req.requestId, data: { protocol: req.protocol, profile, code: error.code, reason: error.message } });
      this.metrics?.requests.inc({ protocol: req.protocol, profile: profileLabel, result: "rejected" });
      throw error;
    };
    if (d.decision === "reject") return rejected(d.error);
    if (d.decision === "pending" && req.keyGen) {
      throw new GatewayError("RA_ERR_PROFILE_NOT_ALLOWED", "server-side key generation is not offered for profiles that need approval");
    }
    // Dynamic issuance: the profile's webhook has the last word, before anything is stored or signed.
    // Its denial is a policy rejection like any other (recorded, audited, counted).
    let grant: AuthorizationGrant;
    try {
      grant = await this.authorization.authorize(req, d.plan);
    } catch (e) {
      return rejected(toGatewayError(e));
    }
    // Asking the webhook yields: a duplicate with the same retry key (EST, SCEP) may have been recorded
    // meanwhile. It gets the first answer, as the front-end's own check would have given it.
    const raced = req.lookupKey && hasWebhook(d.plan) ? await this.previousOutcome(req.lookupKey) : undefined;
    if (raced) return raced;
    const plan = authorizedPlan(d.plan, grant);
    const authorization = authorizationAudit(grant);
    if (d.decision === "pending") {
      // The stored payload stays the request as received: approval runs policy and the webhook again.
      await this.store.insertRequest({ ...keyed, status: "pending", reason: d.reason });
      await this.audit.record({ type: "request.pending", actor, target: req.requestId, data: { protocol: req.protocol, profile, reason: d.reason, sans: plan.sans, ...authorization } });
      this.metrics?.requests.inc({ protocol: req.protocol, profile, result: "pending" });
      return { status: "pending", requestId: req.requestId, reason: d.reason };
    }
    const certificate = await this.issueRecorded(req, plan, async (tx) => {
      await tx.insertRequest({ ...keyed, status: "approved", reason: "policy" });
      await this.audit.record({ type: "request.accepted", actor, target: req.requestId, data: {
        protocol: req.protocol, profile, ignoredExtensions: plan.ignoredExtensions,
        ...(req.attested ? { attestation: { format: req.attested.format, identifier: req.attested.identifier, facts: req.attested.facts, identity: req.attested.identity, ...(req.attested.identity === "delegated" ? { identityDecidedBy: "authorization webhook" } : {}) } } : {}),
        ...authorization,
      } }, tx);
    });
    this.metrics?.requests.inc({ protocol: req.protocol, profile, result: "issued" });
    await this.afterRenewal(req, plan, actor);
    return { status: "issued", requestId: req.requestId, certificate, privateKey: generated };
  }

  private async afterRenewal(req: EnrollmentRequest, plan: IssuancePlan, actor: string): Promise<void> {
    if (!req.renewalOf || !plan.profile.renewal.revokeReplaced || !this.revokeReplaced) return;
    await this.revokeReplaced(req.renewalOf, actor).catch(async (e: unknown) => {
      // The new certificate stands; a failed revocation of the old one is audited for the operator.
      await this.audit.record({ type: "certificate.revoke_replaced_failed", actor, target: req.renewalOf, data: { error: (e as Error).message } });
    });
  }

  /** `beforeIntent` writes the request's record through the intent's transaction (`tx`). */
  private async issueRecorded(req: EnrollmentRequest, plan: IssuancePlan, beforeIntent?: (tx: Store) => Promise<void>): Promise<IssuedCertificate> {
    try {
      return await this.engine.issue(plan, { requestId: req.requestId, protocol: req.protocol, requester: req.requester, renewalOf: req.renewalOf }, {
        beforeIntent,
        afterIssued: (serial, tx) => tx.updateRequest(req.requestId, { status: "issued", certificateSerial: serial }),
      });
    } catch (e) {
      // A lint failure happens before the intent transaction: make sure the request is on record.
      if (beforeIntent && !(await this.store.getRequest(req.requestId))) await this.store.transaction(beforeIntent);
      const code = e instanceof GatewayError ? e.code : "RA_ERR_INTERNAL";
      await this.store.updateRequest(req.requestId, { status: "failed", errorCode: code });
      throw e;
    }
  }

  /**
   * An administrator's approval: policy runs again (profiles may have changed), the authorization
   * webhook is asked again (posture or group membership may have changed while the request waited;
   * its attributes at this moment classify the certificate), and the certificate is issued.
   */
  async approve(requestId: string, by: string, comment?: string): Promise<IssuedCertificate> {
    const rec = await this.store.getRequest(requestId);
    if (!rec) throw new GatewayError("RA_ERR_NOT_FOUND", `no request ${requestId}`);
    if (!(await this.store.decideRequest(requestId, "approved", by, comment))) throw new GatewayError("RA_ERR_ALREADY_DECIDED", `request ${requestId} is ${rec.status}`);
    await this.audit.record({ type: "request.approved", actor: by, target: requestId, data: { profile: rec.profile, comment } });
    const req = deserializeRequest(rec.payload);
    const d = decide(req, this.policy);
    const failed = async (error: GatewayError): Promise<never> => {
      await this.store.updateRequest(requestId, { status: "failed", errorCode: error.code, reason: error.message });
      await this.audit.record({ type: "request.rejected", actor: by, target: requestId, data: { code: error.code, reason: error.message, afterApproval: true } });
      throw error;
    };
    if (d.decision === "reject") return failed(d.error);
    let grant: AuthorizationGrant;
    try {
      grant = await this.authorization.authorize(req, d.plan, "approve");
    } catch (e) {
      return failed(toGatewayError(e));
    }
    const plan = authorizedPlan(d.plan, grant);
    if (plan.profile.authorization) {
      await this.audit.record({ type: "request.authorized", actor: by, target: requestId, data: { profile: plan.profile.name, afterApproval: true, ...authorizationAudit(grant) } });
    }
    const issued = await this.issueRecorded(req, plan);
    await this.afterRenewal(req, plan, by);
    return issued;
  }

  async reject(requestId: string, by: string, reason: string): Promise<void> {
    const rec = await this.store.getRequest(requestId);
    if (!rec) throw new GatewayError("RA_ERR_NOT_FOUND", `no request ${requestId}`);
    if (!(await this.store.decideRequest(requestId, "rejected", by, reason))) throw new GatewayError("RA_ERR_ALREADY_DECIDED", `request ${requestId} is ${rec.status}`);
    await this.audit.record({ type: "request.rejected", actor: by, target: requestId, data: { profile: rec.profile, reason, byAdmin: true } });
  }

  /** Time-ordered (UUIDv7): request rows and their audit events append to their indexes. */
  static newRequestId(): string {
    return timeOrderedUuid();
  }
}

function hasWebhook(plan: IssuancePlan): boolean {
  return plan.profile.authorization?.webhook !== undefined;
}

/** The plan with the webhook's classification attributes applied (the engine persists plan.classification). */
function authorizedPlan(plan: IssuancePlan, grant: AuthorizationGrant): IssuancePlan {
  return Object.keys(grant.attributes).length ? { ...plan, classification: classificationWith(plan.classification, grant.attributes) } : plan;
}

/** Audit data for the webhook's answer: its attributes, or that it failed open. */
function authorizationAudit(grant: AuthorizationGrant): { authorization?: { attributes: Record<string, string>; failedOpen?: string } } {
  if (!Object.keys(grant.attributes).length && !grant.failedOpen) return {};
  return { authorization: { attributes: grant.attributes, ...(grant.failedOpen ? { failedOpen: grant.failedOpen } : {}) } };
}
