// The SCEP protocol layer alone, in this process, CPU per PKCSReq split by stage: opening the pkiMessage
// (signature check, RSA unwrap, decryption), building the CertRep (envelope to the client, RA signature), and the
// whole pkiOperation (both, plus challenge, CSR parse and the engine's issuance). No HTTP: it tells the protocol
// layer's share from the engine's. Messages, keys and CSRs are made before timing.
//
//   node --import tsx test/bench/scep-protocol.ts      Env: BENCH_OPS (400), BENCH_STAGES (open,certrep,full).
import { randomBytes } from "node:crypto";
import { buildCertRep } from "../../protocols/scep/cert-rep.js";
import { resolveEndpoints } from "../../protocols/scep/endpoint.js";
import { pkiOperation } from "../../protocols/scep/operations.js";
import { openPkiMessage } from "../../protocols/scep/pki-message.js";
import { EnrollmentSecrets } from "../../src/enrollment/secrets.js";
import { buildPkiMessage } from "../helpers/scep-client.js";
import { testGateway } from "../helpers/gateway.js";
import { selfCpuMs } from "./cpu.js";
import { enrollmentName, makeClientIdentity, scepCsr } from "./scep-csrs.js";
import { makeTempDir, removeTempDir } from "./child.js";
import { numberEnv } from "./stats.js";

async function main(): Promise<void> {
  const ops = numberEnv("BENCH_OPS", 400, 10);
  const challenge = randomBytes(16).toString("hex");
  const dir = makeTempDir("bench-scep-proto-");
  const t = await testGateway({ scep: { endpoints: [{ name: "default", profile: "device", challenge: { static: challenge } }] } });
  try {
    const ep = (await resolveEndpoints(t.gw)).get("default")!;
    const deps = { gw: t.gw, secrets: new EnrollmentSecrets(t.gw.store, t.gw.profiles, t.gw.audit) };
    const id = makeClientIdentity(dir);
    const messages = (tag: string, n: number) => Array.from({ length: n }, (_, i) => buildPkiMessage({
      messageType: 19, transactionId: randomBytes(16).toString("hex"), senderNonce: new Uint8Array(randomBytes(16)),
      content: scepCsr(id, enrollmentName(tag, i), challenge), signerCert: id.signerCert, signerKey: id.key,
      recipientCert: ep.ra.certDer, digest: "sha256", contentEncryption: "aes-128-cbc",
    }));
    const open = (der: Uint8Array) => openPkiMessage(der, { raCerts: [ep.ra.certDer], rawRsaDecrypt: (_i, b) => ep.ra.rawRsaDecrypt(b), allowLegacy: false });
    const stages = (process.env.BENCH_STAGES ?? "open,certrep,full").split(",");
    const stage = async (name: string, list: Uint8Array[], run: (der: Uint8Array) => Promise<unknown>) => {
      if (!stages.some((s) => name.startsWith(s))) return;
      for (const m of list.slice(0, 20)) await run(m); // warm-up
      const c0 = selfCpuMs();
      for (const m of list.slice(20)) await run(m);
      const ms = (selfCpuMs() - c0) / (list.length - 20);
      console.log(JSON.stringify({ bench: "scep-protocol", stage: name, ops: list.length - 20, cpu_ms_per_op: Math.round(ms * 1000) / 1000 }));
    };
    const openMsgs = messages("open", ops + 20);
    await stage("open: pkiMessage", openMsgs, open);
    const opened = await Promise.all(openMsgs.slice(0, 50).map(open));
    const cert = ep.ca.certDer; // stands in for the issued certificate: same size class
    let k = 0;
    await stage("certrep: build", openMsgs, async () => {
      const r = opened[k++ % opened.length];
      return buildCertRep({
        status: "SUCCESS", transactionId: r.transactionId, recipientNonce: r.senderNonce, digest: r.digest, contentEncryption: r.contentEncryption,
        recipientCert: r.signerCert, recipient: r.signer, certs: [cert], raCert: ep.ra.certDer, raSign: (d, h) => ep.ra.sign(d, h),
      });
    });
    await stage("full: pkiOperation (open + challenge + CSR + engine + certrep)", messages("full", ops + 20), (der) => pkiOperation(ep, der, deps, "POST"));
  } finally {
    await t.gw.close();
    removeTempDir(dir);
  }
}

main().then(() => process.exit(0), (e: unknown) => {
  console.error(`scep protocol bench: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});
