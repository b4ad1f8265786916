import { generateKeyPairSync, randomBytes } from "node:crypto";
import { Agent } from "node:http";
import { EnrollmentSecrets } from "../../src/enrollment/secrets.js";
import type { Gateway } from "../../src/gateway.js";
import { cmpService } from "../../protocols/cmp/index.js";
import { handleCmp } from "../../protocols/cmp/handler.js";
import { testGateway } from "../helpers/gateway.js";
import { CmpClient } from "./cmp-client.js";
import { selfCpuMs } from "./cpu.js";

/**
 * A test gateway with one CMP label (PasswordBasedMac secret "bench") and a client whose messages go straight to
 * handleCmp, without HTTP: the in-process CMP benches (cmp-split.ts, cmp-layer.ts). `onHandled` gets the CPU of
 * each handleCmp call.
 */
export async function inProcessCmp(opts: { freshSalt: boolean; onHandled?: (cpuMs: number) => void }): Promise<{ gw: Gateway; client: CmpClient; close: () => Promise<void> }> {
  const kid = "bench";
  const secret = randomBytes(24).toString("base64url");
  const t = await testGateway({ cmp: { labels: [{ name: "default", profile: "device", secrets: [{ kid, secret }] }] } });
  const gw = t.gw;
  const cmp = await cmpService(gw, new EnrollmentSecrets(gw.store, gw.profiles, gw.audit, gw.secretSealKey));
  const label = cmp.labels.get("default")!;
  const send = async (der: Uint8Array) => {
    const c0 = selfCpuMs();
    const a = await handleCmp(label, der, cmp.deps, "127.0.0.1");
    opts.onHandled?.(selfCpuMs() - c0);
    return { status: 200, contentType: "application/pkixcmp", body: Buffer.from(a.der) };
  };
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const client = new CmpClient({ url: "in-process", kid, secret: new TextEncoder().encode(secret), key: privateKey, agent: new Agent(), send, freshSalt: opts.freshSalt });
  const close = async () => {
    await cmp.close();
    await gw.close();
  };
  return { gw, client, close };
}
