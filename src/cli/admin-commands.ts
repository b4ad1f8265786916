import { readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { derToPem, pemToDer } from "../ca/authority.js";
import { normalizeSerial } from "../ca/serial.js";
import { EnrollmentSecrets } from "../enrollment/secrets.js";
import { EnrollmentService } from "../enrollment/service.js";
import { GatewayError } from "../errors.js";
import { hashToken } from "../gateway.js";
import { reasonName } from "../revocation/reasons.js";
import { certJson } from "../server/admin-helpers.js";
import type { AcmeEabKeyRecord } from "../store/acme-types.js";
import type { AuditEvent, CertificateQuery, CertificateRecord, RequestRecord, RequestStatus } from "../store/types.js";
import type { CliInput } from "./args.js";
import { cliActor, str, withGateway } from "./open.js";
import { pagingOptions, printPages, printRows, type Columns, type PagingOptions } from "./paging.js";

const actor = cliActor;
const paging = (i: CliInput): PagingOptions => pagingOptions((k) => str(i, k), i.opts.all === true);

export const CERT_COLUMNS: Columns<CertificateRecord> = {
  header: ["SERIAL", "STATUS", "PROFILE", "PROTOCOL", "NOT_AFTER", "SUBJECT", "SANS"],
  cells: (c) => [c.serial, certJson(c).status, c.profile, c.protocol, c.notAfter, c.subject, c.sans.join(",")],
  json: certJson,
};

export async function certList(i: CliInput): Promise<number> {
  const days = str(i, "expiring-days");
  const q: CertificateQuery = {
    status: str(i, "status") as CertificateQuery["status"], profile: str(i, "profile"), name: str(i, "name"), owner: str(i, "owner"),
    expiringBefore: days ? new Date(Date.now() + Number(days) * 86_400_000).toISOString() : undefined,
  };
  const o = paging(i);
  return withGateway(i, "read", async (gw) => {
    await printPages((page) => gw.store.pageCertificates(q, page), CERT_COLUMNS, o, i.json);
    return 0;
  });
}

export async function certShow(i: CliInput): Promise<number> {
  return withGateway(i, "read", async (gw) => {
    const c = await gw.store.getCertificate(normalizeSerial(i.args[0]));
    if (!c) throw new GatewayError("RA_ERR_NOT_FOUND", "no such certificate");
    if (i.opts.pem) {
      if (!c.der) throw new GatewayError("RA_ERR_NOT_FOUND", "the certificate was never signed");
      process.stdout.write(derToPem(c.der));
    } else if (i.json) {
      // The admin API's GET /certificates/{serial} document.
      console.log(JSON.stringify({ certificate: certJson(c), pem: c.der ? derToPem(c.der) : undefined }, null, 2));
    } else {
      const j = certJson(c);
      const rows: Array<[string, string | undefined]> = [
        ["serial", c.serial], ["status", j.status + (c.archived ? " (archived)" : "")], ["subject", c.subject], ["names", c.sans.join(", ")],
        ["profile", c.profile], ["ca", c.caName], ["protocol", c.protocol], ["requester", `${c.requesterKind}:${c.requesterId}`],
        ["not before", c.notBefore], ["not after", c.notAfter], ["key", c.keyAlgorithm],
        ["revoked", c.revokedAt && `${c.revokedAt} (${reasonName(c.revocationReason ?? 0)})`], ["detail", c.stageDetail],
        ["renewal of", c.renewalOf], ["replaced by", c.replacedBy], ["owner", c.owner], ["application", c.application],
        ["environment", c.environment], ["criticality", c.criticality], ["request", c.requestId],
      ];
      for (const [k, v] of rows) if (v) console.log(`${`${k}:`.padEnd(13)} ${v}`);
    }
    return 0;
  });
}

export async function certIssue(i: CliInput): Promise<number> {
  const text = readFileSync(str(i, "csr")!);
  const csr = text.includes("-----BEGIN") ? pemToDer(text.toString("utf8")) : new Uint8Array(text);
  return withGateway(i, "cli", async (gw) => {
    const out = await gw.enrollment.enroll({ requestId: EnrollmentService.newRequestId(), protocol: "admin", requester: { kind: "admin", id: actor() }, profile: str(i, "profile"), csr });
    if (out.status === "pending") {
      console.log(`pending approval: request ${out.requestId}`);
      return 0;
    }
    const pemOut = [out.certificate.der, ...out.certificate.chain].map((d) => derToPem(d)).join("");
    const file = str(i, "out");
    if (file) writeFileSync(file, pemOut);
    else process.stdout.write(pemOut);
    console.error(`issued serial ${out.certificate.serial}`);
    return 0;
  });
}

export async function certRevoke(i: CliInput): Promise<number> {
  return withGateway(i, "cli", async (gw) => {
    const r = await gw.revocation.revoke(i.args[0], str(i, "reason"), actor());
    console.log(`revoked ${r.serial} (${r.reason}) at ${r.revokedAt}`);
    // This process exits before the rebuild delay: the CA stays marked in the store for the server to rebuild.
    console.error(`OCSP answers revoked now; the CRL is rebuilt by the running server within ~${gw.config.crl.rebuildDelaySeconds + 5} s (or when it next starts)`);
    return 0;
  });
}

const APPROVAL_COLUMNS: Columns<RequestRecord> = {
  header: ["ID", "STATUS", "PROTOCOL", "REQUESTER", "PROFILE", "CREATED"],
  cells: (r) => [r.id, r.status, r.protocol, `${r.requesterKind}:${r.requesterId}`, r.profile, r.createdAt],
  json: ({ payload: _p, ...rest }) => rest,
};

export async function approvalsList(i: CliInput): Promise<number> {
  const status = str(i, "status") ?? "pending";
  const o = paging(i);
  return withGateway(i, "read", async (gw) => {
    await printPages((page) => gw.store.pageRequests(status === "all" ? undefined : status as RequestStatus, page), APPROVAL_COLUMNS, o, i.json);
    return 0;
  });
}

export async function approvalsDecide(i: CliInput, approve: boolean): Promise<number> {
  return withGateway(i, "cli", async (gw) => {
    if (approve) {
      const c = await gw.enrollment.approve(i.args[0], actor(), str(i, "comment"));
      console.log(`approved; issued serial ${c.serial}`);
    } else {
      await gw.enrollment.reject(i.args[0], actor(), str(i, "reason") ?? "rejected by an administrator");
      console.log("rejected");
    }
    return 0;
  });
}

export async function auditVerify(i: CliInput): Promise<number> {
  return withGateway(i, "read", async (gw) => {
    const v = await gw.audit.verify();
    if (i.json) console.log(JSON.stringify(v));
    else if (v.ok) console.log(`audit chain intact: ${v.events} events`);
    else console.log(`audit chain BROKEN at event ${v.brokenAt}: ${v.why}`);
    return v.ok ? 0 : 3;
  });
}

const AUDIT_COLUMNS: Columns<AuditEvent> = {
  header: ["SEQ", "TIME", "TYPE", "ACTOR", "TARGET", "DATA"],
  cells: (e) => [String(e.seq), e.ts, e.type, e.actor, e.target ?? "-", JSON.stringify(e.data)],
  json: (e) => e,
};

export async function auditList(i: CliInput): Promise<number> {
  const o = paging(i);
  return withGateway(i, "read", async (gw) => {
    await printPages((page) => gw.store.pageAudit({ type: str(i, "type"), target: str(i, "target") }, page), AUDIT_COLUMNS, o, i.json);
    return 0;
  });
}

export async function secretCreate(i: CliInput): Promise<number> {
  return withGateway(i, "cli", async (gw) => {
    const m = await new EnrollmentSecrets(gw.store, gw.profiles, gw.audit, gw.secretSealKey).mint({
      profile: str(i, "profile")!, subject: str(i, "subject"), protocols: str(i, "protocols")?.split(","),
      ttlMinutes: str(i, "ttl-minutes") ? Number(str(i, "ttl-minutes")) : undefined,
    }, actor());
    console.log(JSON.stringify(m, null, 2));
    return 0;
  });
}

export async function eabCreate(i: CliInput): Promise<number> {
  const { EabKeys } = await import("../../protocols/acme/eab.js");
  return withGateway(i, "cli", async (gw) => {
    const k = await new EabKeys(gw.store.acme, gw.profiles, gw.audit).create({
      profiles: str(i, "profiles")!.split(","), nameSuffixes: str(i, "suffixes")?.split(","), endpoint: str(i, "endpoint"),
      ttlHours: str(i, "ttl-hours") ? Number(str(i, "ttl-hours")) : undefined, createdBy: actor(),
    });
    console.log(JSON.stringify({ kid: k.kid, hmacKey: k.hmacKey, ...eabJson(k.record) }, null, 2));
    return 0;
  });
}

/**
 * An EAB key as the admin API lists it (eabJson in src/server/admin-api.ts, the same fields), never the MAC key.
 * Written out here so that listing keys does not load express and the admin API (about a second of start-up).
 */
function eabJson(k: AcmeEabKeyRecord): Record<string, unknown> {
  return { kid: k.id, profiles: k.profiles, nameSuffixes: k.nameSuffixes, endpoint: k.endpoint, createdBy: k.createdBy, createdAt: k.createdAt, expiresAt: k.expiresAt, boundAccount: k.accountId };
}

export async function eabList(i: CliInput): Promise<number> {
  return withGateway(i, "read", async (gw) => {
    const keys = (await gw.store.acme.listEabKeys()).map(eabJson);
    const s = (v: unknown) => (v === undefined || v === null ? "-" : Array.isArray(v) ? v.join(",") || "-" : String(v));
    printRows(keys, {
      header: ["KID", "PROFILES", "SUFFIXES", "ENDPOINT", "CREATED", "EXPIRES", "BOUND_ACCOUNT"],
      cells: (k) => [s(k.kid), s(k.profiles), s(k.nameSuffixes), s(k.endpoint), s(k.createdAt), s(k.expiresAt), s(k.boundAccount)],
      json: (k) => k,
    }, i.json);
    return 0;
  });
}

export async function tokenCreate(i: CliInput): Promise<number> {
  return withGateway(i, "cli", async (gw) => {
    const name = str(i, "name")!;
    const token = `gw_${randomBytes(32).toString("base64url")}`;
    await gw.store.insertAdminToken(`${name}-${hashToken(token).slice(0, 8)}`, name, hashToken(token));
    await gw.audit.record({ type: "admin.token_created", actor: actor(), target: name });
    console.log(token);
    return 0;
  });
}
