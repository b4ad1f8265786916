import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EabKeys } from "../../protocols/acme/eab.js";
import { eabJson } from "../../src/server/admin-api.js";
import { runCli } from "../helpers/cli.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { issueMany } from "../server/inventory-fixture.js";

let t: TestGateway;
let serials: string[];
const cli = (...args: string[]) => runCli(args, t.config.dataDir, t.config.profilesDir);
const head = async () => (await t.gw.store.pageAudit({}, { limit: 1000 })).items.at(-1)!.seq;

beforeAll(async () => {
  t = await testGateway();
  serials = await issueMany(t.gw, 3, "ro.example.com");
  await t.gw.revocation.revoke(serials[0], "keyCompromise", "test");
  await new EabKeys(t.gw.store.acme, t.gw.profiles, t.gw.audit).create({ profiles: ["tls-server"], nameSuffixes: ["example.com"], createdBy: "test" });
});
afterAll(async () => t?.gw.close());

describe("read-only commands", () => {
  it("leave the audit log as it was (no config.loaded, nothing else), and every --json output is one JSON document", async () => {
    const before = await head();
    const json = async (...args: string[]) => {
      const r = await cli(...args, "--json");
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
      return JSON.parse(r.stdout) as Record<string, unknown> & { items: Array<Record<string, unknown>> };
    };
    const certs = await json("cert", "list");
    expect(certs.items.map((c) => c.serial).sort()).toEqual([...serials].sort());
    // The admin API's status words.
    expect(Object.fromEntries(certs.items.map((c) => [c.serial, c.status]))).toEqual({ [serials[0]]: "revoked", [serials[1]]: "valid", [serials[2]]: "valid" });
    expect(certs.items[0]).not.toHaveProperty("der");
    expect(certs.next).toBeUndefined();
    const page = await json("cert", "list", "--limit", "2");
    expect(page.items).toHaveLength(2);
    expect(typeof page.next).toBe("string");
    expect((await json("cert", "list", "--status", "revoked")).items.map((c) => c.serial)).toEqual([serials[0]]);

    const shown = await json("cert", "show", serials[1]);
    expect(shown.certificate).toMatchObject({ serial: serials[1], status: "valid", profile: "tls-server" });
    expect(shown.pem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect((await json("ca", "list")).items.map((c) => [c.name, c.role]).sort()).toEqual([["dev-issuing", "issuing"], ["dev-root", "root"]]);
    const requests = (await json("approvals", "list", "--status", "all")).items;
    expect(requests.map((r) => r.status)).toEqual(["issued", "issued", "issued"]);
    expect(requests[0]).not.toHaveProperty("payload");
    expect((await json("approvals", "list")).items).toEqual([]); // pending ones by default
    const audit = await json("audit", "list", "--all");
    expect(audit.items.at(-1)?.seq).toBe(before);
    expect(await json("audit", "verify")).toEqual({ ok: true, events: before });
    // The admin API's fields (the CLI writes them out itself so as not to load express): never the MAC key.
    const keys = (await json("acme", "eab", "list")).items;
    expect(keys).toEqual(JSON.parse(JSON.stringify((await t.gw.store.acme.listEabKeys()).map(eabJson))));
    expect(keys).toHaveLength(1);
    expect(JSON.stringify(keys)).not.toMatch(/hmac|macKey/i);
    expect(Array.isArray((await json("lifecycle", "renewals")).items)).toBe(true);
    expect((await json("check-config")).ok).toBe(true);

    // The human forms: a header row, then tab-separated rows.
    const human = await Promise.all([cli("cert", "list"), cli("ca", "list"), cli("approvals", "list"), cli("audit", "list"), cli("acme", "eab", "list")]);
    expect(human.map((r) => r.stdout.split("\n")[0].split("\t")[0])).toEqual(["SERIAL", "NAME", "ID", "SEQ", "KID"]);
    const rows = human[0].stdout.trim().split("\n").slice(1).map((l) => l.split("\t"));
    expect(rows.map((r) => r[1]).sort()).toEqual(["revoked", "valid", "valid"]);
    const show = await cli("cert", "show", serials[0]);
    expect(show.stdout).toMatch(new RegExp(`^serial: +${serials[0]}$`, "m"));
    expect(show.stdout).toMatch(/^revoked: +\S+ \(keyCompromise\)$/m);
    const verify = await cli("audit", "verify");
    expect(verify.stdout).toBe(`audit chain intact: ${before} events\n`);
    expect((await cli("report", "crypto")).code).toBe(0);

    expect(await head()).toBe(before);
  }, 300_000); // some twenty CLI processes, one after another, on a shared machine

  it("a data dir without a gateway is an error, never a new PKI", async () => {
    const r = await runCli(["cert", "list"], `${t.dir}/nothing-here`, t.config.profilesDir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: no CA in .*nothing-here\/cas: is this the gateway's data dir\?/);
    const { existsSync } = await import("node:fs");
    expect(existsSync(`${t.dir}/nothing-here`)).toBe(false);
  });
});
