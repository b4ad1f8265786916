import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AcmeValidationConfig } from "../../../protocols/acme/config.js";
import type { ValidationInput, ValidationResult } from "../../../protocols/acme/validation/types.js";
import { createChallengeValidator } from "../../../protocols/acme/validation/validator.js";
import { closeAll, DnsServer, testConfig } from "./servers.js";

const TOKEN = "tok_dns01_abcdefghijklmnop";
const KEYAUTH = `${TOKEN}.thumbprint`;
const DIGEST = createHash("sha256").update(KEYAUTH).digest("base64url");

let dns: DnsServer;
beforeAll(async () => {
  dns = await DnsServer.start();
  dns.set("_acme-challenge.good.test", { txt: [["unrelated"], [DIGEST]] });
  dns.set("_acme-challenge.split.test", { txt: [[DIGEST.slice(0, 10), DIGEST.slice(10)]] });
  dns.set("_acme-challenge.wrong.test", { txt: [["wrong"], [DIGEST.slice(1)]] });
  dns.set("_acme-challenge.notxt.test", { a: ["127.0.0.1"] });
});
afterAll(closeAll);

const input = (value: string, type: "dns" | "ip" = "dns"): ValidationInput => ({ type: "dns-01", identifier: { type, value }, token: TOKEN, keyAuthorization: KEYAUTH });
function validate(value: string, o: Partial<AcmeValidationConfig> = {}, type: "dns" | "ip" = "dns"): Promise<ValidationResult> {
  return createChallengeValidator(testConfig({ dnsResolver: dns.resolver, ...o })).validate(input(value, type));
}
const outcome = (r: ValidationResult) => (r.ok ? ["ok"] : [r.error.code, r.error.message]);

describe("dns-01", () => {
  it("accepts the digest among several TXT records and records the query", async () => {
    const r = await validate("good.test");
    expect(outcome(r)).toEqual(["ok"]);
    expect(r.records).toEqual([{ hostname: "good.test", query: "_acme-challenge.good.test" }]);
    expect(dns.queries).toContain("16 _acme-challenge.good.test");
  });

  it("joins the character-strings of one TXT record", async () => {
    expect(outcome(await validate("split.test"))).toEqual(["ok"]);
  });

  it("a wrong value is an incorrect response", async () => {
    expect(outcome(await validate("wrong.test"))).toEqual(["RA_ERR_VALIDATION_INCORRECT", "none of the 2 TXT record(s) at _acme-challenge.wrong.test is the expected digest"]);
  });

  it("NXDOMAIN and a name without TXT records are DNS problems with a clear message", async () => {
    expect(outcome(await validate("missing.test"))).toEqual(["RA_ERR_VALIDATION_DNS", "_acme-challenge.missing.test does not exist (NXDOMAIN)"]);
    expect(outcome(await validate("notxt.test"))).toEqual(["RA_ERR_VALIDATION_DNS", "no TXT record at _acme-challenge.notxt.test"]);
  });

  it("cannot validate an IP identifier, and asks no DNS server", async () => {
    const before = dns.queries.length;
    const r = await validate("127.0.0.1", {}, "ip");
    expect(r.ok === false && r.error.code).toBe("RA_ERR_VALIDATION_DNS");
    expect(dns.queries.length).toBe(before);
  });

  it("returns once the timeout passes when the DNS server never answers", async () => {
    dns.silent = true;
    try {
      const r = await validate("good.test", { timeoutMs: 300 });
      expect(r.ok).toBe(false);
      expect(r.ok === false && r.error.code).toMatch(/RA_ERR_VALIDATION_(CONNECTION|DNS)/);
    } finally {
      dns.silent = false;
    }
  });
});
