import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RenewalMonitor } from "../../src/lifecycle/monitor.js";
import type { SqliteStore } from "../../src/store/sqlite/store.js";
import { lifecycleEnv, type LifecycleEnv } from "./setup.js";

/** Ownership and classification in the inventory; renewals due and missed, announced once, counted by profile and owner. */
const SHORT = `
name: short-lived
protocols: [admin]
keys: [{ type: ec }]
names: { dns: { suffixes: [example.com] } }
validity: { default: 10d, max: 30d }
keyUsage: [digitalSignature]
extendedKeyUsage: [serverAuth]
renewal: { windowDays: 20 }
classification: { owner: payments-team, application: checkout, environment: production, criticality: high }
`;

let e: LifecycleEnv;
beforeAll(async () => {
  e = await lifecycleEnv({}, { "short-lived": SHORT });
});
afterAll(async () => e?.close());

describe("classification", () => {
  it("comes from the profile, then the requester's attributes; the admin API changes it and searches by it", async () => {
    const a = await e.issue({ names: ["pay1.example.com"], profile: "short-lived" });
    const rec = (await e.t.gw.store.getCertificate(a.serial))!;
    expect(rec).toMatchObject({ owner: "payments-team", application: "checkout", environment: "production", criticality: "high" });
    const b = await e.issue({ names: ["pay2.example.com"], profile: "short-lived", requester: { kind: "admin", id: "ops", attributes: { owner: "sre", criticality: "bogus" } } });
    expect(await e.t.gw.store.getCertificate(b.serial)).toMatchObject({ owner: "sre", criticality: "high" }); // an unknown criticality is ignored

    const patched = await e.admin(`/certificates/${b.serial}/classification`, { method: "PATCH", body: { environment: "staging", application: null } });
    expect(patched.status).toBe(200);
    expect(patched.json.certificate).toMatchObject({ owner: "sre", environment: "staging" });
    expect(patched.json.certificate.application).toBeUndefined();
    expect((await e.admin(`/certificates/${b.serial}/classification`, { method: "PATCH", body: { criticality: "extreme" } })).status).toBe(400);
    expect((await e.admin("/certificates/00ff/classification", { method: "PATCH", body: { owner: "x" } })).status).toBe(404);

    const bySre = await e.admin("/certificates?owner=sre");
    expect(bySre.json.certificates.map((c: { serial: string }) => c.serial)).toEqual([b.serial]);
    const byEnv = await e.admin("/certificates?environment=production&profile=short-lived");
    expect(byEnv.json.certificates.map((c: { serial: string }) => c.serial)).toEqual([a.serial]);
    const audit = await e.t.gw.store.queryAudit({ type: "certificate.classified", target: b.serial });
    expect(audit[0].data).toMatchObject({ environment: "staging", application: null });
  });
});

describe("renewal monitoring", () => {
  it("announces a certificate inside its renewal window once, lists it, counts it by profile and owner, and forgets it once renewed", async () => {
    const first = await e.issue({ names: ["renew.example.com"], profile: "short-lived", requester: { kind: "admin", id: "renewer" } });
    const scan = await e.admin("/lifecycle/scan", { method: "POST", body: {} });
    expect(scan.json.announced).toBeGreaterThanOrEqual(1);
    const events = await e.t.gw.store.queryAudit({ type: "certificate.renewal_due", target: first.serial });
    expect(events).toHaveLength(1);
    expect(events[0].data).toMatchObject({ profile: "short-lived", owner: "payments-team", requester: "admin:renewer" });
    await e.admin("/lifecycle/scan", { method: "POST", body: {} });
    expect(await e.t.gw.store.queryAudit({ type: "certificate.renewal_due", target: first.serial })).toHaveLength(1); // once

    const due = await e.admin("/lifecycle/renewals?state=due&profile=short-lived");
    expect(due.json.due.map((c: { serial: string }) => c.serial)).toContain(first.serial);
    const metrics = await (await fetch(`${e.http}/metrics`)).text();
    expect(metrics).toMatch(/gateway_certificates_renewal_due\{profile="short-lived",owner="payments-team"\} [1-9]/);

    // The same requester asks again for the same names without saying it renews: that is the renewal.
    const second = await e.issue({ names: ["renew.example.com"], profile: "short-lived", requester: { kind: "admin", id: "renewer" } });
    expect((await e.t.gw.store.getCertificate(first.serial))?.replacedBy).toBe(second.serial);
    expect((await e.t.gw.store.queryAudit({ type: "certificate.replaced", target: first.serial }))[0].data).toMatchObject({ by: second.serial, implicit: true });
    const after = await e.admin("/lifecycle/renewals?state=due&profile=short-lived");
    expect(after.json.due.map((c: { serial: string }) => c.serial)).not.toContain(first.serial);
  });

  it("an expired certificate nobody replaced is a missed renewal: announced once, listed, counted", async () => {
    const c = await e.issue({ names: ["forgotten.example.com"], requester: { kind: "admin", id: "forgetful" } });
    // Time travel: the certificate ran out yesterday.
    (e.t.gw.store as SqliteStore).raw.prepare("UPDATE certificates SET not_after = ? WHERE serial = ?").run(new Date(Date.now() - 86_400_000).toISOString(), c.serial);
    await e.admin("/lifecycle/scan", { method: "POST", body: {} });
    await e.admin("/lifecycle/scan", { method: "POST", body: {} });
    expect(await e.t.gw.store.queryAudit({ type: "certificate.renewal_missed", target: c.serial })).toHaveLength(1);
    const missed = await e.admin("/lifecycle/renewals?state=missed");
    expect(missed.json.missed.map((x: { serial: string }) => x.serial)).toContain(c.serial);
    expect(missed.json.due).toBeUndefined();
    const metrics = await (await fetch(`${e.http}/metrics`)).text();
    expect(metrics).toMatch(/gateway_certificates_renewal_missed\{profile="tls-server",owner=""\} [1-9]/);
  });
});

describe("renewal lists at their bound", () => {
  it("say they were truncated instead of stopping silently", async () => {
    await e.issue({ names: ["bound1.example.com"], profile: "short-lived" });
    await e.issue({ names: ["bound2.example.com"], profile: "short-lived" });
    const { store, profiles, audit } = e.t.gw;
    const all = await new RenewalMonitor(store, profiles, audit).state(new Date(), { profile: "short-lived" });
    expect(all.due.length).toBeGreaterThanOrEqual(2);
    expect(all.truncated).toBe(false);
    const bounded = await new RenewalMonitor(store, profiles, audit, all.due.length - 1).state(new Date(), { profile: "short-lived" });
    expect(bounded.due).toHaveLength(all.due.length - 1);
    expect(bounded.truncated).toBe(true);
  });
});
