import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { openGateway } from "../../src/gateway.js";
import { testGateway } from "../helpers/gateway.js";
import { freePort } from "../helpers/ports.js";
import { hangingServer, silentLog, waitFor, WebhookReceiver } from "./harness.js";

const SECRET = "restart-secret";
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("event outbox across restarts", () => {
  it("keeps undelivered events while the receiver is down and delivers them after a restart", async () => {
    const port = await freePort(); // nothing listens here yet
    const sink = { type: "webhook", name: "hook", url: `http://127.0.0.1:${port}/hook`, hmacSecret: SECRET, types: ["test.*"], backoff: { initialMs: 20, maxMs: 100 }, maxAttempts: 1000 };
    const t = await testGateway({ events: { pollIntervalMs: 50, sinks: [sink] } });
    let gw = t.gw;
    cleanups.push(() => gw.close());
    for (let i = 1; i <= 5; i++) await gw.audit.record({ type: "test.queued", actor: "test", data: { i } });
    // The head row fails (connection refused) and holds the others back, in order.
    const head = await waitFor(async () => (await gw.store.outbox.list({})).find((o) => o.attempts >= 2), "failed attempts");
    expect(head.lastError).toMatch(/fetch failed|ECONNREFUSED/);
    expect(await gw.store.outbox.list({ status: "delivered" })).toHaveLength(0);
    await gw.close();

    // A process that died mid-delivery leaves its row 'sending' with a lapsed claim: it must be sent again.
    const db = new Database(gw.paths.db);
    const ids = (db.prepare("SELECT id FROM event_outbox ORDER BY id").all() as Array<{ id: number }>).map((r) => r.id);
    expect(ids).toHaveLength(5);
    expect((db.prepare("SELECT count(*) AS n FROM event_outbox WHERE status = 'pending'").get() as { n: number }).n).toBe(5);
    db.prepare("UPDATE event_outbox SET status = 'sending', next_attempt_at = ? WHERE id = ?").run(new Date(Date.now() - 1000).toISOString(), ids[2]);
    db.close();

    const r = await new WebhookReceiver(SECRET).start(port);
    cleanups.push(() => r.stop());
    gw = await openGateway(t.config, silentLog());
    await waitFor(() => r.delivered().length === 5, "all five events after the restart");
    expect(r.delivered().map((e) => e.data.i)).toEqual([1, 2, 3, 4, 5]);
    expect(r.received.every((x) => x.signatureValid)).toBe(true);
    await waitFor(async () => (await gw.store.outbox.list({ status: "delivered" })).length === 5, "five delivered rows");
  });

  it("delivers rows another process (the CLI) wrote to the same database", async () => {
    const r = await new WebhookReceiver(SECRET).start();
    cleanups.push(() => r.stop());
    const sink = { type: "webhook", name: "hook", url: r.url, hmacSecret: SECRET, types: ["test.*"], backoff: { initialMs: 20, maxMs: 100 } };
    const t = await testGateway({ events: { pollIntervalMs: 50, sinks: [sink] } });
    cleanups.push(() => t.gw.close());
    // A second gateway on the same data dir, closed at once as a CLI command would: nothing may be lost or sent twice.
    const cli = await openGateway(t.config, silentLog());
    await cli.audit.record({ type: "test.from-cli", actor: "cli:root" });
    await cli.close();
    await t.gw.audit.record({ type: "test.from-server", actor: "admin:x" });
    await waitFor(() => r.delivered().length >= 2, "both events");
    await t.gw.events.flush();
    expect(r.delivered().map((e) => e.type).sort()).toEqual(["test.from-cli", "test.from-server"]);
    expect(await t.gw.store.outbox.list({ status: "delivered" })).toHaveLength(2);
  });

  it("close() gives a delivery in flight back to pending, uncounted", async () => {
    const { hung, port } = await hangingServer(cleanups);
    const url = `http://127.0.0.1:${port}/hook`;
    const t = await testGateway({ events: { pollIntervalMs: 50, sinks: [{ type: "webhook", name: "hook", url, hmacSecret: SECRET, types: ["test.*"], timeoutMs: 60_000 }] } });
    await t.gw.audit.record({ type: "test.hung", actor: "test" });
    await waitFor(() => hung.length === 1, "the request at the hanging receiver");
    expect((await t.gw.store.outbox.list({}))[0]).toMatchObject({ status: "sending", attempts: 0 });
    await t.gw.close();
    const db = new Database(t.gw.paths.db, { readonly: true });
    expect(db.prepare("SELECT status, attempts, last_error FROM event_outbox").all()).toEqual([{ status: "pending", attempts: 0, last_error: null }]);
    db.close();
  });
});
