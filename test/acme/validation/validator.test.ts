import { afterAll, describe, expect, it } from "vitest";
import type { ChallengeType, ValidationInput } from "../../../protocols/acme/validation/types.js";
import { createChallengeValidator } from "../../../protocols/acme/validation/validator.js";
import { closeAll, DnsServer, httpServer, testConfig } from "./servers.js";

afterAll(closeAll);

const input = (type: ChallengeType, o: Partial<ValidationInput> = {}): ValidationInput => ({
  type, identifier: { type: "dns", value: "v.example.test" }, token: "tok_validator", keyAuthorization: "tok_validator.thumb", ...o,
});

describe("createChallengeValidator", () => {
  it("insecureSkipValidation passes every type without touching the network", async () => {
    const s = await httpServer((_req, res) => res.end("nope"));
    const dns = await DnsServer.start();
    const v = createChallengeValidator(testConfig({ insecureSkipValidation: true, httpPort: s.port, tlsAlpnPort: s.port, dnsResolver: dns.resolver, hostOverrides: { "*.example.test": "127.0.0.1" } }));
    for (const t of ["http-01", "dns-01", "tls-alpn-01"] as const) expect(await v.validate(input(t))).toEqual({ ok: true, records: [] });
    expect(s.hits).toEqual([]);
    expect(dns.queries).toEqual([]);
  });

  it("turns bad input into a failed result instead of throwing", async () => {
    const v = createChallengeValidator(testConfig({ httpPort: 1, hostOverrides: { "*.example.test": "127.0.0.1" } }));
    const bad: ValidationInput[] = [
      input("http-01", { token: "../../etc/passwd" }),
      input("http-01", { token: "" }),
      { ...input("http-01"), type: "tls-alpn-02" as ChallengeType },
      input("http-01", { identifier: { type: "dns", value: "bad host/name?" } }),
      input("tls-alpn-01", { identifier: { type: "ip", value: "not-an-ip" } }),
    ];
    for (const i of bad) {
      const r = await v.validate(i);
      expect(r.ok, JSON.stringify(i)).toBe(false);
      expect(r.ok === false && r.error.code, JSON.stringify(i)).toMatch(/^RA_ERR_VALIDATION_/);
    }
  });

  it("refuses a configuration that would weaken the guard when it is built", () => {
    expect(() => createChallengeValidator(testConfig({ deny: ["169.254.0.0/100"] }))).toThrow(expect.objectContaining({ code: "RA_ERR_CONFIG" }));
    expect(() => createChallengeValidator(testConfig({ dnsResolver: "resolver.example" }))).toThrow(expect.objectContaining({ code: "RA_ERR_CONFIG" }));
  });

  it("the default configuration builds and denies link-local metadata addresses", async () => {
    const v = createChallengeValidator(testConfig({ allow: [], deny: undefined, hostOverrides: { "meta.example.test": "169.254.169.254" } }));
    const r = await v.validate(input("http-01", { identifier: { type: "dns", value: "meta.example.test" } }));
    expect(r.ok === false && r.error.message).toBe("meta.example.test resolves only to addresses validation may not contact");
  });
});
