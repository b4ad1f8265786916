import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePkiMessage } from "../../protocols/cmp/codec.js";
import { capturedIr, cmpEnv, type CmpEnv } from "./env.js";

let env: CmpEnv;
beforeAll(async () => {
  env = await cmpEnv({ cmp: { maxOpenTransactions: 1 } });
});
afterAll(async () => {
  await env?.close();
});

const post = (der: Uint8Array) => fetch(`${env.http}/.well-known/cmp`, { method: "POST", headers: { "content-type": "application/pkixcmp" }, body: Buffer.from(der) });
const txid = (der: Uint8Array) => Buffer.from(decodePkiMessage(der).message.header.transactionID!).toString("hex");
const decisions = async (id: string) => (await env.t.gw.store.queryAudit({ type: "cmp.request", limit: 1000 })).filter((e) => e.data.transactionId === id).map((e) => e.data);

describe("cap on open CMP transactions", () => {
  it("beyond cmp.maxOpenTransactions a new enrollment is refused with systemUnavail, before anything is issued", async () => {
    const first = await capturedIr(env, "cap1");
    const second = await capturedIr(env, "cap2");
    expect((await post(first)).status).toBe(200);
    expect((await decisions(txid(first))).map((e) => e.decision)).toEqual(["accepted"]); // waits for certConf: open
    expect((await post(second)).status).toBe(200);
    const refused = await decisions(txid(second));
    expect(refused.map((e) => e.failInfo)).toEqual([["systemUnavail"]]);
    expect(await env.t.gw.store.cmp.countOpen()).toBe(1);
  });
});
