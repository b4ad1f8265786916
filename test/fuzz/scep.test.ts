import { constants, createPrivateKey, privateDecrypt, randomBytes, X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { checkDer } from "../../src/asn1/der-limits.js";
import { OID } from "../../src/cms/der.js";
import { CmsFormatError, readContentInfo, readEnvelopedData, readKeyTrans, readSignedData, readSignerInfo } from "../../src/cms/read.js";
import { GatewayError } from "../../src/errors.js";
import { parseCsr } from "../../src/policy/csr.js";
import { openPkiMessage, parseIssuerAndSerial, parseIssuerAndSubject, ScepFailure, type OpenOptions } from "../../protocols/scep/pki-message.js";
import { buildPkiMessage, pkcsPkiEnvelope, type PkiMessageInput } from "../helpers/scep-client.js";
import { makeCsr } from "../helpers/csr.js";
import { opensslAsync, tempDir } from "../helpers/openssl.js";
import { encodeTree, parseTree } from "./der-tree.js";
import { budget, typedOrValue, typedOrValueAsync } from "./fuzz.js";
import { mutatedDer } from "./mutate.js";

interface Party { der: Uint8Array; key: KeyObject }
let ra: Party;
let client: Party;
let csr: Uint8Array;
let issuerAndSerial: Uint8Array;
let issuerAndSubject: Uint8Array;
let valid: Uint8Array;

async function selfSigned(dir: string, name: string): Promise<Party> {
  const r = await opensslAsync(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, `${name}.key`), "-subj", `/O=SCEP Fuzz/CN=${name}`, "-days", "2", "-out", join(dir, `${name}.pem`)]);
  if (r.code !== 0) throw new Error(r.out);
  return { der: new Uint8Array(new X509Certificate(readFileSync(join(dir, `${name}.pem`))).raw), key: createPrivateKey(readFileSync(join(dir, `${name}.key`))) };
}

beforeAll(async () => {
  const dir = tempDir("fuzz-scep-");
  [ra, client] = await Promise.all([selfSigned(dir, "ra"), selfSigned(dir, "client")]);
  const made = makeCsr(dir, "csr", { subject: "/CN=device.example.com", sans: "DNS:device.example.com", challengePassword: "fuzz-Challenge-1", key: join(dir, "client.key") });
  csr = new Uint8Array(Buffer.from(readFileSync(made.csrPem, "utf8").replace(/-----[^-]+-----|\s+/g, ""), "base64"));
  // IssuerAndSerialNumber and IssuerAndSubject of the RA certificate, from its own TBS.
  const tbs = parseTree(ra.der)!.children![0].children!;
  const at = tbs[0].tag === 0xa0 ? 1 : 0;
  issuerAndSerial = new Uint8Array(encodeTree({ tag: 0x30, children: [tbs[at + 2], tbs[at]] }));
  issuerAndSubject = new Uint8Array(encodeTree({ tag: 0x30, children: [tbs[at + 2], tbs[at + 4]] }));
  valid = buildPkiMessage(input());
});

const input = (o: Partial<PkiMessageInput> = {}): PkiMessageInput => ({
  messageType: 19, transactionId: "FUZZ-0001", senderNonce: new Uint8Array(randomBytes(16)), content: csr,
  signerCert: client.der, signerKey: client.key, recipientCert: ra.der, digest: "sha256", contentEncryption: "aes-256-cbc", ...o,
});

const options = (): OpenOptions => ({
  raCerts: [ra.der],
  rawRsaDecrypt: async (_i, block) => privateDecrypt({ key: ra.key, padding: constants.RSA_NO_PADDING }, block),
  allowLegacy: false,
});

/** openPkiMessage's only refusal is a ScepFailure (a GatewayError with a failInfo). */
async function open(der: Uint8Array): Promise<"value" | "failure"> {
  const r = await typedOrValueAsync(() => openPkiMessage(der, options()));
  if (r instanceof Error) {
    expect(r).toBeInstanceOf(ScepFailure);
    expect(["badAlg", "badMessageCheck", "badRequest", "badTime", "badCertId"]).toContain((r as ScepFailure).failInfo);
    return "failure";
  }
  return "value";
}

describe("SCEP pkiMessage (openPkiMessage)", () => {
  it("the valid seed opens", async () => {
    expect(await open(valid)).toBe("value");
  });

  it("a mutated pkiMessage opens or fails with a ScepFailure", async () => {
    await fc.assert(fc.asyncProperty(mutatedDer(valid), async (der) => {
      await open(der);
    }), budget(250, 2500));
  });

  it("a mutated pkcsPKIEnvelope, signed again by the client, reaches the envelope reader and the key transport", async () => {
    const envelope = pkcsPkiEnvelope(csr, ra.der, "aes-256-cbc");
    const seen = new Set<string>();
    await fc.assert(fc.asyncProperty(mutatedDer(envelope), async (env) => {
      seen.add(await open(buildPkiMessage(input({ envelope: env }))));
    }), budget(100, 2000));
    expect(seen).toContain("failure");
  });

  it("mutated messageData in a valid envelope opens, and its reader gives a value or a GatewayError", async () => {
    const seeds: Array<[Uint8Array, (b: Uint8Array) => unknown]> = [
      [csr, (b) => { const p = parseCsr(b); return [p.subject, p.sans, p.challengePassword]; }],
      [issuerAndSerial, parseIssuerAndSerial],
      [issuerAndSubject, parseIssuerAndSubject],
    ];
    const outcomes = { value: 0, error: 0 };
    await fc.assert(fc.asyncProperty(fc.nat({ max: seeds.length - 1 }).chain((i) => fc.tuple(fc.constant(i), mutatedDer(seeds[i][0]))), async ([i, data]) => {
      fc.pre(data.length > 0);
      let req;
      try {
        req = await openPkiMessage(buildPkiMessage(input({ content: data })), options());
      } catch (e) {
        // Only what is not one DER SEQUENCE after decryption is refused here, as badMessageCheck.
        expect(e).toBeInstanceOf(ScepFailure);
        expect((e as ScepFailure).failInfo).toBe("badMessageCheck");
        return;
      }
      const r = typedOrValue(() => seeds[i][1](req.content));
      outcomes[r instanceof GatewayError ? "error" : "value"]++;
    }), budget(150, 2500));
    expect(outcomes.error).toBeGreaterThan(0);
  });
});

describe("CMS readers (src/cms/read.ts)", () => {
  it("read a mutated SignedData and EnvelopedData or throw CmsFormatError", () => {
    const envelope = pkcsPkiEnvelope(csr, ra.der, "aes-128-cbc");
    fc.assert(fc.property(mutatedDer(valid, envelope), (der) => {
      try {
        checkDer(der, { maxBytes: 256 * 1024, maxDepth: 32, maxNodes: 20_000 });
      } catch {
        fc.pre(false); // the readers are only given what checkDer passed
      }
      typedOrValue(() => {
        const ci = readContentInfo(der);
        if (ci.type === OID.signedData) {
          const sd = readSignedData(der, ci.content);
          for (const si of sd.signerInfos) readSignerInfo(der, si);
        } else {
          const env = readEnvelopedData(der, ci.content);
          for (const ri of env.recipientInfos) if (ri.tag === 0x30) readKeyTrans(der, ri);
        }
      }, CmsFormatError);
    }), budget(600, 2000));
  });
});
