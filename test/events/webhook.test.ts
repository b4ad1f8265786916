import express from "express";
import request from "supertest";
import { afterEach, describe, expect, it } from "vitest";
import { EnrollmentService } from "../../src/enrollment/service.js";
import type { Gateway } from "../../src/gateway.js";
import { adminAuth } from "../../src/server/admin-api.js";
import { mountEventRoutes } from "../../src/server/admin-events.js";
import { jsonErrors } from "../../src/server/middleware.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { makeCsr, tempDir } from "../helpers/openssl.js";
import { capturingLogger, gatewayWithLogger, waitFor, WebhookReceiver } from "./harness.js";

const SECRET = "webhook-test-secret";
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function receiver(): Promise<WebhookReceiver> {
  const r = await new WebhookReceiver(SECRET).start();
  cleanups.push(() => r.stop());
  return r;
}

async function gateway(sinks: unknown[]): Promise<TestGateway> {
  const t = await testGateway({ events: { pollIntervalMs: 50, sinks } });
  cleanups.push(() => t.gw.close());
  return t;
}

const hook = (r: WebhookReceiver, over: Record<string, unknown> = {}) => ({
  type: "webhook", name: "hook", url: r.url, hmacSecret: SECRET, backoff: { initialMs: 50, maxMs: 200 }, ...over,
});

/** The admin routes on a router of their own, as the admin API mounts them. */
function adminApp(gw: Gateway): express.Express {
  const r = express.Router();
  r.use(adminAuth(gw));
  r.use(express.json());
  mountEventRoutes(r, gw);
  r.use(jsonErrors);
  return express().use("/admin/api/v1", r);
}

describe("webhook sink", () => {
  it("delivers a real enrollment's events in audit order, signed, with the delivery headers", async () => {
    const r = await receiver();
    const t = await gateway([hook(r)]);
    const { der } = makeCsr(tempDir(), "web", { sans: ["DNS:www.example.com"] });
    const out = await t.gw.enrollment.enroll({ requestId: EnrollmentService.newRequestId(), protocol: "admin", requester: { kind: "admin", id: "t" }, profile: "tls-server", csr: der });
    expect(out.status).toBe("issued");
    const serial = out.status === "issued" ? out.certificate.serial : "";
    const all = await t.gw.store.queryAudit({ limit: 1000 });
    expect(all.map((e) => e.type)).toEqual(expect.arrayContaining(["config.loaded", "request.accepted", "certificate.issued"]));
    // Every event recorded since the sink started reaches it (start-up events included), once and in audit order.
    await waitFor(() => r.delivered().length >= all.length, "every event at the receiver");
    // The receiver has the last event before the gateway has read its answer: wait for the outbox to say so too.
    await waitFor(async () => (await t.gw.events.stats())[0].outbox.delivered >= all.length, "every row marked delivered");
    expect(r.delivered().map((e) => e.seq)).toEqual(all.map((e) => e.seq));
    expect(r.received.every((x) => x.signatureValid)).toBe(true);

    const issued = r.received.find((x) => JSON.parse(x.body).type === "certificate.issued")!;
    const body = JSON.parse(issued.body);
    expect(body).toMatchObject({ type: "certificate.issued", target: serial, actor: "admin:t" });
    expect(body.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(body.prevHash).toBe(all.find((e) => e.seq === body.seq - 1)?.hash);
    expect(issued.headers["content-type"]).toBe("application/json");
    expect(issued.headers["x-gateway-event"]).toBe("certificate.issued");
    const row = await t.gw.store.outbox.get(Number(issued.headers["x-gateway-delivery"]));
    expect(row).toMatchObject({ sink: "hook", auditSeq: body.seq, status: "delivered", attempts: 1 });
    expect(await t.gw.events.stats()).toEqual([{ name: "hook", type: "webhook", outbox: { pending: 0, sending: 0, delivered: all.length, dead: 0 } }]);
  });

  it("routes by type glob and writes matching events to the log stream", async () => {
    const r = await receiver();
    const { log, lines } = capturingLogger();
    const { gw } = await gatewayWithLogger({
      events: { pollIntervalMs: 50, sinks: [hook(r, { types: ["certificate.*", "request.rejected"] }), { type: "log", name: "log", types: ["request.*"] }] },
    }, log);
    cleanups.push(() => gw.close());
    for (const type of ["certificate.issued", "request.accepted", "request.rejected", "other.thing", "certificate.revoked"]) await gw.audit.record({ type, actor: "test", target: type });
    await gw.events.flush();
    await waitFor(() => r.delivered().length >= 3, "three routed events");
    expect(r.delivered().map((e) => e.type)).toEqual(["certificate.issued", "request.rejected", "certificate.revoked"]);
    expect((await gw.store.outbox.list({})).map((o) => JSON.parse(o.payload).type)).toEqual(["certificate.issued", "request.rejected", "certificate.revoked"]);

    const logged = lines.filter((l) => typeof l.msg === "string" && l.msg.startsWith("event "));
    expect(logged.map((l) => l.msg)).toEqual(["event request.accepted", "event request.rejected"]);
    expect(logged[0]).toMatchObject({ sink: "log", event: { type: "request.accepted", actor: "test", target: "request.accepted" } });
    expect(JSON.stringify(lines)).not.toContain(SECRET);
  });

  it("retries after a 500 and records the attempts", async () => {
    const r = await receiver();
    r.respond = (n) => (n === 0 ? 500 : 200);
    const t = await gateway([hook(r, { types: ["test.*"] })]);
    await t.gw.audit.record({ type: "test.retry", actor: "test" });
    await waitFor(() => r.delivered().length === 1, "delivery after a retry");
    expect(r.received.map((x) => x.status)).toEqual([500, 200]);
    expect(r.received[0].headers["x-gateway-delivery"]).toBe(r.received[1].headers["x-gateway-delivery"]);
    const row = await waitFor(async () => (await t.gw.store.outbox.list({ status: "delivered" }))[0], "the delivered row");
    expect(row).toMatchObject({ attempts: 2, status: "delivered" });
    expect(row.deliveredAt).toBeTruthy();
  });

  it("keeps a dead letter after maxAttempts and redelivers it through the admin API", async () => {
    const r = await receiver();
    r.respond = () => 503;
    const t = await gateway([hook(r, { types: ["test.*"], maxAttempts: 3 })]);
    const app = adminApp(t.gw);
    const auth = { Authorization: `Bearer ${t.token}` };
    await t.gw.audit.record({ type: "test.dead", actor: "test", data: { n: 1 } });
    const dead = await waitFor(async () => (await t.gw.store.outbox.list({ status: "dead" }))[0], "a dead letter");
    expect(dead.attempts).toBe(3);
    expect(dead.lastError).toMatch(/^HTTP 503: receiver says no/);
    expect(r.received.length).toBe(3);

    expect((await request(app).get("/admin/api/v1/events/outbox")).status).toBe(401);
    const listed = await request(app).get("/admin/api/v1/events/outbox").query({ status: "dead", sink: "hook" }).set(auth);
    expect(listed.status).toBe(200);
    expect(listed.body.events).toHaveLength(1);
    expect(listed.body.events[0]).toMatchObject({ id: dead.id, sink: "hook", status: "dead", attempts: 3, event: { type: "test.dead", data: { n: 1 } } });
    expect(listed.body.sinks[0]).toMatchObject({ name: "hook", outbox: { dead: 1 } });
    expect((await request(app).get("/admin/api/v1/events/outbox").query({ status: "lost" }).set(auth)).status).toBe(400);
    expect((await request(app).post("/admin/api/v1/events/outbox/redeliver").set(auth).send({ sink: "nope" })).status).toBe(404);

    r.respond = () => 200;
    const redo = await request(app).post("/admin/api/v1/events/outbox/redeliver").set(auth).send({ sink: "hook" });
    expect(redo.status).toBe(200);
    expect(redo.body).toEqual({ redelivered: 1, sinks: ["hook"] });
    await waitFor(async () => (await t.gw.store.outbox.get(dead.id))?.status === "delivered", "the redelivered row delivered");
    expect(r.delivered().map((e) => e.type)).toEqual(["test.dead"]);
    expect((await t.gw.store.queryAudit({ type: "events.redelivered" }))[0]).toMatchObject({ actor: expect.stringMatching(/^admin:/), target: "hook", data: { count: 1 } });
    const after = await request(app).get("/admin/api/v1/events/outbox").query({ status: "dead" }).set(auth);
    expect(after.body.events).toHaveLength(0);
  });

  it("rolls the outbox row back with the audit event", async () => {
    const r = await receiver();
    const t = await gateway([hook(r, { types: ["test.*"] })]);
    await expect(t.gw.store.transaction(async (tx) => {
      await t.gw.audit.record({ type: "test.rolledback", actor: "test" }, tx);
      throw new Error("abort the operation");
    })).rejects.toThrow("abort the operation");
    await t.gw.audit.record({ type: "test.kept", actor: "test" });
    await waitFor(() => r.delivered().length === 1, "the committed event");
    await t.gw.events.flush();
    expect(r.delivered().map((e) => e.type)).toEqual(["test.kept"]);
    expect((await t.gw.store.outbox.list({})).length).toBe(1);
  });
});
