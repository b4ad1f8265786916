import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AcmeValidationConfig } from "../../../protocols/acme/config.js";
import { checkChallengeCertificate } from "../../../protocols/acme/validation/challenge-cert.js";
import { reverseName } from "../../../protocols/acme/validation/tls-alpn01.js";
import type { ValidationInput, ValidationResult } from "../../../protocols/acme/validation/types.js";
import { createChallengeValidator } from "../../../protocols/acme/validation/validator.js";
import { tempDir } from "../../helpers/openssl.js";
import { challengeCert, closeAll, connections, silentTcpServer, testConfig, tlsServer } from "./servers.js";

const TOKEN = "tok_tlsalpn_abcdefghijklmnop";
const KEYAUTH = `${TOKEN}.thumbprint`;
const DIGEST_HEX = createHash("sha256").update(KEYAUTH).digest("hex");
const GOOD_EXT = `1.3.6.1.5.5.7.1.31=critical,DER:0420${DIGEST_HEX}`;

let dir: string;
beforeAll(() => {
  dir = tempDir();
});
afterAll(closeAll);

const input = (value = "t.example.test", type: "dns" | "ip" = "dns"): ValidationInput => ({ type: "tls-alpn-01", identifier: { type, value }, token: TOKEN, keyAuthorization: KEYAUTH });
function validate(o: Partial<AcmeValidationConfig>, i = input()): Promise<ValidationResult> {
  return createChallengeValidator(testConfig({ hostOverrides: { "t.example.test": "127.0.0.1" }, ...o })).validate(i);
}
const outcome = (r: ValidationResult) => (r.ok ? ["ok"] : [r.error.code, r.error.message]);
const cert = (name: string, o: { san?: string; ext?: string } = {}) => challengeCert(dir, name, { san: o.san ?? "DNS:t.example.test", ext: o.ext ?? GOOD_EXT });

describe("tls-alpn-01 (RFC 8737)", () => {
  it("accepts the right certificate over acme-tls/1, with the name in SNI", async () => {
    const s = await tlsServer(await cert("good"));
    const r = await validate({ tlsAlpnPort: s.port });
    expect(outcome(r)).toEqual(["ok"]);
    expect(s.handshakes).toEqual(["t.example.test"]);
    expect(r.records).toEqual([{ hostname: "t.example.test", port: s.port, addressesResolved: ["127.0.0.1"], addressUsed: "127.0.0.1" }]);
  });

  it("an IP identifier needs an iPAddress SAN and is named by its reverse-DNS name in SNI (RFC 8738)", async () => {
    expect(reverseName("127.0.0.1")).toBe("1.0.0.127.in-addr.arpa");
    expect(reverseName("2001:db8::1")).toBe(`1.${"0.".repeat(23)}8.b.d.0.1.0.0.2.ip6.arpa`);
    const v4 = await tlsServer(await cert("ip4", { san: "IP:127.0.0.1" }));
    expect(outcome(await validate({ tlsAlpnPort: v4.port }, input("127.0.0.1", "ip")))).toEqual(["ok"]);
    expect(v4.handshakes).toEqual(["1.0.0.127.in-addr.arpa"]);
    const v6 = await tlsServer(await cert("ip6", { san: "IP:::1" }), ["acme-tls/1"], "::1");
    expect(outcome(await validate({ tlsAlpnPort: v6.port }, input("::1", "ip")))).toEqual(["ok"]);
    expect(v6.handshakes).toEqual([reverseName("::1")]);
    // A dNSName spelling the address is not an iPAddress.
    const dnsSpelled = await tlsServer(await cert("ipdns", { san: "DNS:127.0.0.1" }));
    expect(outcome(await validate({ tlsAlpnPort: dnsSpelled.port }, input("127.0.0.1", "ip")))[0]).toBe("RA_ERR_VALIDATION_TLS");
  });

  it("refuses a wrong digest or one of the wrong length as an incorrect response", async () => {
    for (const [name, ext] of [["digest", `1.3.6.1.5.5.7.1.31=critical,DER:0420${"00".repeat(32)}`], ["short", `1.3.6.1.5.5.7.1.31=critical,DER:041f${DIGEST_HEX.slice(2)}`]]) {
      const s = await tlsServer(await cert(name, { ext }));
      expect(outcome(await validate({ tlsAlpnPort: s.port })), name).toEqual(["RA_ERR_VALIDATION_INCORRECT", "the acmeIdentifier extension does not match the key authorization"]);
    }
  });

  it("refuses a certificate that breaks the RFC 8737 shape", async () => {
    const cases: Array<[string, { san?: string; ext?: string }, RegExp]> = [
      ["non-critical", { ext: `1.3.6.1.5.5.7.1.31=DER:0420${DIGEST_HEX}` }, /must be critical/],
      ["two names", { san: "DNS:t.example.test,DNS:u.example.test" }, /must name exactly t\.example\.test/],
      ["other name", { san: "DNS:u.example.test" }, /must name exactly/],
      ["no extension", { ext: "basicConstraints=critical,CA:FALSE" }, /no acmeIdentifier extension/],
    ];
    for (const [what, o, re] of cases) {
      const s = await tlsServer(await cert(what.replace(/\W/g, ""), o));
      const r = await validate({ tlsAlpnPort: s.port });
      expect(outcome(r), what).toEqual(["RA_ERR_VALIDATION_TLS", expect.stringMatching(re)]);
    }
  });

  it("requires acme-tls/1 to be negotiated", async () => {
    const good = await cert("alpn");
    const none = await tlsServer(good, null);
    expect(outcome(await validate({ tlsAlpnPort: none.port }))).toEqual(["RA_ERR_VALIDATION_TLS", "the server did not negotiate the acme-tls/1 protocol"]);
    const h2 = await tlsServer(good, ["h2"]);
    expect(outcome(await validate({ tlsAlpnPort: h2.port }))).toEqual(["RA_ERR_VALIDATION_TLS", expect.stringMatching(/acme-tls\/1/)]);
  });

  it("never connects to a denied address", async () => {
    const s = await tlsServer(await cert("denied"));
    const r = await validate({ tlsAlpnPort: s.port, allow: [], deny: ["127.0.0.0/8"] });
    expect(outcome(r)[0]).toBe("RA_ERR_VALIDATION_CONNECTION");
    expect(s.handshakes).toEqual([]);
  });

  it("returns after the timeout when the server never starts the handshake, leaving no connection open", async () => {
    const s = await silentTcpServer();
    const r = await validate({ tlsAlpnPort: s.port, timeoutMs: 300 });
    expect(outcome(r)).toEqual(["RA_ERR_VALIDATION_CONNECTION", "validation timed out after 300 ms"]);
    await new Promise((res) => setTimeout(res, 100));
    expect(await connections(s.server)).toBe(0);
  });

  it("refuses garbage instead of a certificate", async () => {
    const id = { type: "dns" as const, value: "t.example.test" };
    for (const der of [new Uint8Array([0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), new Uint8Array([0x04, 0x00]), new Uint8Array(0)]) {
      expect(() => checkChallengeCertificate(der, id, KEYAUTH)).toThrow(expect.objectContaining({ code: "RA_ERR_VALIDATION_TLS" }));
    }
    const pem = readFileSync(join(dir, "good.crt"), "utf8");
    const der = new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s+/g, ""), "base64"));
    expect(() => checkChallengeCertificate(der, id, KEYAUTH)).not.toThrow();
    expect(() => checkChallengeCertificate(der.subarray(0, der.length - 1), id, KEYAUTH)).toThrow(/could not be parsed/);
  });
});
