import { checkDer } from "../../src/asn1/der-limits.js";
import { oidDer } from "../../src/asn1/der-values.js";
import { childSpans, header } from "../../src/asn1/der-walk.js";
import { GatewayError } from "../../src/errors.js";

/** PKCS#9 challengePassword (RFC 2985 §5.4.1), read for proof-of-possession linking (RFC 7030 §3.5). */
const CHALLENGE_PASSWORD = "1.2.840.113549.1.9.7";
/** RFC 7030 §4.4.1.1 (from RFC 4108 §2.2.5): the symmetric key the client wants the key encrypted with. */
const ID_AA_DECRYPT_KEY_ID = "1.2.840.113549.1.9.16.2.37";
/** RFC 7030 §4.4.1.2 / §8 (IANA): the asymmetric key the client wants the key encrypted to. */
const ID_AA_ASYMM_DECRYPT_KEY_ID = "1.2.840.113549.1.9.16.2.54";

const MAX_CSR_BYTES = 64 * 1024;
const MAX_ATTRIBUTES = 32;
/** pkcs-9-ub-challengePassword (RFC 2985 §A). */
const MAX_PASSWORD_CHARS = 255;
const MAX_KEY_ID_BYTES = 1024;

export interface CsrRequestAttributes {
  challengePassword?: string;
  asymmetricDecryptKeyId?: Uint8Array;
  decryptKeyId?: Uint8Array;
}

function bad(why: string): GatewayError {
  return new GatewayError("RA_ERR_MALFORMED", `CSR attributes: ${why}`);
}

/**
 * The request attributes of a PKCS#10 CSR that EST acts on, by a bounded DER walk (no signature check:
 * the CSR's signature was verified elsewhere). Throws a GatewayError (an Error) with a clear message on
 * anything malformed: over 64 KiB, BER, a wrong structure, more than 32 attributes, an attribute repeated
 * or with other than one value, a password that is not a Printable/UTF8/IA5/BMP string.
 */
export function readCsrRequestAttributes(csrDer: Uint8Array): CsrRequestAttributes {
  if (!(csrDer instanceof Uint8Array)) throw bad("the CSR is not a byte array");
  if (csrDer.length > MAX_CSR_BYTES) throw bad(`the CSR is ${csrDer.length} bytes, over the ${MAX_CSR_BYTES}-byte limit`);
  checkDer(csrDer, { maxBytes: MAX_CSR_BYTES, maxDepth: 24, maxNodes: 4000 }); // lengths are trustworthy after this

  const top = expect(csrDer, [0, csrDer.length], 0x30, "CertificationRequest");
  if (top.length !== 3) throw bad("a CertificationRequest has exactly info, algorithm and signature");
  const info = expect(csrDer, top[0], 0x30, "certificationRequestInfo");
  if (info.length < 3 || info.length > 4) throw bad("certificationRequestInfo has the wrong number of fields");
  if (!info[3]) return {}; // attributes [0] is mandatory in PKCS#10, but some encoders drop an empty one
  const attrs = expect(csrDer, info[3], 0xa0, "attributes [0]");
  if (attrs.length > MAX_ATTRIBUTES) throw bad(`${attrs.length} attributes, more than ${MAX_ATTRIBUTES}`);

  const out: CsrRequestAttributes = {};
  const seen = new Set<string>();
  for (const attr of attrs) {
    const parts = expect(csrDer, attr, 0x30, "Attribute");
    if (parts.length !== 2 || csrDer[parts[0][0]] !== 0x06) throw bad("an Attribute is not { type OBJECT IDENTIFIER, values SET }");
    const type = Buffer.from(csrDer.subarray(parts[0][0], parts[0][1])).toString("hex");
    const name = WANTED.get(type);
    if (!name) continue; // not ours: extensionRequest and others are parsed elsewhere
    if (seen.has(name)) throw bad(`the ${name} attribute appears more than once`);
    seen.add(name);
    const values = expect(csrDer, parts[1], 0x31, `${name} values`);
    if (values.length !== 1) throw bad(`the ${name} attribute must have exactly one value, not ${values.length}`);
    const [start, end] = values[0];
    const tag = csrDer[start];
    const content = csrDer.subarray(header(csrDer, start).contentStart, end);
    if (name === "challengePassword") out.challengePassword = directoryString(tag, content);
    else {
      if (tag !== 0x04) throw bad(`${name} must be an OCTET STRING`);
      if (content.length === 0 || content.length > MAX_KEY_ID_BYTES) throw bad(`${name} must be 1 to ${MAX_KEY_ID_BYTES} bytes, not ${content.length}`);
      out[name] = Uint8Array.from(content); // a copy: callers keep it beyond the request buffer
    }
  }
  return out;
}

const WANTED = new Map<string, "challengePassword" | "decryptKeyId" | "asymmetricDecryptKeyId">([
  [Buffer.from(oidDer(CHALLENGE_PASSWORD)).toString("hex"), "challengePassword"],
  [Buffer.from(oidDer(ID_AA_DECRYPT_KEY_ID)).toString("hex"), "decryptKeyId"],
  [Buffer.from(oidDer(ID_AA_ASYMM_DECRYPT_KEY_ID)).toString("hex"), "asymmetricDecryptKeyId"],
]);

/** Children of the constructed value at `span`, after checking its tag. */
function expect(der: Uint8Array, span: [number, number], tag: number, what: string): Array<[number, number]> {
  if (der[span[0]] !== tag) throw bad(`${what} has tag 0x${der[span[0]].toString(16)}, expected 0x${tag.toString(16)}`);
  return childSpans(der, span[0]);
}

const ASCII = /^[\x00-\x7f]*$/;

/** challengePassword ::= DirectoryString (RFC 2985 §5.4.1): the string types clients actually send. */
function directoryString(tag: number, content: Uint8Array): string {
  let text: string;
  try {
    switch (tag) {
      case 0x13: // PrintableString: its alphabet is not enforced (clients put "_" or "@" in it; OpenSSL reads those too)
      case 0x16: // IA5String
        text = Buffer.from(content).toString("latin1");
        if (!ASCII.test(text)) throw bad(`challengePassword ${tag === 0x13 ? "PrintableString" : "IA5String"} has non-ASCII bytes`);
        break;
      case 0x0c: // UTF8String
        text = new TextDecoder("utf-8", { fatal: true }).decode(content);
        break;
      case 0x1e: // BMPString: UTF-16BE
        if (content.length % 2) throw bad("challengePassword BMPString has an odd length");
        text = new TextDecoder("utf-16be", { fatal: true }).decode(content);
        break;
      default:
        throw bad(`challengePassword has string tag 0x${tag.toString(16)}; PrintableString, UTF8String, IA5String or BMPString expected`);
    }
  } catch (e) {
    if (e instanceof GatewayError) throw e;
    throw bad(`challengePassword is not valid text: ${(e as Error).message}`);
  }
  if ([...text].length > MAX_PASSWORD_CHARS) throw bad(`challengePassword is longer than ${MAX_PASSWORD_CHARS} characters`);
  return text;
}
