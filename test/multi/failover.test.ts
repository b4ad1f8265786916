// Failover: two instances on one PostgreSQL behind a round-robin load balancer, ACME and EST enrollments
// running, one instance killed with SIGKILL mid-load. The load must go on through the other; afterwards every
// certificate a client received is in the inventory, no serial twice, and the audit chain is intact.
import { readFileSync } from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AcmeClient } from "../helpers/acme-client.js";
import { runGatewayCli } from "../helpers/cli.js";
import { lazyTestDatabase } from "../helpers/postgres.js";
import { Http01Responder } from "../acme/setup.js";
import { startDeployment, type Deployment } from "./instances.js";
import { acmeEnroll, acmeLab, estEnroll, runLoad, type Outcome } from "./load.js";

const USER = { name: "router1", password: "router1-Secret-pass" };
const testDb = lazyTestDatabase();
let d: Deployment;
let http01: Http01Responder;

beforeAll(async () => {
  http01 = await Http01Responder.start();
  d = await startDeployment({
    databaseUrl: (await testDb.get()).url,
    instances: 2,
    sections: {
      acme: acmeLab(http01.port),
      est: { defaultLabel: "default", labels: [{ name: "default", profile: "device", auth: { users: [USER] } }] },
    },
  });
}, 240_000);

afterAll(async () => {
  await d?.stop();
  await http01?.close();
  await testDb.drop();
});

describe("failover", () => {
  it("kill -9 of one instance mid-load: the load continues on the other, nothing is lost or doubled", async () => {
    const caPem = readFileSync(d.rootPem, "utf8");
    const clients = await Promise.all([0, 1, 2].map(async () => {
      const c = await AcmeClient.create({ directoryUrl: `${d.https}/acme/directory`, caPem, maxSockets: 2 });
      for (let i = 0; ; i++) { // the account itself may land on either instance
        if ((await c.newAccount({ termsOfServiceAgreed: true })).status === 201) return c;
        if (i > 5) throw new Error("no ACME account");
      }
    }));
    const loops = [
      ...clients.map((c, k) => (i: number) => acmeEnroll(c, http01, `acme${k}-${i}.example.com`)),
      ...[0, 1, 2].map((k) => (i: number) => estEnroll(d.https, caPem, USER, `est${k}-${i}.example.com`)),
    ];
    const victim = d.instances[0];
    let killedAt = -1;
    const ok = (o: Outcome[]) => o.filter((x) => x.ok).length;
    const deadline = Date.now() + 180_000;
    const outcomes = await runLoad(loops, (o) => {
      if (killedAt < 0 && ok(o) >= 12) {
        victim.proc.kill("SIGKILL");
        killedAt = o.length;
      }
      if (killedAt < 0) return Date.now() > deadline;
      const after = o.slice(killedAt).filter((x) => x.ok);
      return (after.filter((x) => x.protocol === "acme").length >= 10 && after.filter((x) => x.protocol === "est").length >= 10) || Date.now() > deadline;
    });
    for (const c of clients) c.close();
    expect((await victim.exited).signal).toBe("SIGKILL");
    const good = outcomes.filter((o): o is Extract<Outcome, { ok: true }> => o.ok);
    // The load went on after the kill: 10 more certificates of each protocol, from the survivor.
    expect(killedAt).toBeGreaterThan(0);
    const afterKill = outcomes.slice(killedAt).filter((o) => o.ok);
    const failed = outcomes.filter((o) => !o.ok);
    expect({ acme: afterKill.filter((o) => o.protocol === "acme").length >= 10, est: afterKill.filter((o) => o.protocol === "est").length >= 10, failed: failed.slice(0, 5) })
      .toMatchObject({ acme: true, est: true });

    // Every certificate any client received is in the inventory, issued, and no serial came twice.
    const serials = good.map((o) => o.serial);
    expect(new Set(serials).size).toBe(serials.length);
    const c = new pg.Client({ connectionString: d.databaseUrl });
    await c.connect();
    const rows = (await c.query("SELECT serial, stage FROM certificates WHERE serial = ANY($1)", [serials])).rows as Array<{ serial: string; stage: string }>;
    await c.end();
    expect(rows.length).toBe(serials.length);
    expect(rows.every((r) => r.stage === "issued")).toBe(true);

    // One unbroken audit chain, checked by the operator's command against the shared database.
    const v = await runGatewayCli(["audit", "verify", "--config", d.instances[1].configPath], { GATEWAY_TEST_DATABASE_URL: d.databaseUrl });
    expect(v.stdout).toMatch(/audit chain intact: \d+ events/);
    expect(v.code).toBe(0);
  }, 300_000);
});
