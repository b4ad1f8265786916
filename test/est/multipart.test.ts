import { describe, expect, it } from "vitest";
import { base64Lines, multipartMixed } from "../../protocols/est/multipart.js";

describe("base64Lines", () => {
  it("CRLF after every 64 characters and at the end; decodes back", () => {
    const der = Uint8Array.from({ length: 200 }, (_, i) => i);
    const text = base64Lines(der);
    const lines = text.split("\r\n");
    expect(lines.pop()).toBe(""); // ends with CRLF
    expect(lines.slice(0, -1).every((l) => l.length === 64)).toBe(true);
    expect(lines.at(-1)!.length).toBeLessThanOrEqual(64);
    expect(text).not.toMatch(/[^\r]\n/);
    expect(Buffer.from(text, "base64").equals(Buffer.from(der))).toBe(true);
    expect(base64Lines(new Uint8Array(48))).toBe(`${"A".repeat(64)}\r\n`);
    expect(base64Lines(new Uint8Array(0))).toBe("");
  });

  it("honours a subarray's offset", () => {
    const buf = Uint8Array.of(1, 2, 3, 4, 5, 6);
    expect(Buffer.from(base64Lines(buf.subarray(2, 5)), "base64")).toEqual(Buffer.from([3, 4, 5]));
  });
});

describe("multipartMixed (RFC 7030 §4.4.2, RFC 2046 §5.1)", () => {
  it("two base64 parts with their headers, CRLF throughout, a fresh boundary each time", () => {
    const key = base64Lines(Uint8Array.from({ length: 150 }, (_, i) => i));
    const cert = base64Lines(Uint8Array.of(9, 9, 9));
    const m = multipartMixed([{ contentType: "application/pkcs8", body: key }, { contentType: "application/pkcs7-mime; smime-type=certs-only", body: cert }]);
    const b = /^multipart\/mixed; boundary=([0-9A-Za-z'()+_,\-./:=?]{1,70})$/.exec(m.contentType)![1];
    expect(m.body).not.toMatch(/[^\r]\n/);
    expect(m.body.startsWith(`--${b}\r\n`)).toBe(true);
    expect(m.body.endsWith(`\r\n--${b}--\r\n`)).toBe(true);
    const parts = m.body.slice(0, -`--${b}--\r\n`.length).split(`--${b}\r\n`).slice(1);
    expect(parts).toHaveLength(2);
    const [h1, b1] = parts[0].split("\r\n\r\n");
    expect(h1).toBe("Content-Type: application/pkcs8\r\nContent-Transfer-Encoding: base64");
    expect(b1).toBe(key);
    const [h2, b2] = parts[1].split("\r\n\r\n");
    expect(h2).toBe("Content-Type: application/pkcs7-mime; smime-type=certs-only\r\nContent-Transfer-Encoding: base64");
    expect(b2).toBe(cert);
    expect(multipartMixed([{ contentType: "application/pkcs8", body: key }]).contentType).not.toBe(m.contentType);
  });

  it("normalises line ends and ends an unterminated body; refuses header injection and non-base64 bodies", () => {
    const m = multipartMixed([{ contentType: "application/pkcs8", body: "QUJD\nREVG" }]);
    expect(m.body).toContain("\r\n\r\nQUJD\r\nREVG\r\n--");
    expect(() => multipartMixed([{ contentType: "application/pkcs8\r\nX-Evil: 1", body: "QUJD" }])).toThrow(/single printable header line/);
    expect(() => multipartMixed([{ contentType: "application/pkcs8", body: "--boundary" }])).toThrow(/not base64/);
    expect(() => multipartMixed([])).toThrow(/at least one part/);
  });
});
