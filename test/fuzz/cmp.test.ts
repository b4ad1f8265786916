import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCsr } from "../../src/policy/csr.js";
import { CmpDecodeError, decodePkiMessage, encodePkiMessage, type DecodedMessage } from "../../protocols/cmp/codec.js";
import { macPlan } from "../../protocols/cmp/mac.js";
import { macAlgorithmOf, verifySignature } from "../../protocols/cmp/protection.js";
import { certConfirms, certRequests, genmInfos, p10Request, pollReqIds, revDetails } from "../../protocols/cmp/requests.js";
import { commonNameOf, templateRequest } from "../../protocols/cmp/template.js";
import { cmp, CmpStub, makePki, ok, type CmpPki } from "../cmp/codec-helpers.js";
import { budget, typedOrValue } from "./fuzz.js";
import { mutatedDer } from "./mutate.js";

/*
 * PKIMessages made by `openssl cmp` (captured, never answered), mutated and decoded; what decodes is read
 * the way the handler reads it: protection parameters, then the body's reader for its type.
 */

let pki: CmpPki;
let stub: CmpStub;
const cap: Record<string, Uint8Array> = {};
const CAPS = { maxIterations: 100_000, maxSaltBytes: 64, allowHmacSha1: false };

beforeAll(async () => {
  pki = await makePki();
  stub = await CmpStub.start();
  const mac = ["-ref", "client1", "-secret", "pass:cmp-Fuzz-secret-1", "-recipient", "/O=CMP Test/CN=CMP Test CA", "-mac", "hmacWithSHA256"];
  const newKey = ["-newkey", pki.newKey, "-certout", join(pki.dir, "never.pem"), "-subject", "/CN=device.example.com"];
  await ok(["req", "-new", "-key", pki.newKey, "-subj", "/CN=device.example.com", "-outform", "DER", "-out", join(pki.dir, "p10.csr")]);
  const runs: Record<string, string[]> = {
    ir: ["-cmd", "ir", ...mac, ...newKey],
    cr: ["-cmd", "cr", ...mac, ...newKey, "-days", "10", "-sans", "a.example.com 10.1.2.3", "-implicit_confirm"],
    p10cr: ["-cmd", "p10cr", ...mac, "-csr", join(pki.dir, "p10.csr"), "-certout", join(pki.dir, "never.pem")],
    kur: ["-cmd", "kur", "-cert", pki.client.cert, "-key", pki.client.key, "-recipient", "/O=CMP Test/CN=CMP Test CA", ...newKey],
    rr: ["-cmd", "rr", ...mac, "-oldcert", pki.issued.cert, "-revreason", "1"],
    genm: ["-cmd", "genm", ...mac, "-infotype", "signKeyPairTypes"],
  };
  for (const [name, args] of Object.entries(runs)) {
    stub.reset();
    const r = await cmp(stub, args);
    if (stub.requests.length !== 1) throw new Error(`${name}: nothing captured\n${r.out}`);
    cap[name] = stub.requests[0];
  }
});
afterAll(async () => {
  await stub?.close();
});

/** Everything the handler reads before acting; throws only what the handler maps to a CMP error. */
function readLikeHandler(d: DecodedMessage): unknown[] {
  const h = d.message.header;
  const kind = macAlgorithmOf(h);
  const out: unknown[] = [kind, d.messageTime];
  if (kind === "pbm" || kind === "pbmac1") out.push(macPlan(h.protectionAlg!, CAPS));
  if (kind === "signature") out.push(verifySignature(d));
  const b = d.message.body;
  switch (d.bodyType) {
    case "ir": case "cr": case "kur":
      for (const r of certRequests(b)) out.push(r.popo.kind, r.popo.verify(), r.oldCertId, commonNameOf(r.template.subject), templateRequest(r.template));
      break;
    case "p10cr": {
      const p = parseCsr(p10Request(b));
      out.push(p.subject, p.sans);
      break;
    }
    case "rr": out.push(revDetails(b).map((r) => [r.reason, r.issuer, r.serialHex])); break;
    case "genm": out.push(genmInfos(b)); break;
    case "certConf": out.push(certConfirms(b)); break;
    case "pollReq": out.push(pollReqIds(b)); break;
    default:
  }
  return out;
}

describe("CMP PKIMessage (decodePkiMessage and the body readers)", () => {
  it("every capture decodes and reads", () => {
    for (const [name, der] of Object.entries(cap)) expect(() => readLikeHandler(decodePkiMessage(der)), name).not.toThrow();
  });

  it("a mutated message decodes and reads, or fails with CmpDecodeError or another GatewayError", () => {
    const outcomes = { value: 0, error: 0 };
    fc.assert(fc.property(mutatedDer(...Object.values(cap)), (der) => {
      const r = typedOrValue(() => readLikeHandler(decodePkiMessage(der)));
      outcomes[r instanceof Error ? "error" : "value"]++;
      if (r instanceof Error && !(r instanceof CmpDecodeError)) expect(r.name).toBe("GatewayError");
    }), budget(500, 3000));
    expect(outcomes.value).toBeGreaterThan(0);
    expect(outcomes.error).toBeGreaterThan(0);
  });

  it("a mutated header or body, put back between the received parts, reaches the schema codec and the readers", () => {
    const parts = Object.values(cap).map((der) => decodePkiMessage(der));
    const headers = parts.map((d) => d.header);
    const bodies = parts.map((d) => d.body);
    fc.assert(fc.property(fc.nat({ max: parts.length - 1 }), fc.boolean(), fc.nat({ max: parts.length - 1 }).chain((i) => fc.tuple(mutatedDer(headers[i]), mutatedDer(bodies[i]))), (i, which, [h, b]) => {
      const d = parts[i];
      const der = which ? encodePkiMessage(h, d.body, d.protection, d.extraCerts) : encodePkiMessage(d.header, b, d.protection, d.extraCerts);
      typedOrValue(() => readLikeHandler(decodePkiMessage(der)));
    }), budget(500, 3000));
  });
});
