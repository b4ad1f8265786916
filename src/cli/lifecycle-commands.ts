import { writeFileSync } from "node:fs";
import { normalizeSerial } from "../ca/serial.js";
import { GatewayError } from "../errors.js";
import { exportAudit } from "../lifecycle/audit-export.js";
import { enforce, parseEnforcementOrder } from "../lifecycle/enforcement.js";
import { MAX_LISTED } from "../lifecycle/monitor.js";
import type { CertificateRecord, Classification } from "../store/types.js";
import { cliActor, str, withGateway } from "./open.js";
import type { CliInput } from "./args.js";
import { printRows, type Columns } from "./paging.js";

const actor = cliActor;

const COLUMNS: Columns<CertificateRecord> = {
  header: ["SERIAL", "PROFILE", "OWNER", "NOT_AFTER", "SUBJECT", "SANS"],
  cells: (c) => [c.serial, c.profile, c.owner ?? "-", c.notAfter, c.subject, c.sans.join(",")],
  json: ({ der: _der, ...rest }) => rest,
};

export async function certClassify(i: CliInput): Promise<number> {
  const serial = normalizeSerial(i.args[0]);
  const patch: Classification = { owner: str(i, "owner"), application: str(i, "application"), environment: str(i, "environment"), criticality: str(i, "criticality") as Classification["criticality"] };
  return withGateway(i, "cli", async (gw) => {
    if (!(await gw.store.classify(serial, patch))) throw new GatewayError("RA_ERR_NOT_FOUND", "no such certificate");
    await gw.audit.record({ type: "certificate.classified", actor: actor(), target: serial, data: { ...patch } });
    printRows([(await gw.store.getCertificate(serial))!], COLUMNS, false);
    return 0;
  });
}

/** Certificates due for renewal (or, with --missed, expired and not replaced). */
export async function lifecycleRenewals(i: CliInput): Promise<number> {
  return withGateway(i, "read", async (gw) => {
    const st = await gw.lifecycle.state(new Date(), { profile: str(i, "profile"), owner: str(i, "owner") });
    printRows(i.opts.missed ? st.missed : st.due, COLUMNS, i.json);
    if (st.truncated) console.error(`the list stops at ${MAX_LISTED} certificates per profile: narrow it with --profile or --owner`);
    return 0;
  });
}

export async function lifecycleScan(i: CliInput): Promise<number> {
  return withGateway(i, "cli", async (gw) => {
    const r = await gw.lifecycle.scan();
    console.log(`${r.due} due for renewal, ${r.missed} expired unreplaced, ${r.announced} newly announced`);
    return 0;
  });
}

export async function lifecycleArchive(i: CliInput): Promise<number> {
  return withGateway(i, "cli", async (gw) => {
    const r = await gw.retention.run();
    console.log(`${r.archived} certificates archived in ${r.batches} batches (notAfter up to ${r.cutoff})`);
    return 0;
  });
}

export async function enforceCommand(i: CliInput): Promise<number> {
  const order = parseEnforcementOrder({ identity: str(i, "identity"), device: str(i, "device"), action: i.opts.release ? "release" : i.opts.hold ? "hold" : "revoke", reason: str(i, "reason"), comment: str(i, "comment") });
  return withGateway(i, "cli", async (gw) => {
    const r = await enforce(gw, order, actor(), "admin");
    console.log(`${r.action}: ${r.matched} matched, ${r.changed.length} changed${r.reason ? ` (${r.reason})` : ""}`);
    for (const serial of r.changed) console.log(serial);
    return 0;
  });
}

/** The export is itself recorded (audit.exported): who took which period out is part of the trail. */
export async function auditExport(i: CliInput): Promise<number> {
  return withGateway(i, "cli", async (gw) => {
    const out = await exportAudit(gw.store, gw.audit, { from: str(i, "from"), to: str(i, "to") });
    await gw.audit.record({ type: "audit.exported", actor: actor(), data: { period: out.period, events: out.segment.count, verified: out.segment.verified && out.chain.ok } });
    const text = `${JSON.stringify(out, null, 2)}\n`;
    const file = str(i, "out");
    if (file) writeFileSync(file, text);
    else process.stdout.write(text);
    console.error(`${out.segment.count} events; segment ${out.segment.verified ? "verified" : `BROKEN at ${out.segment.brokenAt}`}; whole chain ${out.chain.ok ? "intact" : "BROKEN"}`);
    return out.segment.verified && out.chain.ok ? 0 : 3;
  });
}
