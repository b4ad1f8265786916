#!/usr/bin/env -S node --max-semi-space-size=4
import { parseArgs } from "node:util";
import { COMMON, commandHelp, parseCommand, summaryLines, UsageError, type CommandSpec, type OptionSpec } from "./args.js";
import { COMMANDS, commandsUnder, findCommand } from "./commands.js";

/*
 * Exit codes: 0 done; 1 the operation failed (error: … [RA_ERR_…]); 2 usage or configuration refused (unknown
 * command, option or value; check-config or serve refusing the configuration); 3 a verification found damage.
 */

const USAGE = [
  "usage: gateway <command> [options]        (gateway <command> --help for one command)",
  "",
  ...summaryLines(COMMANDS),
  "",
  "common options: --config FILE (or GATEWAY_CONFIG), --data-dir DIR, --help; listings and show commands take --json",
  "exit codes: 0 ok, 1 failed, 2 usage error or configuration refused, 3 verification found damage",
].join("\n");

/** Every option any command takes, so the command words can be told apart from option values before the strict parse. */
function allOptions(): Record<string, OptionSpec & { short?: string }> {
  const all: Record<string, OptionSpec & { short?: string }> = { ...COMMON, help: { type: "boolean", short: "h" }, json: { type: "boolean" } };
  for (const c of COMMANDS) Object.assign(all, c.options);
  return all;
}

function groupHelp(words: string[], specs: CommandSpec[]): string {
  return [`usage: gateway ${words.join(" ")} <command> [options]`, "", ...summaryLines(specs)].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: allOptions(), allowPositionals: true, strict: false });
  const help = values.help === true;
  const words = positionals[0] === "help" ? positionals.slice(1) : positionals;
  if (positionals[0] === "help" || (help && !words.length)) {
    const spec = findCommand(words);
    const group = commandsUnder(words);
    if (words.length && !(spec && spec.path.length === words.length) && !group.length) {
      console.error(`error: unknown command: ${words.join(" ")} (see gateway --help)`);
      return 2;
    }
    console.log(spec && spec.path.length === words.length ? commandHelp(spec) : words.length ? groupHelp(words, group) : USAGE);
    return 0;
  }
  if (!words.length) {
    console.error(USAGE);
    return 2;
  }
  const spec = findCommand(words);
  if (!spec) {
    // A group word alone (`gateway cert`) or with an unknown command after it (`gateway cert frobnicate`).
    const depth = [2, 1].find((n) => words.length >= n && commandsUnder(words.slice(0, n)).length > 0);
    if (depth !== undefined) {
      const group = words.slice(0, depth);
      if (help) {
        console.log(groupHelp(group, commandsUnder(group)));
        return 0;
      }
      const sub = words[depth];
      console.error(`error: ${sub === undefined ? `${group.join(" ")} needs a command` : `unknown command: ${group.join(" ")} ${sub}`}; one of: ${commandsUnder(group).map((c) => c.path.slice(depth).join(" ")).join(", ")}`);
      return 2;
    }
    console.error(`error: unknown command: ${words[0]} (see gateway --help)`);
    return 2;
  }
  if (help) {
    console.log(commandHelp(spec));
    return 0;
  }
  const { args, opts } = parseCommand(spec, argv);
  const { loadConfig } = await import("../config/load.js");
  const configPath = (opts.config as string | undefined) ?? process.env.GATEWAY_CONFIG;
  let loaded;
  try {
    loaded = loadConfig(configPath, { dataDir: opts["data-dir"] as string | undefined });
  } catch (e) {
    // check-config reports a refused file as its result (exit 2), the same way as every other problem.
    if (spec.path[0] === "check-config") return (await import("./check-config.js")).reportLoadFailure(e, opts.json === true);
    throw e;
  }
  return spec.run({ config: loaded.config, source: loaded.source, args, opts, json: opts.json === true, argv });
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
  async (e: unknown) => {
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}`);
      return void exitFlushed(2);
    }
    const { isGatewayError } = await import("../errors.js");
    if (isGatewayError(e)) console.error(`error: ${e.message} [${e.code}]`);
    else console.error(`error: ${(e as Error).message ?? String(e)}`);
    // A refused configuration is the caller's to fix, like a usage error.
    void exitFlushed(isGatewayError(e) && e.code === "RA_ERR_CONFIG" ? 2 : 1);
  },
);
