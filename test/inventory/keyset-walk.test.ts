import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EnrollmentService } from "../../src/enrollment/service.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { makeCsr, tempDir } from "../helpers/openssl.js";

/** Regression: the crypto report used to page by offset over a newest-first list, so issuing during a report shifted pages and counted a certificate twice. */
let t: TestGateway;
beforeAll(async () => {
  t = await testGateway();
});
afterAll(async () => t?.gw.close());

async function issue(name: string): Promise<string> {
  const { der } = makeCsr(tempDir(), name, { sans: [`DNS:${name}.example.com`] });
  const out = await t.gw.enrollment.enroll({ requestId: EnrollmentService.newRequestId(), protocol: "admin", requester: { kind: "admin", id: "t" }, profile: "tls-server", csr: der });
  if (out.status !== "issued") throw new Error("not issued");
  return out.certificate.serial;
}

describe("walking the issued inventory by serial", () => {
  it("sees every certificate once, even when certificates are issued during the walk", async () => {
    const before = [await issue("k1"), await issue("k2"), await issue("k3")];
    const seen: string[] = [];
    const during: string[] = [];
    for (let after = ""; ; ) {
      const page = await t.gw.store.issuedAfter(after, 1);
      if (!page.length) break;
      seen.push(page[0].serial);
      after = page[0].serial;
      if (during.length < 2) during.push(await issue(`k-during-${during.length}`));
    }
    expect(new Set(seen).size).toBe(seen.length);
    for (const s of before) expect(seen).toContain(s);
    expect([...seen]).toEqual([...seen].sort());
  });
});
