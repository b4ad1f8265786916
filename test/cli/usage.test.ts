import { describe, expect, it } from "vitest";
import { COMMANDS } from "../../src/cli/commands.js";
import { runGatewayCli } from "../helpers/cli.js";

type Run = { code: number; stdout: string; stderr: string };

/** Runs CLI invocations two at a time (the machine is shared); results in order. */
async function runAll(list: string[][]): Promise<Run[]> {
  const out: Run[] = [];
  for (let k = 0; k < list.length; k += 2) out.push(...(await Promise.all(list.slice(k, k + 2).map((a) => runGatewayCli(a)))));
  return out;
}

/** None of these reach the configuration: a config that does not exist proves it. */
const NO_CONFIG = ["--config", "/nonexistent/gateway.yaml"];

// Each case is a real CLI process (about a hundred in all); the time limit is for a loaded shared machine.
describe("gateway help and exit codes", () => {
  it("--help, -h and help print the full usage on stdout, exit 0; no command prints it on stderr, exit 2", async () => {
    const [long, short, word, none] = await runAll([["--help"], ["-h"], ["help"], []]);
    for (const r of [long, short, word]) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^usage: gateway <command> \[options\]/);
      for (const c of COMMANDS) expect(r.stdout).toContain(`  ${c.path.join(" ")}`);
    }
    expect(none.code).toBe(2);
    expect(none.stdout).toBe("");
    expect(none.stderr).toMatch(/^usage: gateway <command>/);
  }, 300_000);

  it("every command's --help prints its own usage (exit 0), also as `help <command>`, without reading the config", async () => {
    const runs = await runAll(COMMANDS.map((c) => [...c.path, "--help", ...NO_CONFIG]));
    COMMANDS.forEach((c, k) => {
      const r = runs[k];
      expect(r.code, `${c.path.join(" ")}: ${r.stderr}`).toBe(0);
      expect(r.stdout.split("\n")[0]).toBe(`usage: gateway ${c.path.join(" ")} ${c.synopsis}`.trimEnd());
      expect(r.stdout).toContain(c.summary);
    });
    const [viaHelp, helpUnknown] = await runAll([["help", "cert", "revoke"], ["help", "frobnicate"]]);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toMatch(/^usage: gateway cert revoke SERIAL/);
    expect(helpUnknown.code).toBe(2);
    expect(helpUnknown.stderr).toBe("error: unknown command: frobnicate (see gateway --help)\n");
  }, 300_000);

  it("a group's --help lists its commands (exit 0); the group alone or an unknown subcommand is exit 2", async () => {
    const groups = [...new Set(COMMANDS.filter((c) => c.path.length > 1).map((c) => c.path.slice(0, -1).join(" ")))];
    expect(groups).toEqual(expect.arrayContaining(["ca", "cert", "approvals", "audit", "secret", "acme eab", "token", "lifecycle", "db", "report", "scep"]));
    const runs = await runAll(groups.flatMap((g) => [[...g.split(" "), "--help"], g.split(" "), [...g.split(" "), "frobnicate"]]));
    groups.forEach((g, k) => {
      const [help, alone, unknown] = runs.slice(3 * k, 3 * k + 3);
      const subs = COMMANDS.filter((c) => c.path.join(" ").startsWith(`${g} `));
      expect(help.code, g).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^usage: gateway ${g} <command>`));
      for (const c of subs) expect(help.stdout).toContain(`  ${c.path.join(" ")}`);
      expect(alone.code, g).toBe(2);
      expect(alone.stderr).toBe(`error: ${g} needs a command; one of: ${subs.map((c) => c.path.slice(g.split(" ").length).join(" ")).join(", ")}\n`);
      expect(unknown.code, g).toBe(2);
      expect(unknown.stderr).toMatch(new RegExp(`^error: unknown command: ${g} frobnicate; one of: `));
    });
    const [top] = await runAll([["frobnicate"]]);
    expect(top.code).toBe(2);
    expect(top.stderr).toBe("error: unknown command: frobnicate (see gateway --help)\n");
  }, 300_000);

  it("an unknown option is exit 2 with one line naming it and the allowed ones (did you mean for a near miss)", async () => {
    const groups = [...new Map(COMMANDS.map((c) => [c.path[0], c])).values()];
    const runs = await runAll(groups.map((c) => [...c.path, "--frobnicate", ...NO_CONFIG]));
    groups.forEach((c, k) => {
      const r = runs[k];
      expect(r.code, `${c.path.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`^error: ${c.path.join(" ")}: unknown option --frobnicate; allowed: --config, --data-dir`));
    });
    const [near] = await runAll([["cert", "list", "--stauts", "valid", ...NO_CONFIG]]);
    expect(near.code).toBe(2);
    expect(near.stderr).toMatch(/^error: cert list: unknown option --stauts \(did you mean --status\?\); allowed: .*--status/);
  }, 300_000);

  it("unknown enum values, missing arguments and malformed numbers are exit 2 naming the flag and the allowed values", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["cert", "list", "--status", "bogus"], /^error: cert list: --status "bogus" is not allowed; use one of valid, revoked, expired, intent, failed$/],
      [["cert", "revoke", "01", "--reason", "nonsense"], /^error: cert revoke: --reason "nonsense" is not allowed; use one of unspecified, keyCompromise, .*privilegeWithdrawn/],
      [["approvals", "list", "--status", "x"], /^error: approvals list: --status "x" is not allowed; use one of pending, approved, rejected, issued, failed, all$/],
      [["report", "crypto", "--format", "xml"], /^error: report crypto: --format "xml" is not allowed; use one of json, csv$/],
      [["secret", "create", "--profile", "device", "--protocols", "est,acme"], /^error: secret create: --protocols "acme" is not allowed; use a comma-separated list of est, scep, cmp$/],
      [["ca", "init", "--key", "dsa-1024"], /^error: ca init: --key "dsa-1024" is not allowed; use one of ec-p256/],
      [["cert", "classify", "01", "--criticality", "extreme"], /^error: cert classify: --criticality "extreme" is not allowed; use one of low, medium, high, critical$/],
      [["cert", "list", "--expiring-days", "soon"], /^error: cert list: --expiring-days must be a whole number \(got "soon"\)$/],
      [["cert", "show"], /^error: cert show: missing SERIAL/],
      [["cert", "show", "01", "02"], /^error: cert show: unexpected argument "02"/],
      [["cert", "issue", "--profile", "tls-server"], /^error: cert issue: missing --csr FILE/],
      [["cert", "list", "--limit"], /^error: cert list: option --limit needs a value$/],
      [["audit", "verify", "--json=yes"], /^error: audit verify: option --json takes no value$/],
    ];
    const runs = await runAll(cases.map(([a]) => [...NO_CONFIG, ...a])); // options may come before the command words
    cases.forEach(([args, re], k) => {
      expect(runs[k].code, args.join(" ")).toBe(2);
      expect(runs[k].stderr.trimEnd(), args.join(" ")).toMatch(re);
      expect(runs[k].stderr.trimEnd().split("\n"), args.join(" ")).toHaveLength(1);
    });
  }, 300_000);
});
