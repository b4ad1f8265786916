import type { CryptoReport } from "./crypto-report.js";

export const CRYPTO_CSV_COLUMNS = [
  "issuer", "profile", "keyAlgorithm", "signatureHashes", "count", "valid", "expired", "revoked", "longLived", "quantumVulnerable", "quantumSafe", "classicallyWeak",
] as const;

/** One row per group × key algorithm; signatureHashes as "sha256;sha1" (most used first). RFC 4180, CRLF. */
export function cryptoReportCsv(r: CryptoReport): string {
  const rows: string[][] = [[...CRYPTO_CSV_COLUMNS]];
  for (const g of r.groups) {
    for (const k of g.byKey) {
      const hashes = Object.entries(k.signatureHashes).sort(([a, x], [b, y]) => y - x || a.localeCompare(b)).map(([h]) => h).join(";");
      rows.push([g.issuer, g.profile, k.keyAlgorithm, hashes, ...[k.count, k.valid, k.expired, k.revoked, k.longLived, k.quantumVulnerable, k.quantumSafe, k.classicallyWeak].map(String)]);
    }
  }
  return rows.map((row) => row.map(cell).join(",")).join("\r\n") + "\r\n";
}

/** Quotes when needed; text a spreadsheet would run as a formula (issuer DNs come from remote servers) gets a leading '. */
function cell(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
