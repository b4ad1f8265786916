import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AddressGuard, connectCandidates, normalizeIp } from "../../../protocols/acme/validation/address-guard.js";
import { GatewayError } from "../../../src/errors.js";
import { closeAll, DnsServer, testConfig } from "./servers.js";

let dns: DnsServer;
beforeAll(async () => {
  dns = await DnsServer.start();
  dns.set("both.test", { a: ["127.0.0.1"], aaaa: ["::1"] });
  dns.set("mapped.test", { aaaa: ["::ffff:127.0.0.1"] });
  dns.set("empty.test", { txt: [["x"]] });
});
afterAll(closeAll);

function guard(o: Parameters<typeof testConfig>[0] = {}): AddressGuard {
  return new AddressGuard(testConfig({ dnsResolver: dns.resolver, ...o }));
}
async function failure(p: Promise<unknown>): Promise<GatewayError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  if (!(e instanceof GatewayError)) throw new Error(`expected a GatewayError, got ${String(e)}`);
  return e;
}

describe("address checks", () => {
  it("applies allow (empty = any) and then deny", () => {
    expect(guard({ allow: [], deny: [] }).isAllowed("192.0.2.1")).toBe(true);
    expect(guard({ allow: ["10.0.0.0/8"], deny: [] }).isAllowed("192.0.2.1")).toBe(false);
    expect(guard({ allow: ["10.0.0.0/8"], deny: ["10.1.0.0/16"] }).isAllowed("10.1.2.3")).toBe(false);
    expect(guard({ allow: ["10.0.0.0/8"], deny: ["10.1.0.0/16"] }).isAllowed("10.2.0.1")).toBe(true);
    expect(guard({ allow: ["2001:db8::/32"], deny: [] }).isAllowed("2001:db8::5")).toBe(true);
  });

  it("never allows unspecified or multicast addresses, whatever the configuration", () => {
    const g = guard({ allow: [], deny: [] });
    for (const ip of ["0.0.0.0", "::", "224.0.0.1", "255.255.255.255", "ff02::1"]) expect(g.isAllowed(normalizeIp(ip)), ip).toBe(false);
  });

  it("unmaps IPv4-mapped IPv6 so IPv4 deny rules still apply", async () => {
    expect(normalizeIp("::ffff:127.0.0.1")).toBe("127.0.0.1");
    expect(normalizeIp("2001:DB8:0:0::1")).toBe("2001:db8::1");
    const g = guard({ allow: [], deny: ["127.0.0.0/8"] });
    expect((await failure(g.resolve("::ffff:127.0.0.1", g.newResolver()))).code).toBe("RA_ERR_VALIDATION_CONNECTION");
    expect((await failure(g.resolve("mapped.test", g.newResolver()))).code).toBe("RA_ERR_VALIDATION_CONNECTION");
  });

  it("refuses a malformed configuration at construction instead of failing open", () => {
    for (const o of [{ deny: ["10.0.0.0/33"] }, { deny: ["not-an-ip/8"] }, { allow: ["10.0.0.0/8/1"] }, { hostOverrides: { "a.test": "nowhere" } }, { dnsResolver: "dns.example:53" }]) {
      expect(() => guard(o), JSON.stringify(o)).toThrow(expect.objectContaining({ code: "RA_ERR_CONFIG" }));
    }
  });
});

describe("resolution", () => {
  it("hostOverrides: exact key first, then the most specific wildcard, below the suffix only", async () => {
    const g = guard({ hostOverrides: { "a.example.test": "127.0.0.5", "*.example.test": "127.0.0.6", "*.b.example.test": "127.0.0.7" } });
    const r = g.newResolver();
    expect((await g.resolve("A.Example.Test", r)).allowed).toEqual(["127.0.0.5"]);
    expect((await g.resolve("x.example.test", r)).allowed).toEqual(["127.0.0.6"]);
    expect((await g.resolve("y.b.example.test", r)).allowed).toEqual(["127.0.0.7"]);
    expect(g.override("example.test")).toBeUndefined();
    expect(dns.queries.filter((q) => q.includes("example.test"))).toEqual([]);
  });

  it("an IP literal is checked without any DNS query", async () => {
    const before = dns.queries.length;
    const g = guard();
    expect(await g.resolve("127.0.0.1", g.newResolver())).toEqual({ resolved: ["127.0.0.1"], allowed: ["127.0.0.1"] });
    expect((await failure(g.resolve("192.0.2.1", g.newResolver()))).message).toMatch(/may not contact/);
    expect(dns.queries.length).toBe(before);
  });

  it("looks up A and AAAA through the configured resolver, keeping only allowed addresses", async () => {
    const g = guard({ allow: [], deny: ["::1"] });
    expect(await g.resolve("both.test", g.newResolver())).toEqual({ resolved: ["127.0.0.1", "::1"], allowed: ["127.0.0.1"] });
    expect(dns.queries).toEqual(expect.arrayContaining(["1 both.test", "28 both.test"]));
  });

  it("reports NXDOMAIN and a name without addresses as DNS problems", async () => {
    const g = guard();
    const nx = await failure(g.resolve("missing.test", g.newResolver()));
    expect([nx.code, nx.message]).toEqual(["RA_ERR_VALIDATION_DNS", "missing.test does not exist (NXDOMAIN)"]);
    const none = await failure(g.resolve("empty.test", g.newResolver()));
    expect([none.code, none.message]).toEqual(["RA_ERR_VALIDATION_DNS", "no A or AAAA record for empty.test"]);
  });

  it("tries at most one address per family, IPv4 first", () => {
    expect(connectCandidates(["::1", "127.0.0.1", "127.0.0.2", "::2"])).toEqual(["127.0.0.1", "::1"]);
  });
});
