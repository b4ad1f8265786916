import { constants, generateKeyPairSync, privateDecrypt } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { GatewayError } from "../../src/errors.js";
import { parseCsr } from "../../src/policy/csr.js";
import { decodeAttestationObject } from "../../protocols/acme/attest/statement.js";
import { importAccountJwk } from "../../protocols/acme/jwk.js";
import { parseJws } from "../../protocols/acme/jws.js";
import { CmpDecodeError, decodePkiMessage } from "../../protocols/cmp/codec.js";
import { macPlan } from "../../protocols/cmp/mac.js";
import { certRequests } from "../../protocols/cmp/requests.js";
import { templateRequest } from "../../protocols/cmp/template.js";
import { openPkiMessage, ScepFailure } from "../../protocols/scep/pki-message.js";

/*
 * The hostile-input corpus (made by make-testdata.ts), replayed: each file is refused by its own parser
 * with its own error, named here. A file without an expectation, or an expectation without a file, fails.
 */

const testdata = join(fileURLToPath(new URL(".", import.meta.url)), "testdata");
const files = readdirSync(testdata).sort();
const read = (f: string) => new Uint8Array(readFileSync(join(testdata, f)));

interface Refusal { code: string; message: RegExp; extra?: Record<string, unknown> }
type Run = (bytes: Uint8Array) => unknown;

const csr: Run = (b) => {
  const p = parseCsr(b);
  return [p.subject, p.sans];
};
const jws: Run = (b) => {
  const j = parseJws(Buffer.from(b));
  return j.header.jwk !== undefined ? importAccountJwk(j.header.jwk) : j;
};
const attObj: Run = (b) => decodeAttestationObject(Buffer.from(b).toString("base64url")).attStmt.certificates();
const CAPS = { maxIterations: 100_000, maxSaltBytes: 64, allowHmacSha1: false };
/** What the CMP handler reads first: the message, then the MAC parameters (a refusal there is a string), then the request. */
const cmp: Run = (b) => {
  const d = decodePkiMessage(b);
  const plan = macPlan(d.message.header.protectionAlg!, CAPS);
  if (typeof plan === "string") throw new GatewayError("RA_ERR_UNAUTHORIZED", plan);
  return d.bodyType === "ir" ? certRequests(d.message.body).map((r) => templateRequest(r.template)) : d;
};
const ra = generateKeyPairSync("rsa", { modulusLength: 2048 });
const scep: Run = (b) => openPkiMessage(b, {
  raCerts: [], rawRsaDecrypt: async (_i, block) => privateDecrypt({ key: ra.privateKey, padding: constants.RSA_NO_PADDING }, block), allowLegacy: false,
});

const EXPECT: Record<string, [Run, Refusal]> = {
  "csr_wrong_signature.der": [csr, { code: "RA_ERR_BAD_CSR_SIGNATURE", message: /does not verify/ }],
  "csr_san_extension_empty_value.der": [csr, { code: "RA_ERR_MALFORMED", message: /extension 2\.5\.29\.17 does not decode/ }],
  "csr_basic_constraints_not_der.der": [csr, { code: "RA_ERR_MALFORMED", message: /extension 2\.5\.29\.19 does not decode/ }],
  "csr_subject_truncated_oid.der": [csr, { code: "RA_ERR_MALFORMED", message: /subject is not a valid Name/ }],
  "csr_md5_signature.der": [csr, { code: "RA_ERR_WEAK_SIGNATURE_ALG", message: /MD5\/SHA-1/ }],
  "csr_deep_nesting.der": [csr, { code: "RA_ERR_DER_LIMIT", message: /nesting deeper than 24/ }],
  "csr_length_overflow.der": [csr, { code: "RA_ERR_DER_LIMIT", message: /runs past its container/ }],
  "csr_huge_length_field.der": [csr, { code: "RA_ERR_DER_LIMIT", message: /length field too long/ }],
  "csr_indefinite_length_ber.der": [csr, { code: "RA_ERR_DER_LIMIT", message: /indefinite length is not DER/ }],

  "jws_alg_none.json": [jws, { code: "RA_ERR_BAD_SIGNATURE_ALG", message: /"none" is not allowed/ }],
  "jws_alg_hs256.json": [jws, { code: "RA_ERR_BAD_SIGNATURE_ALG", message: /"HS256" is not allowed/ }],
  "jws_jwk_and_kid.json": [jws, { code: "RA_ERR_MALFORMED", message: /either jwk or kid, not both/ }],
  "jws_crit_header.json": [jws, { code: "RA_ERR_MALFORMED", message: /crit and b64/ }],
  "jws_general_serialization.json": [jws, { code: "RA_ERR_MALFORMED", message: /exactly one signature/ }],
  "jws_unprotected_header.json": [jws, { code: "RA_ERR_MALFORMED", message: /unprotected header/ }],
  "jws_private_key_in_jwk.json": [jws, { code: "RA_ERR_MALFORMED", message: /must be a public key/ }],
  "jws_duplicate_protected_member.json": [jws, { code: "RA_ERR_BAD_SIGNATURE_ALG", message: /"none" is not allowed/ }],
  "jws_deep_nesting.json": [jws, { code: "RA_ERR_MALFORMED", message: /flattened JWS object|not valid JSON/ }],
  "jws_not_json.json": [jws, { code: "RA_ERR_MALFORMED", message: /body is not valid JSON/ }],

  "attobj_not_a_map.cbor": [attObj, { code: "RA_ERR_BAD_ATTESTATION", message: /not a CBOR map/, extra: { check: "structure" } }],
  "attobj_duplicate_map_keys.cbor": [attObj, { code: "RA_ERR_BAD_ATTESTATION", message: /not well-formed CBOR/, extra: { check: "cbor" } }],
  "attobj_deep_nesting.cbor": [attObj, { code: "RA_ERR_BAD_ATTESTATION", message: /not well-formed CBOR/, extra: { check: "cbor" } }],
  "attobj_huge_declared_length.cbor": [attObj, { code: "RA_ERR_BAD_ATTESTATION", message: /not well-formed CBOR/, extra: { check: "cbor" } }],
  "attobj_tagged_value.cbor": [attObj, { code: "RA_ERR_BAD_ATTESTATION", message: /not well-formed CBOR/, extra: { check: "cbor" } }],
  "attobj_oversized.cbor": [attObj, { code: "RA_ERR_BAD_ATTESTATION", message: /larger than 32768 bytes/, extra: { check: "size" } }],
  "attobj_x5c_not_certificates.cbor": [attObj, { code: "RA_ERR_BAD_ATTESTATION", message: /x5c\[0\] is not a DER certificate/, extra: { check: "structure" } }],

  "scep_many_signers.der": [scep, { code: "RA_ERR_MALFORMED", message: /1000 SignerInfos instead of one/, extra: { failInfo: "badRequest" } }],
  "scep_no_signer.der": [scep, { code: "RA_ERR_MALFORMED", message: /0 SignerInfos instead of one/, extra: { failInfo: "badRequest" } }],
  "scep_enveloped_data_at_top.der": [scep, { code: "RA_ERR_MALFORMED", message: /not a SignedData/, extra: { failInfo: "badRequest" } }],
  "scep_indefinite_length_ber.der": [scep, { code: "RA_ERR_MALFORMED", message: /indefinite length is not DER/, extra: { failInfo: "badRequest" } }],
  "scep_trailing_garbage.der": [scep, { code: "RA_ERR_MALFORMED", message: /trailing data/, extra: { failInfo: "badRequest" } }],

  "cmp_pbm_iteration_count_2_pow_64.der": [cmp, { code: "RA_ERR_UNAUTHORIZED", message: /^iteration count 18446744073709551616 exceeds 100000$/ }],
  "cmp_pbm_iteration_count_1e9.der": [cmp, { code: "RA_ERR_UNAUTHORIZED", message: /^iteration count 1000000000 exceeds 100000$/ }],
  "cmp_pbm_zero_length_salt.der": [cmp, { code: "RA_ERR_UNAUTHORIZED", message: /^salt is empty$/ }],
  "cmp_pbm_huge_salt.der": [cmp, { code: "RA_ERR_UNAUTHORIZED", message: /^salt of 4000 bytes exceeds 64$/ }],
  "cmp_unknown_body_tag.der": [cmp, { code: "RA_ERR_MALFORMED", message: /PKIBody is missing or has an unknown tag/, extra: { failInfo: "badDataFormat" } }],
  "cmp_trailing_data.der": [cmp, { code: "RA_ERR_DER_LIMIT", message: /trailing data/, extra: { failInfo: "badDataFormat" } }],
  "cmp_protection_not_whole_octets.der": [cmp, { code: "RA_ERR_MALFORMED", message: /whole octets/, extra: { failInfo: "badDataFormat" } }],
  "cmp_ir_template_san_not_general_names.der": [cmp, { code: "RA_ERR_MALFORMED", message: /subjectAltName does not decode/, extra: { failInfo: "badDataFormat" } }],
};

describe("hostile-input corpus", () => {
  it("every file has an expectation and every expectation a file", () => {
    expect(files).toEqual(Object.keys(EXPECT).sort());
  });

  it.each(files)("%s", async (file) => {
    const [run, want] = EXPECT[file];
    const e = await Promise.resolve().then(() => run(read(file))).then(() => undefined, (x: unknown) => x);
    expect(e, `${file} was accepted`).toBeInstanceOf(GatewayError);
    const g = e as GatewayError;
    expect(g.code).toBe(want.code);
    expect(g.message).toMatch(want.message);
    if (want.extra?.check) expect(g.detail?.check).toBe(want.extra.check);
    if (want.extra?.failInfo) {
      expect(g).toSatisfy((x: unknown) => x instanceof ScepFailure || x instanceof CmpDecodeError);
      expect((g as ScepFailure | CmpDecodeError).failInfo).toBe(want.extra.failInfo);
    }
  });
});
