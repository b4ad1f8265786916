import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkDer } from "../../src/asn1/der-limits.js";
import { GatewayError } from "../../src/errors.js";
import { parseCsr } from "../../src/policy/csr.js";
import { makeCsr, tempDir } from "../helpers/openssl.js";

const testdata = join(fileURLToPath(new URL(".", import.meta.url)), "testdata");
const hostile = readdirSync(testdata).filter((f) => f.endsWith(".der"));
/** Each hostile file must be stopped by its own limit, before any schema parser runs. */
const WHY: Record<string, RegExp> = {
  "deep_nesting.der": /nesting deeper than/,
  "huge_length_field.der": /length field too long/,
  "indefinite_length.der": /indefinite length/,
  "inner_overflow.der": /runs past its container/,
  "lying_length.der": /runs past its container/,
  "node_flood.der": /more than \d+ ASN\.1 nodes/,
  "non_minimal_length.der": /non-minimal length/,
  "oversized.der": /exceeds/,
};

function typedError(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError);
    return e as GatewayError;
  }
  throw new Error("expected a typed error");
}

describe("malformed DER gets a typed error, never a crash", () => {
  it.each(hostile)("%s", (file) => {
    const der = new Uint8Array(readFileSync(join(testdata, file)));
    const e = typedError(() => parseCsr(der));
    expect(e.code).toBe("RA_ERR_DER_LIMIT");
    expect(e.message).toMatch(WHY[file]);
  });

  it("every truncation of a real CSR is refused with a typed error", () => {
    const { der } = makeCsr(tempDir(), "trunc", { sans: ["DNS:a.example.com"] });
    for (let n = 0; n < der.length; n++) {
      const e = typedError(() => parseCsr(der.subarray(0, n)));
      expect(["RA_ERR_DER_LIMIT", "RA_ERR_MALFORMED"]).toContain(e.code);
    }
  });

  it("random byte flips never crash the parser", () => {
    const { der } = makeCsr(tempDir(), "flip", { sans: ["DNS:a.example.com"] });
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < 500; i++) {
      const m = Uint8Array.from(der);
      for (let k = 0; k < 3; k++) m[Math.floor(rnd() * m.length)] = Math.floor(rnd() * 256);
      try {
        parseCsr(m);
      } catch (e) {
        expect(e).toBeInstanceOf(GatewayError);
      }
    }
  });

  it("BER that is not DER is refused", () => {
    const { der } = makeCsr(tempDir(), "ber", { sans: ["DNS:a.example.com"] });
    // Re-encode the outer length in long form: valid BER, not DER.
    const body = der.subarray(der[1] & 0x80 ? 2 + (der[1] & 0x7f) : 2);
    const ber = Uint8Array.from([0x30, 0x84, ...[24, 16, 8, 0].map((s) => (body.length >> s) & 0xff), ...body]);
    expect(typedError(() => parseCsr(ber)).code).toBe("RA_ERR_DER_LIMIT");
  });

  it("BER-only primitive encodings are refused before the signature is even checked", () => {
    const { der } = makeCsr(tempDir(), "bool", { sans: ["DNS:a.example.com"], extraExt: ["basicConstraints=critical,CA:FALSE"] });
    const i = Buffer.from(der).indexOf(Buffer.from([0x01, 0x01, 0xff]));
    expect(i).toBeGreaterThan(0);
    const ber = Uint8Array.from(der);
    ber[i + 2] = 0x01; // TRUE as 0x01: valid BER, not DER
    expect(typedError(() => parseCsr(ber)).message).toMatch(/BOOLEAN is not DER/);
    const bad = (bytes: number[]) => typedError(() => checkDer(Uint8Array.from(bytes))).message;
    expect(bad([0x30, 0x04, 0x02, 0x02, 0x00, 0x01])).toMatch(/INTEGER is not minimally encoded/);
    expect(bad([0x30, 0x04, 0x02, 0x02, 0xff, 0x80])).toMatch(/INTEGER is not minimally encoded/);
    expect(bad([0x30, 0x03, 0x03, 0x01, 0x01])).toMatch(/BIT STRING/);
    expect(bad([0x30, 0x05, 0x24, 0x03, 0x04, 0x01, 0x41])).toMatch(/constructed string/);
  });

  it("checkDer accepts well-formed DER", () => {
    const { der } = makeCsr(tempDir(), "ok", { sans: ["DNS:a.example.com"] });
    expect(() => checkDer(der)).not.toThrow();
  });
});
