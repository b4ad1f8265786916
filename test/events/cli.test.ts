import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { openGateway } from "../../src/gateway.js";
import { runGatewayCli } from "../helpers/cli.js";
import { testGateway } from "../helpers/gateway.js";
import { hangingServer, silentLog, waitFor, WebhookReceiver } from "./harness.js";

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The CLI's output, both streams. */
const cli = async (args: string[], env: Record<string, string>) => {
  const r = await runGatewayCli(args, env);
  return { code: r.code, out: `${r.stdout}${r.stderr}` };
};

describe("event sinks in a short-lived CLI process", () => {
  it("exits while a webhook hangs, leaves its rows pending, and the server delivers them", async () => {
    const { port } = await hangingServer(cleanups);

    const t = await testGateway(); // makes the data dir; no sinks in this process
    await t.gw.close();
    const cfg = join(t.dir, "cli.yaml");
    writeFileSync(cfg, [
      `dataDir: ${t.config.dataDir}`, `profilesDir: ${t.config.profilesDir}`, "log: { level: silent }",
      "events:", "  pollIntervalMs: 50", "  sinks:",
      `    - { type: webhook, name: hook, url: "http://127.0.0.1:${port}/hook", hmacSecret: { env: TEST_HOOK_SECRET }, types: ["config.*", "admin.*"] }`,
    ].join("\n"));
    const run = await cli(["token", "create", "--name", "cli-event", "--config", cfg], { TEST_HOOK_SECRET: "cli-secret" });
    expect(run.code, run.out).toBe(0);
    expect(run.out).not.toContain("cli-secret");

    const db = new Database(t.config.dataDir + "/gateway.db", { readonly: true });
    const rows = db.prepare("SELECT status, attempts FROM event_outbox WHERE sink = 'hook'").all() as Array<{ status: string; attempts: number }>;
    db.close();
    // admin.token_created of the CLI run (read-only commands record nothing): given back uncounted if the CLI had started sending it.
    expect(rows).toEqual([{ status: "pending", attempts: 0 }]);

    const r = await new WebhookReceiver("cli-secret").start();
    cleanups.push(() => r.stop());
    const server = await openGateway({ ...t.config, events: { pollIntervalMs: 50, sinks: [
      { type: "webhook", name: "hook", url: r.url, hmacSecret: "cli-secret", types: ["config.*", "admin.*"], timeoutMs: 5000, maxAttempts: 10, backoff: { initialMs: 50, maxMs: 200 } },
    ] } }, silentLog());
    cleanups.push(() => server.close());
    // The CLI's event and the server's own config.loaded: both, signed, the CLI's first.
    await waitFor(() => r.delivered().length >= 2, "the CLI's event and the server's");
    expect(r.received.every((x) => x.signatureValid)).toBe(true);
    const seqs = r.delivered().map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(r.delivered().map((e) => e.type)).toEqual(["admin.token_created", "config.loaded"]);
  });
});
