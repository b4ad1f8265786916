import { checkConfig } from "../config/check.js";
import { isGatewayError } from "../errors.js";
import type { CliInput } from "./args.js";

/**
 * `gateway check-config`: everything `serve` would refuse (src/config/check.ts), all of it, without creating
 * anything. Exit 2 with one line per problem; warnings go to stderr and do not fail the check.
 */
export async function checkConfigCommand(i: CliInput): Promise<number> {
  const r = checkConfig(i.config, "serve");
  if (i.json) {
    console.log(JSON.stringify({
      ok: r.problems.length === 0, source: i.source, dataDir: i.config.dataDir, profilesDir: i.config.profilesDir,
      profiles: r.profiles.map((p) => p.name), cas: r.cas.names, createsDevPki: r.cas.createsDevPki, problems: r.problems, warnings: r.warnings,
    }, null, 2));
    return r.problems.length ? 2 : 0;
  }
  for (const w of r.warnings) console.error(`warning: ${w}`);
  if (r.problems.length) {
    console.error(`configuration ${i.source} is refused: ${r.problems.length} problem${r.problems.length === 1 ? "" : "s"}`);
    for (const p of r.problems) console.error(`  - ${p}`);
    return 2;
  }
  console.log(`configuration ${i.source} is valid; ${r.profiles.length} profiles: ${r.profiles.map((p) => p.name).join(", ")}`);
  console.log(`data dir ${i.config.dataDir}: ${r.cas.createsDevPki ? "no CA yet (serve would create a development PKI there)" : `CAs ${r.cas.names.join(", ")}`}`);
  return 0;
}

/** The configuration file itself was refused (unreadable, not YAML, schema errors): the same report, exit 2. */
export function reportLoadFailure(e: unknown, json: boolean): number {
  if (!isGatewayError(e) || e.code !== "RA_ERR_CONFIG") throw e;
  // loadConfig's message: a first line, then "  - path: problem" lines (the schema's), or one line (YAML, read).
  const [head, ...rest] = e.message.split("\n");
  const problems = rest.length ? rest.map((l) => l.replace(/^\s*-\s*/, "")) : [head];
  if (json) console.log(JSON.stringify({ ok: false, problems, warnings: [] }, null, 2));
  else {
    console.error(`configuration refused: ${problems.length} problem${problems.length === 1 ? "" : "s"}`);
    for (const p of problems) console.error(`  - ${p}`);
  }
  return 2;
}
