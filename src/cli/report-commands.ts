import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { GatewayConfig } from "../config/schema.js";
import { openGateway } from "../gateway.js";
import { cryptoReportCsv } from "../inventory/crypto-csv.js";
import { buildCryptoReport } from "../inventory/crypto-report.js";
import { DEFAULT_TIMEOUT_MS, discover, type DiscoveredItem, type DiscoveryResult } from "../inventory/discover.js";
import { createLogger } from "../log.js";

export const REPORT_USAGE = [
  "discover [--target host:port ...] [--targets-file FILE] [--path FILE_OR_DIR ...] [--timeout-ms N] [--warn-days N] [--json]",
  "report crypto [--format json|csv] [--out FILE]",
];

/** `gateway discover …` and `gateway report crypto …`. */
export async function reportCommand(config: GatewayConfig, cmd: string, rest: string[], argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv, allowPositionals: true, strict: false,
    options: {
      target: { type: "string", multiple: true }, "targets-file": { type: "string" }, path: { type: "string", multiple: true },
      "timeout-ms": { type: "string" }, "warn-days": { type: "string" }, json: { type: "boolean" }, format: { type: "string" }, out: { type: "string" },
    },
  });
  const strs = (k: string) => ((values[k] as string[] | undefined) ?? []);
  const s = (k: string) => values[k] as string | undefined;
  const num = (k: string, fallback: number) => {
    const v = s(k);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${k} must be a whole number`);
    return n;
  };

  if (cmd === "discover") {
    const targets = [...strs("target")];
    const file = s("targets-file");
    if (file) targets.push(...readFileSync(file, "utf8").split(/\r?\n/).map((l) => l.replace(/#.*/, "").trim()).filter(Boolean));
    const paths = strs("path");
    if (!targets.length && !paths.length) {
      console.error(`usage: gateway ${REPORT_USAGE[0]}`);
      return 2;
    }
    const timeoutMs = num("timeout-ms", DEFAULT_TIMEOUT_MS);
    const gw = await openGateway(config, createLogger("warn"));
    try {
      const result = await discover({ targets: [...new Set(targets)], paths, timeoutMs, warnDays: num("warn-days", config.expiryWarningDays) }, gw.store);
      await gw.audit.record({
        type: "inventory.discovered", actor: `cli:${process.env.USER ?? "root"}`,
        data: { targets: result.endpoints.scanned, failed: result.endpoints.failed, files: result.files.scanned, recorded: result.recorded, findings: result.findings.length },
      });
      if (values.json) console.log(JSON.stringify(result, null, 2));
      else printDiscovery(result);
      return 0;
    } finally {
      await gw.close();
    }
  }

  if (cmd === "report" && rest[0] === "crypto") {
    const format = s("format") ?? "json";
    if (format !== "json" && format !== "csv") {
      console.error("--format must be json or csv");
      return 2;
    }
    const gw = await openGateway(config, createLogger("warn"));
    try {
      const report = await buildCryptoReport(gw);
      const text = format === "csv" ? cryptoReportCsv(report) : `${JSON.stringify(report, null, 2)}\n`;
      const out = s("out");
      if (out) {
        writeFileSync(out, text);
        console.error(`wrote ${out}: ${report.totals.certificates} certificates in ${report.totals.groups} groups, ${report.totals.quantumVulnerable} quantum-vulnerable`);
      } else process.stdout.write(text);
      return 0;
    } finally {
      await gw.close();
    }
  }

  console.error(`usage: gateway ${REPORT_USAGE.join("\n       gateway ")}`);
  return 2;
}

const MAX_CELL = 48;

function clip(v: string): string {
  return v.length > MAX_CELL ? `${v.slice(0, MAX_CELL - 1)}…` : v;
}

/** Findings as a table, then a summary; unreadable endpoints and skipped files go to stderr. */
function printDiscovery(r: DiscoveryResult): void {
  const head = ["LOCATION", "SUBJECT", "ISSUER", "NOT AFTER", "KEY", "SIGNATURE", "FLAGS"];
  const rows = r.findings.map((f: DiscoveredItem) => [
    f.position === "chain" ? `${f.location} (chain)` : f.location, f.subject, f.issuer, f.notAfter.slice(0, 10), f.keyAlgorithm, f.signatureAlgorithm, f.flags.join(","),
  ].map(clip));
  if (rows.length) {
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
    for (const row of [head, ...rows]) console.log(row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]))).join("  "));
  }
  for (const e of r.errors) console.error(`error ${e.location}: ${e.error}`);
  for (const n of r.notes) console.error(`note ${n}`);
  console.log(`${rows.length} finding(s); recorded ${r.recorded} certificate(s) from ${r.endpoints.scanned - r.endpoints.failed}/${r.endpoints.scanned} endpoint(s) and ${r.files.scanned} file(s)`);
}
