import { openGateway, type Gateway, type OpenMode } from "../gateway.js";
import { createLogger } from "../log.js";
import type { CliInput } from "./args.js";

/** A string option's value. */
export const str = (i: CliInput, k: string) => (typeof i.opts[k] === "string" ? (i.opts[k] as string) : undefined);

/** The audit actor of a CLI command. */
export const cliActor = () => `cli:${process.env.USER ?? "root"}`;

/**
 * Runs `fn` on the gateway of the local data directory (SQLite in WAL mode is safe beside a running server).
 * Read-only commands open it in "read" mode: nothing created, nothing audited.
 */
export async function withGateway(i: CliInput, mode: OpenMode, fn: (gw: Gateway) => Promise<number>): Promise<number> {
  const gw = await openGateway(i.config, createLogger("warn"), mode);
  try {
    return await fn(gw);
  } finally {
    await gw.close();
  }
}
