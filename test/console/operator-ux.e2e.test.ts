// The console points of issue 17, in headless Chromium against a real gateway: who is signed in (the admin
// token's name, explained), long serials and hashes shortened with a copy button that copies the whole value,
// the revocation date on revoked rows, the enrollment-secret form keeping profile and protocols consistent,
// the expiry chart at its panel's width, and the audit trail newest first with an order toggle.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { hashToken } from "../../src/gateway.js";
import { issueMany } from "../server/inventory-fixture.js";
import { consoleEnv, type ConsoleEnv } from "./setup.js";

let c: ConsoleEnv;
let setupError: unknown;
beforeAll(async () => {
  try {
    c = await consoleEnv();
  } catch (e) {
    setupError = e;
  }
});
// A failed beforeAll would only mark the tests skipped: without Chromium every test must fail.
beforeEach(() => {
  if (setupError) throw setupError;
});
afterAll(async () => {
  await c?.close();
});

const hash = (route: string) => `${c.consoleUrl}#${route}`;
const poll = <T>(fn: () => Promise<T>) => expect.poll(fn, { timeout: 15_000 });
const short = (v: string) => `${v.slice(0, 8)}…${v.slice(-6)}`;
const ymd = (iso: string) => iso.slice(0, 10);
const minute = (iso: string) => `${iso.slice(0, 16).replace("T", " ")} UTC`;

async function signIn(token: string) {
  const { page } = c;
  await page.goto(c.consoleUrl);
  await page.getByLabel("Admin token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Console" }).waitFor();
}

async function signOut() {
  await c.page.getByRole("button", { name: "Log out" }).click();
  await c.page.getByLabel("Admin token").waitFor();
}

describe("operator console: issue 17", () => {
  it("says which admin token is signed in, and explains the bootstrap token", async () => {
    const { page, env } = c;
    await signIn(env.t.token);
    const who = page.locator("#signed-in");
    expect(await who.textContent()).toBe("Signed in with admin token “bootstrap” (the token created at first start)");
    const help = page.locator("#signed-in-help");
    expect(await help.isVisible()).toBe(false);
    await page.locator("details.help summary").click();
    await help.waitFor({ state: "visible" });
    const text = (await help.textContent())!;
    for (const want of ["made at its first start", "admin-token", "gateway token create --name", "admin:bootstrap"]) expect(text).toContain(want);
    await c.shot("ux-01-signed-in-help");
    await page.keyboard.press("Escape");
    await help.waitFor({ state: "hidden" });
    await signOut();

    // Another token: its own name, no "first start" remark, and the help names where such tokens come from.
    const alice = `gw_${randomBytes(24).toString("base64url")}`;
    await env.t.gw.store.insertAdminToken(`alice-${hashToken(alice).slice(0, 8)}`, "alice", hashToken(alice));
    await signIn(alice);
    expect(await who.textContent()).toBe("Signed in with admin token “alice”");
    await page.locator("details.help summary").click();
    expect(await help.textContent()).toContain("admin:alice");
    await signOut();
    await signIn(env.t.token);
  });

  it("shows long serials shortened on one line; the copy button copies the whole serial", async () => {
    const { page, env } = c;
    const { serial } = await env.issue({ names: ["short-serial.example.com"] });
    expect(serial.length).toBeGreaterThan(20);
    await page.goto(hash("/inventory?name=short-serial"));
    const cell = page.getByRole("row").filter({ hasText: "short-serial.example.com" }).locator(`[data-full="${serial}"]`);
    await cell.waitFor();
    const link = cell.getByRole("link");
    expect(await link.textContent()).toBe(short(serial));
    expect(await link.getAttribute("title")).toBe(serial);
    // One line: no taller than a line of its font, whatever the column width.
    const lines = await cell.evaluate((el) => el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight || "20"));
    expect(lines).toBeLessThan(1.6);

    await cell.getByRole("button", { name: "Copy serial" }).click();
    await poll(() => c.clipboard()).toBe(serial);
    await poll(() => cell.getByRole("button").textContent()).toContain("Copied");
    await poll(() => page.locator("#announcer").textContent()).toContain("copied");

    // The certificate page: its decoded fingerprint too, copied whole.
    await link.click();
    await page.getByRole("heading", { level: 1, name: `Certificate ${short(serial)}` }).waitFor();
    const fp = page.getByRole("region", { name: "Decoded certificate" }).locator("[data-full]").filter({ has: page.getByRole("button", { name: "Copy fingerprint" }) });
    const full = (await fp.getAttribute("data-full"))!;
    expect(full).toMatch(/^[0-9a-f]{64}$/);
    await fp.getByRole("button", { name: "Copy fingerprint" }).click();
    await poll(() => c.clipboard()).toBe(full);
    await c.shot("ux-02-short-serial");
  });

  it("shows the revocation date on revoked rows (inventory and certificate view)", async () => {
    const { page, env } = c;
    const { serial } = await env.issue({ names: ["revoked-date.example.com"] });
    expect((await env.admin(`/certificates/${serial}/revoke`, { body: { reason: "superseded" } })).status).toBe(200);
    const revokedAt = (await env.admin(`/certificates/${serial}`)).json.certificate.revokedAt as string;
    expect(revokedAt).toMatch(/^\d{4}-\d\d-\d\dT/);

    await page.goto(hash("/inventory?name=revoked-date"));
    const row = page.getByRole("row").filter({ hasText: "revoked-date.example.com" });
    await row.waitFor();
    const status = row.getByRole("cell").last();
    expect((await status.textContent())!.replace(/\s+/g, " ").trim()).toMatch(new RegExp(`^revoked ?on ${ymd(revokedAt)} \\(superseded\\)$`));
    expect(await status.locator("time").getAttribute("datetime")).toBe(revokedAt);

    await page.goto(hash(`/certificates/${serial}`));
    const overview = page.getByRole("region", { name: "Inventory" });
    await overview.waitFor();
    expect((await overview.textContent())!.replace(/\s+/g, " ")).toContain(`Statusrevoked on ${minute(revokedAt)} (superseded)`);
    await c.shot("ux-03-revoked-date");
  });

  it("defaults the secret form to a profile that allows every ticked protocol, and keeps the two consistent", async () => {
    const { page, env } = c;
    const listed = (await env.admin("/profiles")).json.profiles as Array<{ name: string; protocols: string[] }>;
    const allowed = new Map(listed.map((p) => [p.name, p.protocols.filter((x) => ["est", "scep", "cmp"].includes(x))]));
    const firstAllowing = (want: string[]) => listed.find((p) => want.every((x) => p.protocols.includes(x)))!.name;
    // The list must make the test mean something: a first profile refusing scep (the old default's mistake).
    const first = listed.find((p) => allowed.get(p.name)!.length)!;
    expect(allowed.get(first.name)).not.toContain("scep");

    await page.goto(hash("/secrets"));
    const profile = page.getByLabel("Profile", { exact: true });
    const box = (p: string) => page.getByRole("checkbox", { name: p, exact: true });
    const ticked = async () => (await Promise.all(["est", "scep", "cmp"].map(async (p) => ((await box(p).isChecked()) ? p : "")))).filter(Boolean);
    /** Never a protocol the chosen profile refuses. */
    const consistent = async () => {
      const [t, on] = [await ticked(), await profile.inputValue()];
      expect(t.every((x) => allowed.get(on)!.includes(x)), `${t} on ${on}`).toBe(true);
      return t;
    };
    await poll(() => profile.inputValue()).toBe(firstAllowing(["est", "scep", "cmp"]));
    expect(await consistent()).toEqual(["est", "scep", "cmp"]);
    // Every option says what its profile allows.
    expect(await profile.locator(`option[value="${first.name}"]`).textContent()).toBe(`${first.name} (${allowed.get(first.name)!.join(", ")})`);

    // A profile refusing scep unticks it.
    await profile.selectOption("code-signing");
    expect(await consistent()).toEqual(["est", "cmp"]);
    expect(await page.locator("#sec-protocols-hint").textContent()).toContain("Profile code-signing allows est, cmp");
    // Ticking scep moves to a profile that allows all three.
    await box("scep").check();
    await poll(() => profile.inputValue()).toBe(firstAllowing(["est", "scep", "cmp"]));
    expect(await consistent()).toEqual(["est", "scep", "cmp"]);
    expect(await page.getByRole("status").first().textContent()).toContain("switched to profile");
    // An EST-only profile leaves only est.
    await profile.selectOption("device-approval");
    expect(await consistent()).toEqual(["est"]);
    await box("cmp").check();
    await poll(() => profile.inputValue()).toBe(firstAllowing(["est", "cmp"]));
    expect(await consistent()).toEqual(["est", "cmp"]);
    await c.shot("ux-04-secret-form");

    // What is minted is what the form showed.
    await page.getByRole("button", { name: "Mint secret" }).click();
    const once = page.getByRole("region", { name: "New enrollment secret" });
    await once.waitFor();
    const facts = (await once.textContent())!;
    expect(facts).toContain(`Profile${firstAllowing(["est", "cmp"])}`);
    expect(facts).toContain("Protocolsest, cmp");
    await once.getByRole("button", { name: "Copy secret", exact: true }).click();
    await poll(() => c.clipboard()).toBe(await page.locator("#secret-value").textContent());
  });

  it("draws the expiry chart at its panel's width, and again when the window is resized", async () => {
    const { page, env } = c;
    await env.issue({ names: ["chart-width.example.com"] });
    const widths = () => page.evaluate(() => {
      const svg = document.querySelector("svg.bar-chart")!;
      const panel = svg.closest("section")!;
      const cs = getComputedStyle(panel);
      return { svg: svg.getBoundingClientRect().width, panel: panel.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) };
    });
    const near = async () => {
      const w = await widths();
      return Math.abs(w.svg - w.panel) <= 3 ? w.panel : `svg ${w.svg} in a panel of ${w.panel}`;
    };
    await page.goto(hash("/dashboard"));
    await page.locator("svg.bar-chart").waitFor();
    const wide = await near();
    expect(typeof wide, String(wide)).toBe("number");
    expect(wide as number).toBeGreaterThan(900);

    await page.setViewportSize({ width: 640, height: 900 });
    await poll(async () => typeof (await near()) === "number" && ((await near()) as number) < 640).toBe(true);
    const narrow = (await near()) as number;
    expect(narrow).toBeLessThan(wide as number);
    // Still every week drawn, inside the panel.
    expect(await page.locator("svg.bar-chart rect.bar").count()).toBe(12);
    const right = await page.locator("svg.bar-chart rect.bar").last().evaluate((r) => Number(r.getAttribute("x")) + Number(r.getAttribute("width")));
    expect(right).toBeLessThanOrEqual(narrow);
    await c.shot("ux-05-chart-narrow");
    await page.setViewportSize({ width: 1280, height: 900 });
    await poll(() => near()).toBe(wide);
  });

  it("lists the audit trail newest first, pages both ways, and toggles to oldest first", async () => {
    const { page, env } = c;
    // Over two pages of events: every issuance appends at least one.
    const before = (await env.admin("/audit?order=desc&limit=1")).json.events[0].seq as number;
    await issueMany(env.t.gw, Math.max(0, 110 - before), "audit-order.example.com");
    const head = (await env.admin("/audit?order=desc&limit=1")).json.events[0].seq as number;
    expect(head).toBeGreaterThan(100);
    const seqs = () => page.locator("tbody tr").evaluateAll((rows) => rows.map((r) => Number((r as HTMLElement).dataset.seq)));
    const descending = (s: number[], from: number) => s.map((_, i) => from - i);
    const ascending = (s: number[], from: number) => s.map((_, i) => from + i);

    await page.goto(hash("/audit"));
    expect(await page.getByRole("radio", { name: "Newest first" }).isChecked()).toBe(true);
    await poll(seqs).toEqual(descending(Array(50).fill(0), head));
    // The hash column: shortened, the whole hash in data-full.
    const cell = page.locator(`tbody tr[data-seq="${head}"] td`).last();
    const full = (await cell.locator("[data-full]").getAttribute("data-full"))!;
    expect(full).toMatch(/^[0-9a-f]{64}$/);
    expect(await cell.locator("code").textContent()).toBe(short(full));

    await page.getByRole("button", { name: "Next page" }).click();
    await poll(seqs).toEqual(descending(Array(50).fill(0), head - 50));
    await page.getByRole("button", { name: "Previous page" }).click();
    await poll(async () => (await seqs())[0]).toBe(head);
    await c.shot("ux-06-audit-newest");

    await page.getByRole("radio", { name: "Oldest first" }).check();
    await poll(seqs).toEqual(ascending(Array(50).fill(0), 1));
    await page.getByRole("button", { name: "Next page" }).click();
    await poll(seqs).toEqual(ascending(Array(50).fill(0), 51));
    // The order is in the URL: a reload (or a bookmark) keeps it, from the first page.
    expect(page.url()).toContain("#/audit?order=asc");
    await page.reload();
    await poll(seqs).toEqual(ascending(Array(50).fill(0), 1));
    expect(await page.getByRole("radio", { name: "Oldest first" }).isChecked()).toBe(true);
    await page.getByRole("radio", { name: "Newest first" }).check();
    await poll(async () => (await seqs())[0]).toBe(head);
    expect(await page.getByRole("button", { name: "Previous page" }).count()).toBe(0);
    expect(c.errors).toEqual([]);
  });
});
