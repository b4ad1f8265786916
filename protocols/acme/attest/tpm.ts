import { createHash, timingSafeEqual, verify, type X509Certificate } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { BasicConstraints, Certificate, SubjectAlternativeName } from "@peculiar/asn1-x509";
import { deviceNameFromOtherName, parseHardwareModule, parsePermanentId, type HardwareModule, type PermanentId } from "../../../src/asn1/device-names.js";
import { GatewayError } from "../../../src/errors.js";
import { checkAttestationChain } from "./chain.js";
import { attestationFailure } from "./statement.js";
import {
  FIXED_TPM, SENSITIVE_DATA_ORIGIN, TPM_GENERATED_VALUE, TPM_ST_ATTEST_CERTIFY, TpmParseError, parseTpmsAttest, parseTpmtPublic, signatureBytes, tpmName,
} from "./tpm-structures.js";
import type { AttestationInput, AttestationResult } from "./types.js";

const AIK_CERTIFICATE_EKU = "2.23.133.8.3";
const SAN = "2.5.29.17";
const BASIC_CONSTRAINTS = "2.5.29.19";
const TPM_MANUFACTURER = "2.23.133.2.1";
const TPM_MODEL = "2.23.133.2.2";
const TPM_VERSION = "2.23.133.2.3";
/** COSE alg → the AK key type and digest of the certInfo signature (RS1 is still common in TPMs). */
const ALGS: Record<number, { key: "rsa" | "ec"; digest: string }> = { [-257]: { key: "rsa", digest: "sha256" }, [-7]: { key: "ec", digest: "sha256" }, [-65535]: { key: "rsa", digest: "sha1" } };

const fail = (check: string, message: string) => attestationFailure("tpm", check, message);

interface AkFacts {
  manufacturer: string;
  model: string;
  version: string;
  permanentIds: PermanentId[];
  hardwareModules: HardwareModule[];
}

/**
 * The AK certificate shape (WebAuthn §8.3.1, TCG EK profile §3.2.9): version 3, empty subject, not a CA,
 * EKU tcg-kp-AIKCertificate, and a critical SAN naming the TPM (manufacturer, model, version).
 */
export function checkAkCertificate(ak: X509Certificate): AkFacts {
  const tbs = AsnConvert.parse(ak.raw, Certificate).tbsCertificate;
  if (tbs.version !== 2) throw fail("ak-certificate", "the AK certificate is not version 3");
  if (tbs.subject.length !== 0) throw fail("ak-certificate", "the AK certificate's subject must be empty");
  // From the extension itself: node's `ca` also wants keyCertSign, so a CA:TRUE AK without it would pass.
  const bc = tbs.extensions?.find((e) => e.extnID === BASIC_CONSTRAINTS);
  if (bc && AsnConvert.parse(bc.extnValue, BasicConstraints).cA) throw fail("ak-certificate", "the AK certificate must not be a CA");
  if (!ak.keyUsage?.includes(AIK_CERTIFICATE_EKU)) throw fail("ak-certificate", "the AK certificate lacks the EKU tcg-kp-AIKCertificate (2.23.133.8.3)");
  const san = tbs.extensions?.find((e) => e.extnID === SAN);
  if (!san?.critical) throw fail("ak-certificate", "the AK certificate needs a critical subjectAltName naming the TPM");
  const facts: AkFacts = { manufacturer: "", model: "", version: "", permanentIds: [], hardwareModules: [] };
  for (const gn of AsnConvert.parse(san.extnValue, SubjectAlternativeName)) {
    for (const rdn of gn.directoryName ?? []) {
      for (const atv of rdn) {
        const text = atv.value.toString();
        if (atv.type === TPM_MANUFACTURER) facts.manufacturer = text;
        if (atv.type === TPM_MODEL) facts.model = text;
        if (atv.type === TPM_VERSION) facts.version = text;
      }
    }
    const d = gn.otherName && deviceNameFromOtherName(gn.otherName.typeId, gn.otherName.value);
    const p = d?.kind === "permanentId" ? parsePermanentId(d.text) : undefined;
    const h = d?.kind === "hardwareModule" ? parseHardwareModule(d.text) : undefined;
    if (p) facts.permanentIds.push(p);
    if (h) facts.hardwareModules.push(h);
  }
  if (!facts.manufacturer || !facts.model || !facts.version) throw fail("ak-certificate", "the AK certificate's SAN does not name the TPM manufacturer, model and version");
  return facts;
}

/**
 * TPM 2.0 key attestation (TPM2_Certify): the AK, certified under a configured TPM root, signed
 * certInfo (a TPMS_ATTEST of type certify) whose extraData is SHA-256 of the key authorization and
 * whose certified name is the name of pubArea, the attested key. The key must have been generated in
 * the TPM and be unable to leave it.
 */
export function verifyTpm(input: AttestationInput): AttestationResult {
  const s = input.attStmt;
  if (s.text("ver") !== "2.0") throw fail("version", "only TPM 2.0 attestations (ver \"2.0\") are accepted");
  const alg = ALGS[s.int("alg")];
  if (!alg) throw fail("alg", `alg ${s.int("alg")} is not RS256, ES256 or RS1`);
  const [sig, certInfo, pubArea] = [s.bytes("sig"), s.bytes("certInfo"), s.bytes("pubArea")];
  const x5c = s.certificates();
  checkAttestationChain("tpm", x5c, input.anchors, input.now);
  const facts = checkAkCertificate(x5c[0]);
  const ak = x5c[0].publicKey;
  if (ak.asymmetricKeyType !== alg.key) throw fail("alg", `alg ${s.int("alg")} does not match the AK's ${ak.asymmetricKeyType} key`);
  let ok = false;
  try {
    ok = verify(alg.digest, certInfo, ak, signatureBytes(sig));
  } catch {
    ok = false;
  }
  if (!ok) throw fail("signature", "sig is not the AK's signature over certInfo");
  try {
    const attest = parseTpmsAttest(certInfo);
    if (attest.magic !== TPM_GENERATED_VALUE) throw fail("cert-info", "certInfo was not generated by a TPM (magic)");
    if (attest.type !== TPM_ST_ATTEST_CERTIFY) throw fail("cert-info", "certInfo is not a TPM2_Certify attestation");
    const pub = parseTpmtPublic(pubArea);
    if (!Buffer.from(attest.certifiedName).equals(Buffer.from(tpmName(pubArea, pub.nameAlg)))) throw fail("pub-area", "certInfo certifies another key than pubArea");
    if ((pub.objectAttributes & (FIXED_TPM | SENSITIVE_DATA_ORIGIN)) !== (FIXED_TPM | SENSITIVE_DATA_ORIGIN)) {
      throw fail("pub-area", "the attested key was not generated in the TPM or can leave it (fixedTPM, sensitiveDataOrigin)");
    }
    const expected = createHash("sha256").update(input.keyAuthorization).digest();
    if (attest.extraData.length !== expected.length || !timingSafeEqual(attest.extraData, expected)) {
      throw fail("key-authorization", "certInfo.extraData is not SHA-256 of this challenge's key authorization");
    }
    return {
      publicKey: pub.publicKey,
      // The device identifiers are the AK certificate's otherNames; the TPM's make and model name no device.
      claims: { permanentIds: facts.permanentIds, hardwareModules: facts.hardwareModules, moduleSerials: [] },
      facts: { manufacturer: facts.manufacturer, model: facts.model, firmwareVersion: facts.version },
    };
  } catch (e) {
    if (e instanceof GatewayError) throw e;
    throw fail("structure", `certInfo or pubArea is malformed (${e instanceof TpmParseError ? e.message : "not a usable key"})`);
  }
}
