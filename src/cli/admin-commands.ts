import { normalizeSerial } from "../ca/serial.js";
import { readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { derToPem, pemToDer } from "../ca/authority.js";
import type { GatewayConfig } from "../config/schema.js";
import { EnrollmentSecrets } from "../enrollment/secrets.js";
import { EnrollmentService } from "../enrollment/service.js";
import { GatewayError } from "../errors.js";
import { hashToken, openGateway, type Gateway } from "../gateway.js";
import { createLogger } from "../log.js";
import type { CertificateQuery, RequestStatus } from "../store/types.js";
import { pagingOptions, printPages, type PagingOptions } from "./paging.js";
import { EabKeys } from "../../protocols/acme/eab.js";
import { eabJson } from "../server/admin-api.js";

/** Admin operations run against the local data directory (SQLite in WAL mode is safe beside a running server). */
export async function adminCommand(config: GatewayConfig, cmd: string, rest: string[], argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv, allowPositionals: true, strict: false,
    options: {
      status: { type: "string" }, profile: { type: "string" }, name: { type: "string" }, "expiring-days": { type: "string" }, pem: { type: "boolean" },
      csr: { type: "string" }, out: { type: "string" }, reason: { type: "string" }, comment: { type: "string" }, type: { type: "string" },
      limit: { type: "string" }, subject: { type: "string" }, protocols: { type: "string" }, "ttl-minutes": { type: "string" },
      profiles: { type: "string" }, suffixes: { type: "string" }, endpoint: { type: "string" }, "ttl-hours": { type: "string" }, owner: { type: "string" },
      cursor: { type: "string" }, all: { type: "boolean" }, target: { type: "string" },
    },
  });
  const s = (k: string) => values[k] as string | undefined;
  const paging = pagingOptions(s, Boolean(values.all));
  const gw = await openGateway(config, createLogger("warn"));
  try {
    return await run(gw, cmd, rest, s, Boolean(values.pem), paging);
  } finally {
    await gw.close();
  }
}

async function run(gw: Gateway, cmd: string, rest: string[], s: (k: string) => string | undefined, pem: boolean, paging: PagingOptions): Promise<number> {
  const sub = rest[0];
  const actor = `cli:${process.env.USER ?? "root"}`;
  if (cmd === "cert" && sub === "list") {
    const days = s("expiring-days");
    const q: CertificateQuery = {
      status: s("status") as CertificateQuery["status"], profile: s("profile"), name: s("name"),
      expiringBefore: days ? new Date(Date.now() + Number(days) * 86_400_000).toISOString() : undefined, owner: s("owner"),
    };
    if (q.status && !["valid", "revoked", "expired", "intent", "failed"].includes(q.status)) throw new GatewayError("RA_ERR_MALFORMED", "--status must be valid, revoked, expired, intent or failed");
    await printPages((page) => gw.store.pageCertificates(q, page),
      (c) => `${c.serial}\t${c.revokedAt ? "revoked" : c.stage}\t${c.profile}\t${c.protocol}\t${c.notAfter}\t${c.subject}\t${c.sans.join(",")}`, paging);
    return 0;
  }
  if (cmd === "cert" && sub === "show") {
    const c = await gw.store.getCertificate(normalizeSerial(need(rest[1], "SERIAL")));
    if (!c) throw new GatewayError("RA_ERR_NOT_FOUND", "no such certificate");
    if (pem && c.der) process.stdout.write(derToPem(c.der));
    else console.log(JSON.stringify({ ...c, der: undefined }, null, 2));
    return 0;
  }
  if (cmd === "cert" && sub === "issue") {
    const text = readFileSync(need(s("csr"), "--csr FILE"));
    const csr = text.includes("-----BEGIN") ? pemToDer(text.toString("utf8")) : new Uint8Array(text);
    const out = await gw.enrollment.enroll({ requestId: EnrollmentService.newRequestId(), protocol: "admin", requester: { kind: "admin", id: actor }, profile: s("profile"), csr });
    if (out.status === "pending") {
      console.log(`pending approval: request ${out.requestId}`);
      return 0;
    }
    const pemOut = [out.certificate.der, ...out.certificate.chain].map((d) => derToPem(d)).join("");
    if (s("out")) writeFileSync(s("out")!, pemOut);
    else process.stdout.write(pemOut);
    console.error(`issued serial ${out.certificate.serial}`);
    return 0;
  }
  if (cmd === "cert" && sub === "revoke") {
    const r = await gw.revocation.revoke(need(rest[1], "SERIAL"), s("reason"), actor);
    console.log(`revoked ${r.serial} (${r.reason}) at ${r.revokedAt}`);
    // This process exits before the rebuild delay: the CA stays marked in the store for the server to rebuild.
    console.error(`OCSP answers revoked now; the CRL is rebuilt by the running server within ~${gw.config.crl.rebuildDelaySeconds + 5} s (or when it next starts)`);
    return 0;
  }
  if (cmd === "approvals") {
    if (sub === "list" || !sub) {
      const status = s("status") ?? "pending";
      if (status !== "all" && !["pending", "approved", "rejected", "issued", "failed"].includes(status)) throw new GatewayError("RA_ERR_MALFORMED", "--status must be all, pending, approved, rejected, issued or failed");
      await printPages((page) => gw.store.pageRequests(status === "all" ? undefined : status as RequestStatus, page),
        (r) => `${r.id}\t${r.status}\t${r.protocol}\t${r.requesterKind}:${r.requesterId}\t${r.profile}\t${r.createdAt}`, paging);
      return 0;
    }
    const id = need(rest[1], "ID");
    if (sub === "approve") {
      const c = await gw.enrollment.approve(id, actor, s("comment"));
      console.log(`approved; issued serial ${c.serial}`);
      return 0;
    }
    if (sub === "reject") {
      await gw.enrollment.reject(id, actor, s("reason") ?? "rejected by an administrator");
      console.log("rejected");
      return 0;
    }
  }
  if (cmd === "audit" && sub === "verify") {
    const v = await gw.audit.verify();
    if (v.ok) console.log(`audit chain intact: ${v.events} events`);
    else console.log(`audit chain BROKEN at event ${v.brokenAt}: ${v.why}`);
    return v.ok ? 0 : 3;
  }
  if (cmd === "audit" && sub === "list") {
    await printPages((page) => gw.store.pageAudit({ type: s("type"), target: s("target") }, page), (e) => JSON.stringify(e), paging);
    return 0;
  }
  if (cmd === "secret" && sub === "create") {
    const m = await new EnrollmentSecrets(gw.store, gw.profiles, gw.audit, gw.secretSealKey).mint({
      profile: need(s("profile"), "--profile"), subject: s("subject"), protocols: s("protocols")?.split(","),
      ttlMinutes: s("ttl-minutes") ? Number(s("ttl-minutes")) : undefined,
    }, actor);
    console.log(JSON.stringify(m, null, 2));
    return 0;
  }
  if (cmd === "acme" && sub === "eab" && rest[1] === "create") {
    const k = await new EabKeys(gw.store.acme, gw.profiles, gw.audit).create({
      profiles: need(s("profiles") ?? s("profile"), "--profiles").split(","), nameSuffixes: s("suffixes")?.split(","), endpoint: s("endpoint"),
      ttlHours: s("ttl-hours") ? Number(s("ttl-hours")) : undefined, createdBy: actor,
    });
    console.log(JSON.stringify({ kid: k.kid, hmacKey: k.hmacKey, ...eabJson(k.record) }, null, 2));
    return 0;
  }
  if (cmd === "acme" && sub === "eab" && rest[1] === "list") {
    for (const k of await gw.store.acme.listEabKeys()) console.log(JSON.stringify(eabJson(k)));
    return 0;
  }
  if (cmd === "token" && sub === "create") {
    const name = need(s("name"), "--name");
    const token = `gw_${randomBytes(32).toString("base64url")}`;
    await gw.store.insertAdminToken(`${name}-${hashToken(token).slice(0, 8)}`, name, hashToken(token));
    await gw.audit.record({ type: "admin.token_created", actor, target: name });
    console.log(token);
    return 0;
  }
  throw new GatewayError("RA_ERR_MALFORMED", `unknown command: ${cmd} ${sub ?? ""} (see gateway --help)`);
}

function need(v: string | undefined, what: string): string {
  if (!v) throw new GatewayError("RA_ERR_MALFORMED", `missing ${what}`);
  return v;
}
