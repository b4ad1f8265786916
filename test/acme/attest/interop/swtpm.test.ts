import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createPublicKey, verify, X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { encode } from "cborg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeAttestationObject } from "../../../../protocols/acme/attest/statement.js";
import { verifyTpm } from "../../../../protocols/acme/attest/tpm.js";
import { parseTpmsAttest, parseTpmtPublic, signatureBytes, tpmName } from "../../../../protocols/acme/attest/tpm-structures.js";
import { tempDir } from "../../../helpers/openssl.js";
import { freePort } from "../../../helpers/ports.js";
import { createAttestationPkis, type AttestationPkis } from "../fixtures.js";

/**
 * A real TPM 2.0 (swtpm, with tpm2-tools): its TPMT_PUBLIC, TPMS_ATTEST and TPMT_SIGNATURE as the
 * verifier reads them. Debian 12's tpm2_certify (5.4) cannot set the qualifying data (it always
 * sends 00ff55aa), so the key-authorization binding itself is covered by the generated attestations;
 * here every check before it must pass on the TPM's own bytes.
 */
const run = promisify(execFile);
let swtpm: ChildProcess;
let dir: string;
let tcti: string;
let pkis: AttestationPkis;

async function tpm2(tool: string, ...args: string[]): Promise<void> {
  const env = { ...process.env, TPM2TOOLS_TCTI: tcti };
  await run(`tpm2_${tool}`, ["-Q", ...args], { cwd: dir, env, timeout: 20_000 });
  // No resource manager: free transient objects and sessions after each command.
  for (const what of ["-t", "-s"]) await run("tpm2_flushcontext", [what], { cwd: dir, env, timeout: 20_000 });
}

beforeAll(async () => {
  dir = tempDir("swtpm-");
  mkdirSync(join(dir, "state"));
  const port = await freePort();
  const ctrl = port + 1; // the swtpm TCTI expects the control channel on the next port
  swtpm = spawn("swtpm", ["socket", "--tpmstate", `dir=${join(dir, "state")}`, "--tpm2", "--server", `type=tcp,port=${port}`, "--ctrl", `type=tcp,port=${ctrl}`, "--flags", "not-need-init,startup-clear"], { stdio: ["ignore", "ignore", "inherit"] });
  tcti = `swtpm:host=127.0.0.1,port=${port}`;
  for (let i = 0; ; i++) {
    try {
      await run("tpm2_getrandom", ["8"], { env: { ...process.env, TPM2TOOLS_TCTI: tcti }, timeout: 5000 });
      break;
    } catch (e) {
      if (i > 50) throw new Error(`${(e as Error).message} ${(e as { stderr?: string }).stderr ?? ""}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  pkis = await createAttestationPkis();
  await tpm2("createprimary", "-C", "o", "-g", "sha256", "-G", "ecc", "-c", "primary.ctx");
  // The AK: a restricted RSA signing key; the attested key: an ECDSA P-256 key generated in the TPM.
  await tpm2("create", "-C", "primary.ctx", "-G", "rsa2048:rsassa-sha256:null", "-a", "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign", "-u", "ak.pub", "-r", "ak.priv");
  await tpm2("load", "-C", "primary.ctx", "-u", "ak.pub", "-r", "ak.priv", "-c", "ak.ctx");
  await tpm2("create", "-C", "primary.ctx", "-G", "ecc256:ecdsa-sha256", "-a", "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign", "-u", "key.pub", "-r", "key.priv");
  await tpm2("load", "-C", "primary.ctx", "-u", "key.pub", "-r", "key.priv", "-c", "key.ctx");
  await tpm2("certify", "-c", "key.ctx", "-C", "ak.ctx", "-g", "sha256", "-o", "attest.bin", "-s", "sig.tpmt");
  await tpm2("certify", "-c", "key.ctx", "-C", "ak.ctx", "-g", "sha256", "-o", "attest-plain.bin", "-s", "sig.raw", "-f", "plain");
  await tpm2("readpublic", "-c", "ak.ctx", "-f", "pem", "-o", "ak.pem");
  await tpm2("readpublic", "-c", "key.ctx", "-f", "pem", "-o", "key.pem");
}, 60_000);
afterAll(() => {
  swtpm?.kill();
});

const file = (n: string) => readFileSync(join(dir, n));
/** tpm2_create writes a TPM2B_PUBLIC: the attestation carries the TPMT_PUBLIC inside it. */
const pubArea = () => file("key.pub").subarray(2);

describe("a software TPM's key attestation", () => {
  it("pubArea parses to the key the TPM reports, and certInfo certifies exactly that name", () => {
    const pub = parseTpmtPublic(pubArea());
    expect(pub.publicKey.export({ type: "spki", format: "der" })).toEqual(createPublicKey(file("key.pem")).export({ type: "spki", format: "der" }));
    const attest = parseTpmsAttest(file("attest.bin"));
    expect(attest.magic).toBe(0xff544347);
    expect(attest.type).toBe(0x8017);
    expect(Buffer.from(attest.certifiedName)).toEqual(Buffer.from(tpmName(pubArea(), pub.nameAlg)));
    expect(Buffer.from(attest.extraData).toString("hex")).toBe("00ff55aa"); // tpm2-tools 5.4's fixed qualifying data
  });

  it("both signature forms (TPMT_SIGNATURE and plain) verify with the AK over certInfo", () => {
    const ak = createPublicKey(file("ak.pem"));
    expect(verify("sha256", file("attest.bin"), ak, signatureBytes(file("sig.tpmt")))).toBe(true);
    expect(verify("sha256", file("attest-plain.bin"), ak, signatureBytes(file("sig.raw")))).toBe(true);
    expect(verify("sha256", file("attest.bin"), ak, signatureBytes(file("sig.raw")))).toBe(false);
  });

  it("the verifier takes the TPM's attestation through chain, AK shape, signature, structure, name and key attributes, and stops only at the binding", () => {
    const ak = createPublicKey(file("ak.pem"));
    const attObj = encode(new Map<string, unknown>([
      ["fmt", "tpm"], ["authData", new Uint8Array(0)],
      ["attStmt", new Map<string, unknown>([
        ["ver", "2.0"], ["alg", -257], ["x5c", [pkis.tpm.akCertificate(ak), pkis.tpm.intermediateDer]],
        ["sig", file("sig.tpmt")], ["certInfo", file("attest.bin")], ["pubArea", pubArea()],
      ])],
    ]));
    const { attStmt } = decodeAttestationObject(Buffer.from(attObj).toString("base64url"));
    const input = { attStmt, token: "t", keyAuthorization: "t.thumbprint", anchors: [new X509Certificate(pkis.tpm.rootDer)], now: Date.now() };
    expect(() => verifyTpm(input)).toThrow(expect.objectContaining({ detail: { format: "tpm", check: "key-authorization" } }));
    // The same object under a foreign root fails earlier, at the chain.
    expect(() => verifyTpm({ ...input, anchors: [] })).toThrow(expect.objectContaining({ detail: { format: "tpm", check: "chain" } }));
  });
});
