import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestScope } from "../../src/server/request-context.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";

/*
 * The request id reaches the audit events recorded for that request, also when the write is queued in a group
 * commit that another request's turn flushes (the engine's completion step and recordAsync batch across requests).
 */
let t: TestGateway;
beforeAll(async () => {
  t = await testGateway();
});
afterAll(async () => {
  await t?.gw.close();
});

describe("request scope in audit events", () => {
  it("events queued in one group commit by different requests each carry their own request id", async () => {
    const { audit } = t.gw;
    const inRequest = (id: string, type: string) => requestScope.run({ id }, () => audit.commits.run((tx) => audit.record({ type, actor: "test" }, tx)));
    const viaAsync = (id: string, type: string) => requestScope.run({ id }, () => audit.recordAsync({ type, actor: "test" }));
    // All four are queued in this turn, so they commit in one batch flushed from the first one's context.
    const [a, b, c, d] = await Promise.all([inRequest("req-a", "test.a"), inRequest("req-b", "test.b"), viaAsync("req-c", "test.c"), viaAsync("req-d", "test.d")]);
    expect([a, b, c, d].map((e) => e.data.httpRequestId)).toEqual(["req-a", "req-b", "req-c", "req-d"]);
    expect(new Set([a, b, c, d].map((e) => e.seq)).size).toBe(4);
  });

  it("events outside any request carry no request id; a caller's own httpRequestId is kept", async () => {
    const bg = await t.gw.audit.record({ type: "test.background", actor: "system" });
    expect(bg.data).not.toHaveProperty("httpRequestId");
    const given = await requestScope.run({ id: "req-x" }, () => t.gw.audit.record({ type: "test.given", actor: "test", data: { httpRequestId: "upstream-1" } }));
    expect(given.data.httpRequestId).toBe("upstream-1");
    expect(await t.gw.audit.verify()).toMatchObject({ ok: true });
  });
});
