// A finalization whose instance died after claiming the order (simulated by claiming through the store and never
// enrolling) is abandoned on the next read: the order becomes invalid with a serverInternal problem (RFC 8555 §7.1.6),
// never while an operator's approval is awaited, never before acme.finalizeTimeoutSeconds. A slow instance that
// finishes after the abandonment does not revive the order.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { EnrollmentService } from "../../src/enrollment/service.js";
import type { AcmeClient } from "../helpers/acme-client.js";
import { makeCsr, tempDir } from "../helpers/openssl.js";
import { testDatabase, type TestDatabase } from "../helpers/postgres.js";
import { acmeEnv, PROBLEM, type AcmeTestEnv } from "./setup.js";

const profile = (name: string, extra: string) => `
name: ${name}
description: ${name}
protocols: [acme]
keys: [{ type: ec }]
names: { dns: { suffixes: [example.com] } }
validity: { default: 30d, max: 90d }
keyUsage: [digitalSignature]
extendedKeyUsage: [serverAuth]
${extra}
`;

/** An authorization webhook that allows each enrollment once the test releases it: a finalize held mid-flight. */
class HeldWebhook {
  private release?: () => void;
  private onAsked: () => void = () => undefined;
  /** Resolves when the gateway asks (the order is then claimed and its enrollment waiting here). */
  readonly asked = new Promise<void>((r) => (this.onAsked = r));
  private constructor(readonly server: Server, readonly url: string) {}
  static async start(): Promise<HeldWebhook> {
    let self: HeldWebhook | undefined;
    const server = createServer((req, res) => {
      req.resume();
      self!.onAsked();
      void new Promise<void>((r) => (self!.release = r)).then(() => res.writeHead(200, { "content-type": "application/json" }).end('{"decision":"allow"}'));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    self = new HeldWebhook(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/authorize`);
    return self;
  }
  letGo(): void {
    this.release?.();
  }
  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

const ENGINES = ["sqlite", "postgres"] as const;
let env: AcmeTestEnv;
let hook: HeldWebhook;
let db: TestDatabase | undefined;
let dir: string;
afterEach(() => void vi.useRealTimers());

const TIMEOUT_MS = 300_000; // acme.finalizeTimeoutSeconds default
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
const orderId = (location: string) => location.split("/order/")[1];

/** An order that is ready (its authorization validated over real http-01, or reused from an earlier order). */
async function readyOrder(c: AcmeClient, name: string, profileName?: string): Promise<{ location: string; finalize: string }> {
  const order = await c.newOrder([{ type: "dns", value: name }], profileName ? { profile: profileName } : {});
  expect(order.status).toBe(201);
  for (const url of order.json.authorizations as string[]) {
    const authz = (await c.post(url, "")).json;
    if (authz.status === "valid") continue;
    const ch = authz.challenges.find((x: { type: string }) => x.type === "http-01");
    env.http01.answers.set(ch.token, c.keyAuthorization(ch.token));
    await c.post(ch.url, {});
    await c.poll(url, (a) => a.status !== "pending");
  }
  expect((await c.post(order.location!, "")).json.status).toBe("ready");
  return { location: order.location!, finalize: order.json.finalize };
}

/** Moves this process's clock (the gateway's too) forward; it keeps running from there. */
function clockForward(ms: number): void {
  vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
  vi.setSystemTime(Date.now() + ms);
}

const abandonedEvents = async (id: string) => (await env.t.gw.store.queryAudit({ type: "acme.order.abandoned" })).filter((e) => e.target === id);

describe.each(ENGINES)("ACME finalize abandoned by a dead instance (%s)", (engine) => {
  beforeAll(async () => {
    hook = await HeldWebhook.start();
    db = engine === "postgres" ? await testDatabase() : undefined;
    // No rate limits: the token buckets would count the clock moved back after a test moved it forward.
    env = await acmeEnv({ rateLimits: {} }, {
      "tls-approved": profile("tls-approved", "approval: true"),
      "tls-held": profile("tls-held", `authorization: { webhook: { url: "${hook.url}", timeoutMs: 30000 } }`),
    }, db ? { store: { kind: "postgres", url: db.url, poolSize: 4 } } : {});
    expect(env.t.gw.store.constructor.name).toBe(engine === "postgres" ? "PostgresStore" : "SqliteStore");
    dir = tempDir();
  });
  afterAll(async () => {
    await env?.close();
    await hook?.close();
    await db?.drop();
  });

  it("claimed, then nothing recorded: invalid with serverInternal on the next POST-as-GET, once; a new order issues", async () => {
    const c = await env.account();
    const order = await readyOrder(c, "dead.example.com");
    const id = orderId(order.location);
    expect(await env.t.gw.store.acme.claimOrderForFinalize(id, EnrollmentService.newRequestId(), ago(TIMEOUT_MS + 1000))).toBe(true);

    const res = await c.post(order.location, "");
    expect(res.status).toBe(200);
    expect(res.json.status).toBe("invalid");
    expect(res.json.error).toMatchObject({ type: PROBLEM("serverInternal"), status: 500 });
    expect(res.json.error.detail).toMatch(/finalization of this order was interrupted.*place a new order/);
    expect(res.json.certificate).toBeUndefined();
    expect(res.headers["retry-after"]).toBeUndefined();
    const again = await c.post(order.location, "");
    expect(again.json).toEqual(res.json);
    const events = await abandonedEvents(id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actor: "system", data: { request: "missing", timeoutSeconds: 300 } });

    const refinalize = await c.finalize(order.finalize, makeCsr(dir, "dead", { sans: ["DNS:dead.example.com"] }).der);
    expect(refinalize.status).toBe(403);
    expect(refinalize.json.type).toBe(PROBLEM("orderNotReady"));
    const next = await readyOrder(c, "dead.example.com"); // the authorization is reused: ready at once
    const fin = await c.finalize(next.finalize, makeCsr(dir, "dead2", { sans: ["DNS:dead.example.com"] }).der);
    expect(fin.json.status).toBe("valid");
  });

  it("died between the approved request and the certificate: the order is invalid and the request failed, same reason", async () => {
    const c = await env.account();
    const order = await readyOrder(c, "half.example.com");
    const id = orderId(order.location);
    const requestId = EnrollmentService.newRequestId();
    expect(await env.t.gw.store.acme.claimOrderForFinalize(id, requestId, ago(TIMEOUT_MS + 1000))).toBe(true);
    await env.t.gw.store.insertRequest({
      id: requestId, protocol: "acme", requesterKind: "acme-account", requesterId: "x", profile: "tls-server", status: "approved", reason: "policy",
      payload: "{}", createdAt: ago(TIMEOUT_MS),
    });
    const res = await c.post(order.location, "");
    expect(res.json.status).toBe("invalid");
    expect(res.json.error.type).toBe(PROBLEM("serverInternal"));
    expect(await env.t.gw.store.getRequest(requestId)).toMatchObject({ status: "failed", errorCode: "RA_ERR_INTERNAL", reason: res.json.error.detail });
    expect((await abandonedEvents(id))[0].data).toMatchObject({ request: "approved", requestId });
  });

  it("a processing order younger than the bound stays processing, with Retry-After", async () => {
    const c = await env.account();
    const order = await readyOrder(c, "young.example.com");
    const id = orderId(order.location);
    expect(await env.t.gw.store.acme.claimOrderForFinalize(id, EnrollmentService.newRequestId(), ago(TIMEOUT_MS - 30_000))).toBe(true);
    const res = await c.post(order.location, "");
    expect(res.json.status).toBe("processing");
    expect(res.headers["retry-after"]).toBe("1");
    expect(await abandonedEvents(id)).toHaveLength(0);
  });

  it("an order awaiting an operator's approval is never abandoned; once approved, the bound counts from the approval", async () => {
    const c = await env.account();
    const order = await readyOrder(c, "wait.example.com", "tls-approved");
    const id = orderId(order.location);
    const fin = await c.finalize(order.finalize, makeCsr(dir, "wait", { sans: ["DNS:wait.example.com"] }).der);
    expect(fin.json.status).toBe("processing");
    const requestId = (await env.t.gw.store.acme.getOrder(id))!.requestId!;
    expect((await env.t.gw.store.getRequest(requestId))?.status).toBe("pending");

    clockForward(3 * 86_400_000); // the operator takes three days
    expect((await c.post(order.location, "")).json.status).toBe("processing");
    // An approving instance has recorded the decision and is issuing: the order waits for it.
    expect(await env.t.gw.store.decideRequest(requestId, "approved", "admin:test")).toBe(true);
    expect((await c.post(order.location, "")).json.status).toBe("processing");
    expect(await abandonedEvents(id)).toHaveLength(0);
    // It died: the bound, counted from the approval, passes.
    clockForward(TIMEOUT_MS + 1000);
    const res = await c.post(order.location, "");
    expect(res.json.status).toBe("invalid");
    expect((await abandonedEvents(id))[0].data).toMatchObject({ request: "approved" });
  });

  it("a slow instance finishing after the abandonment leaves the order invalid; its certificate is on record", async () => {
    const c = await env.account();
    const order = await readyOrder(c, "slow.example.com", "tls-held");
    const id = orderId(order.location);
    const finalizing = c.finalize(order.finalize, makeCsr(dir, "slow", { sans: ["DNS:slow.example.com"] }).der);
    await hook.asked; // claimed; the enrollment waits on the webhook
    clockForward(TIMEOUT_MS + 1000);
    const read = await c.post(order.location, "");
    expect(read.json.status).toBe("invalid");
    hook.letGo();
    const fin = await finalizing;
    expect(fin.status).toBe(200);
    expect(fin.json.status).toBe("invalid");
    expect(fin.json.error.type).toBe(PROBLEM("serverInternal"));
    expect(fin.json.certificate).toBeUndefined();
    const stored = await env.t.gw.store.acme.getOrder(id);
    expect(stored).toMatchObject({ status: "invalid" });
    expect(stored!.certSerial).toBeUndefined();
    const late = (await env.t.gw.store.queryAudit({ type: "acme.order.issuedAfterAbandonment" })).filter((e) => e.target === id);
    expect(late).toHaveLength(1);
    const serial = late[0].data.serial as string;
    expect(await env.t.gw.store.getCertificate(serial)).toMatchObject({ stage: "issued", profile: "tls-held" });
    expect(await env.t.gw.store.getRequest(stored!.requestId!)).toMatchObject({ status: "issued", certificateSerial: serial });
    expect((await c.post(order.location, "")).json.status).toBe("invalid");
  });
});
