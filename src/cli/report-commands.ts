import { readFileSync, writeFileSync } from "node:fs";
import { cryptoReportCsv } from "../inventory/crypto-csv.js";
import { buildCryptoReport } from "../inventory/crypto-report.js";
import { DEFAULT_TIMEOUT_MS, discover, type DiscoveredItem, type DiscoveryResult } from "../inventory/discover.js";
import { UsageError, type CliInput } from "./args.js";
import { cliActor, str, withGateway } from "./open.js";

/** `gateway discover …`: TLS endpoints' chains and certificate files recorded as unmanaged inventory. */
export async function discoverCommand(i: CliInput): Promise<number> {
  const strs = (k: string) => ((i.opts[k] as string[] | undefined) ?? []);
  const targets = [...strs("target")];
  const file = str(i, "targets-file");
  if (file) targets.push(...readFileSync(file, "utf8").split(/\r?\n/).map((l) => l.replace(/#.*/, "").trim()).filter(Boolean));
  const paths = strs("path");
  if (!targets.length && !paths.length) throw new UsageError("discover: give at least one --target host:port, --targets-file FILE or --path FILE_OR_DIR");
  const num = (k: string, fallback: number) => (str(i, k) === undefined ? fallback : Number(str(i, k)));
  const timeoutMs = num("timeout-ms", DEFAULT_TIMEOUT_MS);
  return withGateway(i, "cli", async (gw) => {
    const result = await discover({ targets: [...new Set(targets)], paths, timeoutMs, warnDays: num("warn-days", i.config.expiryWarningDays) }, gw.store);
    await gw.audit.record({
      type: "inventory.discovered", actor: cliActor(),
      data: { targets: result.endpoints.scanned, failed: result.endpoints.failed, files: result.files.scanned, recorded: result.recorded, findings: result.findings.length },
    });
    if (i.json) console.log(JSON.stringify(result, null, 2));
    else printDiscovery(result);
    return 0;
  });
}

/** `gateway report crypto`: the crypto inventory per issuer and profile (reads only). */
export async function reportCrypto(i: CliInput): Promise<number> {
  const format = str(i, "format") ?? "json";
  return withGateway(i, "read", async (gw) => {
    const report = await buildCryptoReport(gw);
    const text = format === "csv" ? cryptoReportCsv(report) : `${JSON.stringify(report, null, 2)}\n`;
    const out = str(i, "out");
    if (out) {
      writeFileSync(out, text);
      console.error(`wrote ${out}: ${report.totals.certificates} certificates in ${report.totals.groups} groups, ${report.totals.quantumVulnerable} quantum-vulnerable, ${report.totals.quantumSafe} quantum-safe`);
    } else process.stdout.write(text);
    return 0;
  });
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
