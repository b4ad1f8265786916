import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { derToPem, type CertificateAuthority } from "../../src/ca/authority.js";
import { childSpans } from "../../src/asn1/der-walk.js";
import { buildCrl, type RevokedEntry } from "../../src/revocation/crl-der.js";
import { serialHex } from "../../src/ca/serial.js";
import { openssl, tempDir } from "../helpers/openssl.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { buildCrlReference } from "./crl-reference.js";

/** The streamed encoder against the object-tree one it replaced: same TBSCertList bytes, and OpenSSL verifies it. */
let t: TestGateway;
let ca: CertificateAuthority;
let dir: string;
beforeAll(async () => {
  t = await testGateway();
  ca = t.gw.cas.issuing[0];
  dir = tempDir();
  writeFileSync(join(dir, "ca.pem"), derToPem(ca.certDer));
});
afterAll(async () => t?.gw.close());

const tbsOf = (der: Uint8Array) => {
  const [s, e] = childSpans(der)[0];
  return Buffer.from(der.subarray(s, e)).toString("hex");
};
const thisUpdate = new Date("2025-03-04T05:06:07.890Z");
const nextUpdate = new Date("2025-03-05T05:06:07.890Z");

describe("streamed CRL encoder", () => {
  it("writes the same TBSCertList as the object-tree encoder: reasons, unspecified without extension, high-bit and short serials", async () => {
    const entries: RevokedEntry[] = [
      { serial: "01", revokedAt: "2024-01-01T00:00:00.000Z", reason: 0 },
      { serial: "ff", revokedAt: "2024-01-01T00:00:00.000Z", reason: 1 },
      { serial: serialHex(Buffer.from("80".padEnd(34, "1"), "hex")), revokedAt: "2024-06-30T23:59:59.000Z", reason: 6 },
      { serial: "7fffffffffffffffffffffffffffffffff", revokedAt: "2049-12-31T23:59:59.000Z", reason: 4 },
      { serial: "abc", revokedAt: "2050-01-01T00:00:00.000Z", reason: 9 }, // odd length; GeneralizedTime from 2050
      ...Array.from({ length: 20 }, (_, i) => ({ serial: serialHex(randomBytes(17)), revokedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, i)).toISOString(), reason: [0, 1, 3, 4, 5, 6, 9][i % 7] })),
    ];
    for (const n of [1, 2, 70_000]) {
      const ours = await buildCrl(ca, entries, n, thisUpdate, nextUpdate);
      const ref = await buildCrlReference(ca, entries, n, thisUpdate, nextUpdate);
      expect(tbsOf(ours)).toBe(tbsOf(ref));
      // AlgorithmIdentifier after the TBS is identical too; only the (randomised ECDSA) signature differs.
      expect(Buffer.from(ours.subarray(...childSpans(ours)[1])).equals(Buffer.from(ref.subarray(...childSpans(ref)[1])))).toBe(true);
    }
  });

  it("an empty CRL has no revokedCertificates field, like before; a far nextUpdate uses GeneralizedTime", async () => {
    const ours = await buildCrl(ca, [], 3, thisUpdate, new Date("2051-01-01T00:00:00Z"));
    const ref = await buildCrlReference(ca, [], 3, thisUpdate, new Date("2051-01-01T00:00:00Z"));
    expect(tbsOf(ours)).toBe(tbsOf(ref));
    expect(childSpans(ours, childSpans(ours)[0][0]).length).toBe(6); // version, signature, issuer, thisUpdate, nextUpdate, [0] extensions
  });

  it("long-form lengths (a CRL over 64 KiB) come out right and OpenSSL verifies the signature", async () => {
    const entries = Array.from({ length: 3000 }, (_, i) => ({ serial: serialHex(randomBytes(17)), revokedAt: new Date(Date.UTC(2025, 1, 1, 0, 0, i)).toISOString(), reason: i % 2 ? 1 : 0 }));
    const ours = await buildCrl(ca, entries, 42, thisUpdate, nextUpdate);
    expect(ours.length).toBeGreaterThan(65_536);
    expect(tbsOf(ours)).toBe(tbsOf(await buildCrlReference(ca, entries, 42, thisUpdate, nextUpdate)));
    writeFileSync(join(dir, "big.crl"), ours);
    const out = openssl(["crl", "-inform", "DER", "-in", join(dir, "big.crl"), "-CAfile", join(dir, "ca.pem"), "-verify", "-noout", "-crlnumber"]);
    expect(out).toMatch(/verify OK/);
    expect(out).toMatch(/crlNumber=0x2A/i);
  });

  it("refuses a serial that is not hex and a reason that is not a CRLReason", async () => {
    await expect(buildCrl(ca, [{ serial: "zz", revokedAt: "2024-01-01T00:00:00.000Z", reason: 0 }], 1, thisUpdate, nextUpdate)).rejects.toThrow(/not hex/);
    await expect(buildCrl(ca, [{ serial: "01", revokedAt: "2024-01-01T00:00:00.000Z", reason: 11 }], 1, thisUpdate, nextUpdate)).rejects.toThrow(/CRLReason/);
  });
});
