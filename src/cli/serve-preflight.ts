import { join } from "node:path";
import { checkConfig } from "../config/check.js";
import type { GatewayConfig } from "../config/schema.js";
import { sqlitePath } from "../store/open.js";
import { existsSync } from "node:fs";

/**
 * What `serve` does before it creates anything: the whole check of check-config (every problem listed, exit 2
 * when any), the externalUrl warning, and one line naming the data dir it uses, or saying that it makes a new PKI
 * there, so that a wrong path never silently becomes a new, empty PKI. All on stderr: stdout (and the JSON log
 * stream) stays machine-readable. False when the configuration is refused.
 */
export function servePreflight(config: GatewayConfig, out: (line: string) => void = (l) => console.error(l)): boolean {
  const r = checkConfig(config, "serve");
  if (r.problems.length) {
    out(`configuration refused: ${r.problems.length} problem${r.problems.length === 1 ? "" : "s"} (nothing was created)`);
    for (const p of r.problems) out(`  - ${p}`);
    return false;
  }
  for (const w of r.warnings) out(`warning: ${w}`);
  const data = config.dataDir;
  if (r.cas.createsDevPki) {
    out(`creating a new development PKI in ${data} (no CA in ${join(data, "cas")}; software keys: for production see \`gateway ca init --pkcs11\`)`);
  } else {
    const db = config.store.kind === "sqlite" ? sqlitePath(config, data) : undefined;
    out(`using data dir ${data} (CAs: ${r.cas.names.join(", ")}${db && !existsSync(db) ? `; creating a new database ${db}` : ""})`);
  }
  return true;
}
