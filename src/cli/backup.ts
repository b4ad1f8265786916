import { parseArgs } from "node:util";
import type { GatewayConfig } from "../config/schema.js";
import { sqlitePath } from "../store/open.js";
import { printBackup, printRestored } from "./backup-common.js";
import { backupPostgresCommand, restorePostgresCommand } from "./backup-postgres.js";
import { backupSqliteCommand, restoreSqliteCommand } from "./backup-sqlite.js";

export const BACKUP_USAGE = `backup --to FILE [--force]    online, consistent copy of the database (not the key material: see README);
                                on PostgreSQL a pg_dump custom-format file
  restore --from FILE [--keep-unused-secrets]
                                replace the database with a backup (stop the gateways first; PostgreSQL: pg_restore
                                in one transaction); unused one-time enrollment secrets and EAB keys in it are
                                expired unless --keep-unused-secrets`;

/** `gateway backup` / `gateway restore` on the store the config names. */
export async function backupCommand(config: GatewayConfig, cmd: "backup" | "restore", argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, allowPositionals: true, strict: false, options: { to: { type: "string" }, from: { type: "string" }, force: { type: "boolean" }, "keep-unused-secrets": { type: "boolean" } } });
  const pg = config.store.kind === "postgres";
  if (cmd === "backup") {
    const to = values.to;
    if (typeof to !== "string" || !to) return usage("backup needs --to FILE");
    const force = values.force === true;
    printBackup(pg ? await backupPostgresCommand(config, to, force) : await backupSqliteCommand(sqlitePath(config, config.dataDir), to, force));
    return 0;
  }
  const from = values.from;
  if (typeof from !== "string" || !from) return usage("restore needs --from FILE");
  const keep = values["keep-unused-secrets"] === true;
  printRestored(pg ? await restorePostgresCommand(config, from, keep) : await restoreSqliteCommand(sqlitePath(config, config.dataDir), from, keep));
  return 0;
}

function usage(msg: string): number {
  console.error(`error: ${msg}\nusage: gateway ${BACKUP_USAGE}`);
  return 2;
}
