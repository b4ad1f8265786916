import { keySpecText } from "../policy/keys.js";
import { hash } from "node:crypto";
import type { AuditLog } from "../audit/audit-log.js";
import { GatewayError } from "../errors.js";
import type { IssuancePlan } from "../policy/decide.js";
import { sanList, type Protocol, type RequesterIdentity } from "../policy/request.js";
import type { Metrics } from "../server/metrics.js";
import type { CertificateRecord, Store } from "../store/types.js";
import type { CaRegistry, CertificateAuthority } from "./authority.js";
import type { GroupCommit } from "./group-commit.js";
import { lintEndEntity } from "./lint.js";
import { newSerial, serialHex } from "./serial.js";
import { observeSigner, signAndVerify } from "./sign-object.js";
import { derBitString, derSequence } from "../asn1/der-encode.js";
import { rdnsToText } from "../asn1/name.js";
import { EndEntityTemplates, type PublicUrls } from "./template.js";

export interface IssueContext {
  requestId: string;
  protocol: Protocol;
  requester: RequesterIdentity;
  renewalOf?: string;
}

/** The caller's own writes, made through the engine's transactions (`tx`) so they commit with the intent and the certificate. */
export interface IssueHooks {
  beforeIntent?: (tx: Store) => void | Promise<void>;
  afterIssued?: (serial: string, tx: Store) => void | Promise<void>;
}

export interface IssuedCertificate {
  serial: string;
  der: Uint8Array;
  /** Issuing CA first, then upwards. */
  chain: Uint8Array[];
  ca: CertificateAuthority;
  notAfter: Date;
}

/**
 * The issuing engine: prepare TBS → lint → persist intent → sign once → verify (signers
 * that need it, see Signer.verifyAfterSign) → store → audit. A crash between steps leaves the certificate row in stage "intent"
 * (serial reserved, not signed) or "failed" with the reason.
 */
export class IssuingEngine {
  private readonly templates: EndEntityTemplates;
  /** Concurrent issuances share their intent and completion commits (see GroupCommit), also with AuditLog.recordAsync. */
  private readonly commits: GroupCommit;

  constructor(
    private readonly cas: CaRegistry,
    private readonly store: Store,
    private readonly audit: AuditLog,
    urls: PublicUrls,
    private readonly metrics?: Metrics,
  ) {
    this.templates = new EndEntityTemplates(urls);
    this.commits = audit.commits;
    // Signature time and failures of every CA key, whoever signs with it (certificates, CRLs, OCSP by the CA key).
    if (metrics) for (const ca of cas.all) observeSigner(ca.signer, metrics.signerObserver(ca.name));
  }

  /** The CA that signed an inventory record (its chain goes with the certificate). */
  authority(name: string): CertificateAuthority {
    const ca = this.cas.find(name);
    if (!ca) throw new GatewayError("RA_ERR_INTERNAL", `CA ${name} of an inventory record is not loaded`);
    return ca;
  }

  /**
   * `hooks` let the caller write its own records in the same transactions as the
   * intent (before signing) and the issued certificate (after), so a crash never
   * separates them; each issuance costs at most two commits, shared with concurrent ones.
   */
  async issue(plan: IssuancePlan, ctx: IssueContext, hooks: IssueHooks = {}): Promise<IssuedCertificate> {
    const started = process.hrtime.bigint();
    const ca = this.cas.get(plan.profile.issuer);
    if (ca.role !== "issuing") throw new GatewayError("RA_ERR_CONFIG", `profile ${plan.profile.name} names ${ca.name}, which is not an issuing CA`);
    const serialBytes = newSerial();
    const serial = serialHex(serialBytes);
    const tbs = this.templates.prepare(plan, ca, serialBytes);
    const tbsDer = tbs.der;

    const findings = lintEndEntity(tbs, plan, ca);
    if (findings.length) {
      await this.audit.record({ type: "issuance.lint_failed", actor: `${ctx.requester.kind}:${ctx.requester.id}`, target: ctx.requestId, data: { profile: plan.profile.name, findings } });
      throw new GatewayError("RA_ERR_LINT_FAILED", "the prepared certificate failed its pre-signing checks", { findings });
    }

    const record: CertificateRecord = {
      serial, caName: ca.name, profile: plan.profile.name, protocol: ctx.protocol, requestId: ctx.requestId,
      requesterKind: ctx.requester.kind, requesterId: ctx.requester.id, subject: rdnsToText(plan.subject),
      sans: sanList(plan.sans),
      notBefore: tbs.notBefore.toISOString(), notAfter: tbs.notAfter.toISOString(),
      keyAlgorithm: keySpecText(plan.keySpec),
      stage: "intent", tbsSha256: hash("sha256", tbsDer, "hex"), renewalOf: ctx.renewalOf, createdAt: new Date().toISOString(),
      ...plan.classification,
    };
    // Intent before signature: this resolves once the intent row is committed.
    await this.commits.run(async (tx) => {
      await hooks.beforeIntent?.(tx);
      await tx.insertCertificateIntent(record);
    });

    let sig: Buffer;
    try {
      sig = await signAndVerify(ca.signer, tbsDer);
    } catch (e) {
      const err = e instanceof GatewayError ? e : new GatewayError("RA_ERR_SIGNER_FAILED", "the signer failed");
      await this.store.failIssuance(serial, err.message);
      await this.audit.record({ type: "issuance.failed", actor: `${ctx.requester.kind}:${ctx.requester.id}`, target: serial, data: { requestId: ctx.requestId, code: err.code, signer: ca.signer.id } });
      throw err;
    }

    // Assembled from the exact signed TBS bytes: no second serialisation that could differ.
    const der = derSequence(tbsDer, tbs.signatureAlgorithm, derBitString(sig));
    await this.commits.run(async (tx) => {
      await tx.completeIssuance(serial, der);
      if (ctx.renewalOf) await tx.markReplaced(ctx.renewalOf, serial);
      await this.audit.record({
        type: "certificate.issued", actor: `${ctx.requester.kind}:${ctx.requester.id}`, target: serial,
        data: { requestId: ctx.requestId, protocol: ctx.protocol, profile: plan.profile.name, ca: ca.name, subject: record.subject, sans: record.sans, notAfter: record.notAfter, ignoredExtensions: plan.ignoredExtensions, renewalOf: ctx.renewalOf },
      }, tx);
      await hooks.afterIssued?.(serial, tx);
    });
    this.metrics?.issuances.inc({ protocol: ctx.protocol, profile: plan.profile.name });
    this.metrics?.issuanceSeconds.observe({ profile: plan.profile.name }, Number(process.hrtime.bigint() - started) / 1e9);
    return { serial, der, chain: [ca.certDer, ...ca.chain], ca, notAfter: new Date(record.notAfter) };
  }
}
