import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { normalizeSerial } from "../ca/serial.js";
import type { GatewayConfig } from "../config/schema.js";
import { GatewayError } from "../errors.js";
import { openGateway } from "../gateway.js";
import { exportAudit } from "../lifecycle/audit-export.js";
import { enforce, parseEnforcementOrder } from "../lifecycle/enforcement.js";
import { MAX_LISTED } from "../lifecycle/monitor.js";
import { createLogger } from "../log.js";
import type { CertificateRecord, Classification } from "../store/types.js";

export const LIFECYCLE_USAGE = `  cert classify SERIAL [--owner O] [--application A] [--environment E] [--criticality low|medium|high|critical]
  lifecycle renewals [--missed] [--profile P] [--owner O]   certificates due for renewal (or expired unreplaced)
  lifecycle scan                announce renewals due and missed now (audit events, notifications)
  lifecycle archive             move certificates expired longer than retention.archiveExpiredAfterDays to the archive now
  enforce (--identity KIND:ID | --device NAME) [--hold | --release] [--reason R] [--comment C]
                                revoke (or hold, or release) every valid certificate of an identity or device
  audit export [--from ISO] [--to ISO] [--out FILE]   audit events of a period with their verification`;

const line = (c: CertificateRecord) => `${c.serial}\t${c.profile}\t${c.owner ?? "-"}\t${c.notAfter}\t${c.subject}\t${c.sans.join(",")}`;

/** Lifecycle operations against the local data directory. */
export async function lifecycleCommand(config: GatewayConfig, cmd: string, rest: string[], argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv, allowPositionals: true, strict: false,
    options: {
      owner: { type: "string" }, application: { type: "string" }, environment: { type: "string" }, criticality: { type: "string" },
      missed: { type: "boolean" }, profile: { type: "string" }, identity: { type: "string" }, device: { type: "string" }, hold: { type: "boolean" },
      release: { type: "boolean" }, reason: { type: "string" }, comment: { type: "string" }, from: { type: "string" }, to: { type: "string" }, out: { type: "string" },
    },
  });
  const s = (k: string) => values[k] as string | undefined;
  const actor = `cli:${process.env.USER ?? "root"}`;
  const gw = await openGateway(config, createLogger("warn"));
  try {
    if (cmd === "cert" && rest[0] === "classify") {
      const serial = normalizeSerial(rest[1] ?? "");
      const patch: Classification = { owner: s("owner"), application: s("application"), environment: s("environment"), criticality: s("criticality") as Classification["criticality"] };
      if (patch.criticality && !["low", "medium", "high", "critical"].includes(patch.criticality)) throw new GatewayError("RA_ERR_MALFORMED", "criticality must be low, medium, high or critical");
      if (!(await gw.store.classify(serial, patch))) throw new GatewayError("RA_ERR_NOT_FOUND", "no such certificate");
      await gw.audit.record({ type: "certificate.classified", actor, target: serial, data: { ...patch } });
      console.log(line((await gw.store.getCertificate(serial))!));
      return 0;
    }
    if (cmd === "lifecycle" && rest[0] === "renewals") {
      const st = await gw.lifecycle.state(new Date(), { profile: s("profile"), owner: s("owner") });
      for (const c of values.missed ? st.missed : st.due) console.log(line(c));
      if (st.truncated) console.error(`the list stops at ${MAX_LISTED} certificates per profile: narrow it with --profile or --owner`);
      return 0;
    }
    if (cmd === "lifecycle" && rest[0] === "scan") {
      const r = await gw.lifecycle.scan();
      console.log(`${r.due} due for renewal, ${r.missed} expired unreplaced, ${r.announced} newly announced`);
      return 0;
    }
    if (cmd === "lifecycle" && rest[0] === "archive") {
      const r = await gw.retention.run();
      console.log(`${r.archived} certificates archived in ${r.batches} batches (notAfter up to ${r.cutoff})`);
      return 0;
    }
    if (cmd === "enforce") {
      const order = parseEnforcementOrder({ identity: s("identity"), device: s("device"), action: values.release ? "release" : values.hold ? "hold" : "revoke", reason: s("reason"), comment: s("comment") });
      const r = await enforce(gw, order, actor, "admin");
      console.log(`${r.action}: ${r.matched} matched, ${r.changed.length} changed${r.reason ? ` (${r.reason})` : ""}`);
      for (const serial of r.changed) console.log(serial);
      return 0;
    }
    if (cmd === "audit" && rest[0] === "export") {
      const out = await exportAudit(gw.store, gw.audit, { from: s("from"), to: s("to") });
      await gw.audit.record({ type: "audit.exported", actor, data: { period: out.period, events: out.segment.count, verified: out.segment.verified && out.chain.ok } });
      const text = `${JSON.stringify(out, null, 2)}\n`;
      if (s("out")) writeFileSync(s("out")!, text);
      else process.stdout.write(text);
      console.error(`${out.segment.count} events; segment ${out.segment.verified ? "verified" : `BROKEN at ${out.segment.brokenAt}`}; whole chain ${out.chain.ok ? "intact" : "BROKEN"}`);
      return out.segment.verified && out.chain.ok ? 0 : 3;
    }
    throw new GatewayError("RA_ERR_MALFORMED", `unknown command: ${[cmd, ...rest].join(" ")}`);
  } finally {
    await gw.close();
  }
}
