import type { GatewayConfig } from "../config/schema.js";
import { describeStore, migrateStore, sqlitePath, storeStatus } from "../store/open.js";
import { printRestored } from "./backup-common.js";
import { afterRestorePostgres } from "./backup-postgres.js";
import { afterRestoreSqlite } from "./backup-sqlite.js";
import { describeSizing, sizingHints } from "../store/postgres/server-sizing.js";

export const DB_USAGE = `db status                     the database's schema version and the newest this gateway knows; on PostgreSQL
                                also the server's buffer cache and huge pages against the certificate tables' size
  db migrate                    apply missing migrations (serve does it at start, under a lock; this is for upgrades)
  db after-restore [--keep-unused-secrets]
                                after restoring by other means (PITR, pg_basebackup, a disk or managed-service
                                snapshot; gateways stopped): verify the audit chain, clear what must not come back
                                (as \`restore\` does), record store.restored`;

/** `gateway db status|migrate|after-restore` on whichever store the config names. */
export async function dbCommand(config: GatewayConfig, rest: string[], argv: string[] = process.argv.slice(2)): Promise<number> {
  const where = describeStore(config, config.dataDir);
  if (rest[0] === "status") {
    const s = await storeStatus(config, config.dataDir);
    const state = s.current === s.latest ? "up to date" : s.current < s.latest ? `${s.latest - s.current} migration(s) to apply` : "NEWER than this gateway (upgrade the gateway)";
    const hints = s.server ? sizingHints(s.server) : [];
    if (argv.includes("--json")) {
      console.log(JSON.stringify({
        store: where, engine: s.engine, schemaVersion: s.current, latest: s.latest, state: s.current === s.latest ? "current" : s.current < s.latest ? "behind" : "newer",
        ...(s.server ? { server: s.server, hints } : {}),
      }));
    } else {
      console.log(`${where}: schema version ${s.current} of ${s.latest} (${state})`);
      if (s.server) console.log(`server: ${describeSizing(s.server)}`);
      for (const h of hints) console.log(`hint: ${h}`);
    }
    return s.current > s.latest ? 3 : 0;
  }
  if (rest[0] === "migrate") {
    const m = await migrateStore(config, config.dataDir);
    console.log(m.from === m.to ? `${where}: already at schema version ${m.to}` : `${where}: migrated from schema version ${m.from} to ${m.to}`);
    return 0;
  }
  if (rest[0] === "after-restore") {
    // Options are not in `rest` (main's parseArgs keeps positionals only): read them from the full argument list.
    const keep = argv.includes("--keep-unused-secrets");
    printRestored(config.store.kind === "postgres" ? await afterRestorePostgres(config, keep) : await afterRestoreSqlite(sqlitePath(config, config.dataDir), keep));
    return 0;
  }
  console.error(`usage: gateway ${DB_USAGE}`);
  return 2;
}
