import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import type { CertificateAuthority } from "../../src/ca/authority.js";
import { OcspResponder, type StatusLookup } from "../../src/revocation/ocsp.js";
import { ocspHttp } from "../../src/server/ocsp-http.js";
import { SqliteStore } from "../../src/store/sqlite/store.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { addIssued, countSignatures, newSerial, ocspRequest, parseResponse } from "./ocsp-helpers.js";

let t: TestGateway;
let ca: CertificateAuthority;
let signatures: { readonly count: number };
let responder: OcspResponder;
/** Another connection to the same database file: what a second gateway instance would hold. */
let other: SqliteStore;
const req = (serials: string[], nonce?: Uint8Array) => ocspRequest(ca.certDer, serials, nonce);

beforeAll(async () => {
  t = await testGateway();
  ca = t.gw.cas.issuing[0];
  signatures = countSignatures(ca);
  responder = ocspHttp(t.gw).responder;
  other = new SqliteStore(t.gw.paths.db);
});
afterAll(async () => {
  await other?.close();
  await t?.gw.close();
});

describe("pre-signed OCSP responses", () => {
  it("a second request for the same certificate is served without signing, byte for byte the same", async () => {
    const serial = await addIssued(t.gw.store, ca.name);
    const before = signatures.count;
    const first = await responder.respond(req([serial]));
    expect(first.cached).toBe(false);
    expect(parseResponse(first.der).certs).toEqual([{ status: "good" }]);
    expect(signatures.count).toBe(before + 1);
    for (let i = 0; i < 3; i++) {
      const again = await responder.respond(req([serial]));
      expect(again.cached).toBe(true);
      expect(Buffer.from(again.der).equals(Buffer.from(first.der))).toBe(true);
      expect(again.etag).toBe(first.etag);
    }
    expect(signatures.count).toBe(before + 1);
  });

  it("concurrent first requests share one signature", async () => {
    const serial = await addIssued(t.gw.store, ca.name);
    const before = signatures.count;
    const answers = await Promise.all(Array.from({ length: 5 }, () => responder.respond(req([serial]))));
    expect(signatures.count).toBe(before + 1);
    expect(new Set(answers.map((a) => Buffer.from(a.der).toString("hex"))).size).toBe(1);
  });

  it("a revocation by another Store on the same database shows in the very next answer; a hold release flips it back", async () => {
    const serial = await addIssued(t.gw.store, ca.name);
    expect(parseResponse((await responder.respond(req([serial]))).der).certs[0].status).toBe("good");
    expect((await responder.respond(req([serial]))).cached).toBe(true);

    const at = new Date(Math.floor(Date.now() / 1000) * 1000);
    expect(await other.revoke(serial, 6, at.toISOString())).toBe(true);
    const held = await responder.respond(req([serial]));
    expect(held.cached).toBe(false);
    expect(parseResponse(held.der).certs).toEqual([{ status: "revoked", reason: 6, revokedAt: at }]);
    expect((await responder.respond(req([serial]))).cached).toBe(true);

    expect(await other.releaseHold(serial)).toBe(true);
    const released = await responder.respond(req([serial]));
    expect(released.cached).toBe(false);
    expect(parseResponse(released.der).certs).toEqual([{ status: "good" }]);

    expect(await other.revoke(serial, 1, at.toISOString())).toBe(true);
    expect(parseResponse((await responder.respond(req([serial]))).der).certs).toEqual([{ status: "revoked", reason: 1, revokedAt: at }]);
  });

  it("a nonce is echoed, every nonce request is signed, and none is kept or served from the cache", async () => {
    const serial = await addIssued(t.gw.store, ca.name);
    const plain = await responder.respond(req([serial]));
    const kept = responder.cachedCount;
    for (let i = 0; i < 2; i++) {
      const before = signatures.count;
      const nonce = randomBytes(16);
      const a = await responder.respond(req([serial], nonce));
      expect(a.cached).toBe(false);
      expect(a.etag).toBeUndefined();
      expect(signatures.count).toBe(before + 1);
      // extnValue is an OCTET STRING holding the nonce (RFC 8954), echoed as sent.
      expect(parseResponse(a.der).nonceHex).toBe(`0410${nonce.toString("hex")}`);
    }
    expect(responder.cachedCount).toBe(kept);
    const again = await responder.respond(req([serial]));
    expect(again.cached).toBe(true);
    expect(Buffer.from(again.der).equals(Buffer.from(plain.der))).toBe(true);
  });

  it("several CertIDs in one request are signed fresh; unknown serials and foreign issuers answer as before", async () => {
    const a = await addIssued(t.gw.store, ca.name);
    const unknown = newSerial();
    for (let i = 0; i < 2; i++) {
      const before = signatures.count;
      const r = await responder.respond(req([a, unknown]));
      expect(r.cached).toBe(false);
      expect(parseResponse(r.der).certs.map((c) => c.status)).toEqual(["good", "unknown"]);
      expect(signatures.count).toBe(before + 1);
    }
    expect(parseResponse((await responder.respond(req([unknown]))).der).certs).toEqual([{ status: "unknown" }]);
    // An issued certificate of another CA is unknown to this one; a CertID naming the root (no responder) is unauthorized.
    const root = t.gw.cas.all.find((c) => c.role === "root")!;
    const rootSerial = await addIssued(t.gw.store, root.name);
    expect(parseResponse((await responder.respond(req([rootSerial]))).der).certs).toEqual([{ status: "unknown" }]);
    expect(Array.from((await responder.respond(ocspRequest(root.certDer, [rootSerial]))).der)).toEqual([0x30, 0x03, 0x0a, 0x01, 6]);
  });

  it("garbage, truncated, oversized and mis-typed requests get malformedRequest", async () => {
    const good = req([newSerial()]);
    for (const bad of [Uint8Array.of(1, 2, 3), good.subarray(0, good.length - 1), Buffer.concat([good, Uint8Array.of(0)]),
      Uint8Array.of(0x04, 0x02, 0x30, 0x00), Buffer.concat([Uint8Array.of(0x30, 0x82, 0x23, 0x2c), new Uint8Array(9004)])]) {
      expect(Array.from((await responder.respond(bad)).der)).toEqual([0x30, 0x03, 0x0a, 0x01, 1]);
    }
    // A CertID whose serial is an OCTET STRING instead of an INTEGER.
    const mangled = Buffer.from(good);
    mangled[mangled.length - 18] = 0x04;
    expect(Array.from((await responder.respond(mangled)).der)).toEqual([0x30, 0x03, 0x0a, 0x01, 1]);
  });
});

describe("refresh and bounds (controlled clock)", () => {
  const statuses = new Map<string, "good">();
  const lookup: StatusLookup = (_ca, serial) => (statuses.has(serial) ? { status: "good" } : { status: "unknown" });

  it("a kept response is used until half its validity, then signed again with a new thisUpdate", async () => {
    let now = new Date("2030-01-01T00:00:00Z");
    const r = new OcspResponder(() => [ca], lookup, { validityMinutes: 60, cacheEntries: 10, now: () => now });
    const serial = newSerial();
    statuses.set(serial, "good");
    const before = signatures.count;
    const first = await r.respond(req([serial]));
    expect(first.thisUpdate?.toISOString()).toBe("2030-01-01T00:00:00.000Z");
    expect(first.nextUpdate?.toISOString()).toBe("2030-01-01T01:00:00.000Z");
    now = new Date("2030-01-01T00:29:59Z");
    expect((await r.respond(req([serial]))).cached).toBe(true);
    now = new Date("2030-01-01T00:30:00Z");
    const refreshed = await r.respond(req([serial]));
    expect(refreshed.cached).toBe(false);
    expect(refreshed.thisUpdate?.toISOString()).toBe("2030-01-01T00:30:00.000Z");
    expect(parseResponse(refreshed.der).nextUpdate?.toISOString()).toBe("2030-01-01T01:30:00.000Z");
    expect(signatures.count).toBe(before + 2);
    expect((await r.respond(req([serial]))).cached).toBe(true);
  });

  it("memory is bounded: the least recently used response is dropped", async () => {
    const r = new OcspResponder(() => [ca], lookup, { validityMinutes: 60, cacheEntries: 2 });
    const serials = [newSerial(), newSerial(), newSerial()];
    for (const s of serials) await r.respond(req([s]));
    expect(r.cachedCount).toBe(2);
    expect((await r.respond(req([serials[2]]))).cached).toBe(true);
    expect((await r.respond(req([serials[0]]))).cached).toBe(false);
  });

  it("with cacheEntries 0 every response is signed", async () => {
    const r = new OcspResponder(() => [ca], lookup, { validityMinutes: 60, cacheEntries: 0 });
    const serial = newSerial();
    const before = signatures.count;
    await r.respond(req([serial]));
    expect((await r.respond(req([serial]))).cached).toBe(false);
    expect(signatures.count).toBe(before + 2);
    expect(r.cachedCount).toBe(0);
  });
});
