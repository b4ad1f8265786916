import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EnrollmentService } from "../../src/enrollment/service.js";
import { GatewayError } from "../../src/errors.js";
import { makeCsr, tempDir } from "../helpers/openssl.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";

let t: TestGateway;
beforeAll(async () => {
  t = await testGateway();
});
afterAll(async () => t?.gw.close());

describe("enrollment metrics", () => {
  it("label a rejection for a profile that does not exist as unknown, never with the name sent", async () => {
    const { der } = makeCsr(tempDir(), "label", { sans: ["DNS:label.example.com"] });
    const names = Array.from({ length: 3 }, () => `no-such-${randomBytes(6).toString("hex")}`);
    for (const profile of names) {
      const err = await t.gw.enrollment.enroll({ requestId: EnrollmentService.newRequestId(), protocol: "admin", requester: { kind: "admin", id: "test" }, profile, csr: der })
        .then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(GatewayError);
    }
    const text = await t.gw.metrics.registry.metrics();
    expect(text).toMatch(/gateway_enrollment_requests_total\{protocol="admin",profile="unknown",result="rejected"\} 3/);
    for (const n of names) expect(text).not.toContain(n);
  });
});
