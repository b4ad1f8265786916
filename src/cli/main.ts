#!/usr/bin/env node
import { parseArgs } from "node:util";
import { loadConfig } from "../config/load.js";
import { isGatewayError } from "../errors.js";
import { ProfileSet } from "../policy/profile.js";
import { adminCommand } from "./admin-commands.js";
import { BACKUP_USAGE, backupCommand } from "./backup.js";
import { caCommand } from "./ca-commands.js";
import { DB_USAGE, dbCommand } from "./db-commands.js";
import { LIFECYCLE_USAGE, lifecycleCommand } from "./lifecycle-commands.js";
import { REPORT_USAGE, reportCommand } from "./report-commands.js";
import { scepCommand } from "./scep-commands.js";
import { SERVE_USAGE, serveCommand } from "./serve.js";

const USAGE = `usage: gateway <command> [options]

  ${SERVE_USAGE}
  check-config                  validate the configuration and profiles, then exit
  ca init [--key ec-p256|ec-p384|rsa-2048|rsa-3072|rsa-4096] [--pss] [--root-name N] [--issuing-name N]
          [--pkcs11 --module PATH --token LABEL (--pin-file F | --pin-env VAR)]
  ca list
  cert list [--status S] [--profile P] [--name TEXT] [--expiring-days N] [--owner O] [--limit N | --all] [--cursor C]
                                newest first; with rows left, stderr names the --cursor that continues
  cert show SERIAL [--pem]
  cert issue --profile P --csr FILE [--out FILE]
  cert revoke SERIAL [--reason keyCompromise|superseded|...]
  approvals list [--status pending|approved|rejected|issued|failed|all] [--limit N | --all] [--cursor C]
  approvals approve ID [--comment C] | reject ID [--reason R]
  audit verify | audit list [--type T] [--target T] [--limit N | --all] [--cursor SEQ]
  secret create --profile P [--subject S] [--protocols est,scep,cmp] [--ttl-minutes N]
  acme eab create --profiles P[,P] [--suffixes example.com,...] [--endpoint NAME] [--ttl-hours N]
                                mint an ACME external account binding key (MAC key printed once)
  acme eab list
  token create --name NAME      mint another admin API token (printed once)
${LIFECYCLE_USAGE}
  ${BACKUP_USAGE}
  ${DB_USAGE}
  ${REPORT_USAGE[0]}
                                record TLS endpoints' chains and certificate files as unmanaged inventory; list expiring or weak ones
  ${REPORT_USAGE[1]}
                                crypto inventory per issuer and profile, and what to move to post-quantum algorithms first
  scep ra-init [--endpoint NAME] --token LABEL (--pin-file F | --pin-env VAR) [--module PATH]
                                make a SCEP RA key inside a PKCS#11 token and its certificate

common options: --config FILE (or GATEWAY_CONFIG), --data-dir DIR`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    options: { config: { type: "string" }, "data-dir": { type: "string" }, workers: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  const [cmd, ...rest] = positionals;
  if (!cmd || values.help) {
    console.log(USAGE);
    return cmd ? 0 : 2;
  }
  const configPath = (values.config as string | undefined) ?? process.env.GATEWAY_CONFIG;
  const { config, source } = loadConfig(configPath, { dataDir: values["data-dir"] as string | undefined });

  if (cmd === "check-config") {
    const profiles = ProfileSet.loadDir(config.profilesDir);
    console.log(`configuration ${source} is valid; ${profiles.all().length} profiles: ${profiles.all().map((p) => p.name).join(", ")}`);
    return 0;
  }
  if (cmd === "serve") return serveCommand(config, source, values.workers);
  if (cmd === "ca") return caCommand(config, rest, argv);
  if (cmd === "backup" || cmd === "restore") return backupCommand(config, cmd, argv);
  if (cmd === "db") return dbCommand(config, rest);
  if (cmd === "scep") return scepCommand(config, rest, argv);
  if (cmd === "discover" || cmd === "report") return reportCommand(config, cmd, rest, argv);
  if (cmd === "lifecycle" || cmd === "enforce" || (cmd === "audit" && rest[0] === "export") || (cmd === "cert" && rest[0] === "classify")) {
    return lifecycleCommand(config, cmd, rest, argv);
  }
  return adminCommand(config, cmd, rest, argv);
}

/** Exits once stdout and stderr are written out: on a pipe, lines still queued would otherwise be lost. */
async function exitFlushed(code: number): Promise<never> {
  await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((r) => s.write("", () => r()))));
  process.exit(code);
}

// A reader that stops early (`gateway cert list --all | head`) ends the listing, not with a stack trace.
process.stdout.on("error", (e: NodeJS.ErrnoException) => process.exit(e.code === "EPIPE" ? 0 : 1));

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) void exitFlushed(code);
  },
  (e: unknown) => {
    if (isGatewayError(e)) console.error(`error: ${e.message} [${e.code}]`);
    else console.error(`error: ${(e as Error).message ?? String(e)}`);
    void exitFlushed(1);
  },
);
