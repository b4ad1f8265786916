import { createHmac } from "node:crypto";
import { request } from "node:https";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SqliteStore } from "../../src/store/sqlite/store.js";
import { runCli } from "../helpers/cli.js";
import { lifecycleEnv, type LifecycleEnv } from "./setup.js";

/** Live enforcement (admin API and inbound signed webhook) with OCSP answering at once; audit evidence export. */
const SECRET = "enforcement-hook-secret-for-tests";
let e: LifecycleEnv;
beforeAll(async () => {
  e = await lifecycleEnv({ enforcement: { webhook: { hmacSecret: SECRET, toleranceSeconds: 60 } } });
});
afterAll(async () => e?.close());

function hook(body: string, o: { secret?: string; ts?: number } = {}): Promise<{ status: number; json: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const ts = String(o.ts ?? Math.floor(Date.now() / 1000));
  const sig = createHmac("sha256", o.secret ?? SECRET).update(`${ts}.${body}`).digest("hex");
  return new Promise((resolve, reject) => {
    const q = request(`${e.https}/hooks/enforcement`, { method: "POST", rejectUnauthorized: false, headers: { "content-type": "application/json", "x-gateway-timestamp": ts, "x-gateway-signature": `sha256=${sig}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString() || "null") }));
    });
    q.on("error", reject);
    q.end(body);
  });
}

describe("live enforcement", () => {
  it("the admin API revokes every valid certificate of an identity at once; OCSP says revoked right after", async () => {
    const who = { kind: "mdm-device", id: "laptop-17" };
    const a = await e.issue({ names: ["l17-a.example.com"], requester: who });
    const b = await e.issue({ names: ["l17-b.example.com"], requester: who });
    const other = await e.issue({ names: ["someone-else.example.com"], requester: { kind: "mdm-device", id: "laptop-18" } });
    expect(await e.ocspStatus(a.path)).toBe("good");
    const r = await e.admin("/enforcement", { body: { identity: "mdm-device:laptop-17", action: "revoke", reason: "keyCompromise", comment: "EDR alert 4711" } });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ action: "revoke", matched: 2, reason: "keyCompromise" });
    expect(r.json.changed.sort()).toEqual([a.serial, b.serial].sort());
    expect(await e.ocspStatus(a.path)).toBe("revoked");
    expect(await e.ocspStatus(b.path)).toBe("revoked");
    expect(await e.ocspStatus(other.path)).toBe("good");
    const ev = (await e.t.gw.store.queryAudit({ type: "enforcement.applied" })).at(-1)!;
    expect(ev.data).toMatchObject({ source: "admin", action: "revoke", selector: { identity: "mdm-device:laptop-17" }, comment: "EDR alert 4711", changed: 2 });
    expect(ev.actor).toMatch(/^admin:/);
    expect((await e.admin("/enforcement", { body: { identity: "mdm-device:laptop-17" } })).json.matched).toBe(0); // nothing valid is left
  });

  it("the signed webhook puts a device on hold and releases it; OCSP follows each step", async () => {
    const c = await e.issue({ names: ["kiosk-9.example.com"], requester: { kind: "scep-endpoint", id: "kiosks" } });
    const hold = await hook(JSON.stringify({ device: "dns:kiosk-9.example.com", action: "hold", comment: "posture: disk not encrypted" }));
    expect(hold.status).toBe(200);
    expect(hold.json).toMatchObject({ action: "hold", matched: 1, changed: [c.serial], reason: "certificateHold" });
    expect(await e.ocspStatus(c.path)).toBe("revoked");
    await e.t.gw.crls.settled(); // the CRL follows within crl.rebuildDelaySeconds, OCSP at once
    const crl = await fetch(`${e.http}/crl/dev-issuing.crl`);
    expect(Buffer.from(await crl.arrayBuffer()).toString("hex")).toContain(c.serial);
    const release = await hook(JSON.stringify({ device: "kiosk-9.example.com", action: "release" }));
    expect(release.json).toMatchObject({ action: "release", changed: [c.serial] });
    expect(await e.ocspStatus(c.path)).toBe("good");
    expect((await e.t.gw.store.queryAudit({ type: "enforcement.applied" })).at(-1)?.actor).toBe("webhook:enforcement");
  });

  it("the webhook refuses a wrong signature, a stale timestamp, a replay and a malformed order", async () => {
    const body = JSON.stringify({ identity: "nobody:x", action: "revoke" });
    expect((await hook(body, { secret: "wrong" })).status).toBe(401);
    expect((await hook(body, { ts: Math.floor(Date.now() / 1000) - 3600 })).status).toBe(401);
    const ts = Math.floor(Date.now() / 1000);
    expect((await hook(body, { ts })).status).toBe(200);
    expect((await hook(body, { ts })).status).toBe(401); // the same signed request again
    expect((await hook(JSON.stringify({ action: "revoke" }))).status).toBe(400);
    expect((await e.t.gw.store.queryAudit({ type: "enforcement.webhook_refused" })).length).toBeGreaterThanOrEqual(2);
  });
});

describe("audit evidence export", () => {
  it("exports a period with its verification; the CLI writes the same and a tampered event shows as broken", async () => {
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const r = await e.admin(`/audit/export?from=${encodeURIComponent(from)}`);
    expect(r.status).toBe(200);
    expect(r.json.format).toBe("enrollment-gateway-audit-export/1");
    expect(r.json.segment).toMatchObject({ verified: true });
    expect(r.json.chain.ok).toBe(true);
    expect(r.json.events.length).toBe(r.json.segment.count);
    expect(r.json.events.some((x: { type: string }) => x.type === "enforcement.applied")).toBe(true);
    expect((await e.admin("/audit/export?from=yesterday")).status).toBe(400);

    const out = join(e.dir, "export.json");
    const ok = await runCli(["audit", "export", "--out", out], e.t.config.dataDir, e.t.config.profilesDir);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(readFileSync(out, "utf8")).segment.verified).toBe(true);

    const db = (e.t.gw.store as SqliteStore).raw;
    db.exec("DROP TRIGGER audit_no_update");
    db.prepare("UPDATE audit_events SET actor = 'someone-else' WHERE seq = 3").run();
    const broken = await runCli(["audit", "export", "--out", out], e.t.config.dataDir, e.t.config.profilesDir);
    expect(broken.code).toBe(3);
    const doc = JSON.parse(readFileSync(out, "utf8"));
    expect(doc.segment).toMatchObject({ verified: false, brokenAt: 3 });
    expect(doc.chain).toMatchObject({ ok: false, brokenAt: 3 });
  });
});
