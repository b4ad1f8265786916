import { parseArgs } from "node:util";
import { closest } from "../config/did-you-mean.js";
import type { GatewayConfig } from "../config/schema.js";

/** A mistake in how the command was called (unknown option or value, missing argument): exit code 2. */
export class UsageError extends Error {}

export type OptionValue = string | boolean | string[] | undefined;

/** What a command handler gets: the configuration, its arguments after the command words, its options. */
export interface CliInput {
  config: GatewayConfig;
  /** Where the configuration came from: a path, or "defaults". */
  source: string;
  args: string[];
  opts: Record<string, OptionValue>;
  json: boolean;
  /** The whole command line (the backup and db handlers read their own options from it). */
  argv: string[];
}

export interface OptionSpec {
  type: "string" | "boolean";
  multiple?: boolean;
}

export interface CommandSpec {
  /** Command words, e.g. ["cert", "list"]. */
  path: string[];
  /** The synopsis after the command words, e.g. "SERIAL [--pem | --json]". */
  synopsis: string;
  summary: string;
  /** Further help lines for `gateway <command> --help`. */
  details?: string[];
  options?: Record<string, OptionSpec>;
  /** Allowed values of string options (each value of a list option, `--protocols est,scep`, when `lists` names it). */
  enums?: Record<string, readonly string[]>;
  /** String options that are comma-separated lists of enum values. */
  lists?: string[];
  /** Options that must be given, with what their value is (for the message): { csr: "FILE" }. */
  required?: Record<string, string>;
  /** String options that must be whole numbers. */
  ints?: string[];
  /** Positional arguments after the command words: names of the required ones, in order. */
  positionals?: string[];
  /** Has --json: one JSON document on stdout (listings: {"items": [...], "next"?: cursor}). */
  json?: boolean;
  /** Runs without a configuration (help). */
  noConfig?: boolean;
  run(input: CliInput): Promise<number>;
}

/** Options every command takes. */
export const COMMON: Record<string, OptionSpec> = { config: { type: "string" }, "data-dir": { type: "string" }, help: { type: "boolean" } };

const flag = (name: string) => (name.length === 1 ? `-${name}` : `--${name}`);

/** Parses the command line of one command strictly: any unknown option or value is a UsageError naming it. */
export function parseCommand(spec: CommandSpec, argv: string[]): { args: string[]; opts: Record<string, OptionValue> } {
  const options: Record<string, OptionSpec & { short?: string }> = { ...COMMON, help: { type: "boolean", short: "h" }, ...(spec.json ? { json: { type: "boolean" } } : {}), ...spec.options };
  const name = spec.path.join(" ");
  const allowed = () => Object.keys(options).filter((o) => o !== "help").map(flag).join(", ");
  let parsed: { values: Record<string, OptionValue>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (e) {
    const err = e as Error & { code?: string };
    const opt = /'(-{1,2}[^' ]+)/.exec(err.message)?.[1];
    if (err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      const near = opt?.startsWith("--") ? closest(opt.slice(2), Object.keys(options)) : undefined;
      throw new UsageError(`${name}: unknown option ${opt ?? err.message}${near ? ` (did you mean --${near}?)` : ""}; allowed: ${allowed()}`);
    }
    if (err.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
      const what = /does not take/.test(err.message) ? "takes no value" : /ambiguous/.test(err.message) ? `needs a value (write ${opt}=VALUE for one that starts with -)` : "needs a value";
      throw new UsageError(`${name}: option ${opt ?? "?"} ${what}`);
    }
    throw new UsageError(`${name}: ${err.message.split(".")[0]}`);
  }
  const words = parsed.positionals.slice(spec.path.length);
  const wanted = spec.positionals ?? [];
  if (words.length < wanted.length) throw new UsageError(`${name}: missing ${wanted.slice(words.length).join(" ")} (usage: gateway ${name} ${spec.synopsis})`);
  if (words.length > wanted.length) throw new UsageError(`${name}: unexpected argument ${JSON.stringify(words[wanted.length])} (usage: gateway ${name} ${spec.synopsis})`);
  const v = parsed.values;
  for (const [opt, what] of Object.entries(spec.required ?? {})) {
    if (v[opt] === undefined) throw new UsageError(`${name}: missing --${opt} ${what} (usage: gateway ${name} ${spec.synopsis})`);
  }
  for (const [opt, values] of Object.entries(spec.enums ?? {})) {
    const given = v[opt];
    if (typeof given !== "string") continue;
    const items = spec.lists?.includes(opt) ? given.split(",") : [given];
    const bad = items.find((i) => !values.includes(i));
    if (bad !== undefined) throw new UsageError(`${name}: --${opt} ${JSON.stringify(bad)} is not allowed; use ${spec.lists?.includes(opt) ? "a comma-separated list of " : "one of "}${values.join(", ")}`);
  }
  for (const opt of spec.ints ?? []) {
    const given = v[opt];
    if (typeof given === "string" && !/^\d{1,9}$/.test(given)) throw new UsageError(`${name}: --${opt} must be a whole number (got ${JSON.stringify(given)})`);
  }
  return { args: words, opts: v };
}

/** `gateway <path> --help`. */
export function commandHelp(spec: CommandSpec): string {
  return [
    `usage: gateway ${spec.path.join(" ")} ${spec.synopsis}`.trimEnd(),
    "",
    `  ${spec.summary}`,
    ...(spec.details ?? []).map((l) => `  ${l}`),
    "",
    `common options: --config FILE (or GATEWAY_CONFIG), --data-dir DIR${spec.json ? ", --json (one JSON document on stdout)" : ""}, --help`,
  ].join("\n");
}

/** One line per command (synopsis, then its summary aligned), for `gateway --help` and a group's help. */
export function summaryLines(specs: readonly CommandSpec[]): string[] {
  return specs.flatMap((s) => {
    const head = `  ${[...s.path, s.synopsis].join(" ").trimEnd()}`;
    return head.length <= 40 ? [`${head.padEnd(40)}${s.summary}`] : [head, `${"".padEnd(40)}${s.summary}`];
  });
}
