// The operator console end to end, in headless Chromium against a real gateway: every step goes
// through the pages an operator uses, and its effect is checked where a client would see it
// (OCSP, the EST client's next poll). Screenshots land in test-output/console/ for review.
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { normalizeSerial } from "../../src/ca/serial.js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EST_USER, makeCsr, pkcs7Certs } from "../est/setup.js";
import { makeCsr as makeCsrPem } from "../helpers/openssl.js";
import { exactlyOnce, issueMany } from "../server/inventory-fixture.js";
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
/** Waits for the page to settle on a value (generously: CI machines are slow; nothing here measures speed). */
const poll = <T>(fn: () => Promise<T>) => expect.poll(fn, { timeout: 15_000 });
/** The serial as the gateway writes it (lower-case hex, no sign octet). */
const serialOf = (pem: string) => normalizeSerial(new X509Certificate(pem).serialNumber);

describe("operator console", () => {
  it("logs in with the admin token (a wrong one is refused) and keeps the session over a reload", async () => {
    const { page } = c;
    await page.goto(c.consoleUrl);
    await page.getByLabel("Admin token").waitFor();
    await c.shot("01-login");
    await page.getByLabel("Admin token").fill("not-the-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await poll(() => page.getByRole("alert").textContent()).toContain("not accepted");

    await page.getByLabel("Admin token").fill(c.env.t.token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("navigation", { name: "Console" }).waitFor();
    expect(await page.getByRole("banner").textContent()).toContain("Signed in with admin token “bootstrap”");
    // The token itself is not kept: the session cookie is HttpOnly and the page only holds the CSRF token.
    expect(await page.evaluate(() => document.cookie)).toBe("");

    await page.reload();
    await page.getByRole("navigation", { name: "Console" }).waitFor();
    await page.getByRole("heading", { level: 1, name: "Inventory" }).waitFor();
  });

  it("finds an ACME certificate, shows its details and revokes it; OCSP then answers revoked", async () => {
    const { page, env } = c;
    const client = await c.acmeAccount();
    const { certPem } = await client.issue([{ type: "dns", value: "console-a.example.com" }], { publish: c.publish });
    client.close();
    const serial = serialOf(certPem);
    const leaf = join(env.dir, "console-a.pem");
    writeFileSync(leaf, certPem.slice(0, certPem.indexOf("-----END CERTIFICATE-----") + 25) + "\n");
    expect(await env.ocspStatus(leaf)).toBe("good");

    await page.goto(hash("/inventory"));
    await page.getByLabel("Name contains").fill("console-a");
    await page.getByRole("button", { name: "Search" }).click();
    const row = page.getByRole("row").filter({ hasText: "console-a.example.com" });
    await poll(() => row.count()).toBe(1);
    expect(await row.textContent()).toContain("acme");
    expect(page.url()).toContain("name=console-a");
    await c.shot("02-inventory");

    await row.locator(`[data-full="${serial}"]`).getByRole("link").click();
    await page.getByRole("heading", { level: 1, name: /Certificate/ }).waitFor();
    const extensions = page.getByRole("region", { name: "Extensions" });
    await extensions.getByRole("row", { name: /subjectAltName/ }).waitFor();
    expect(await extensions.getByRole("row", { name: /subjectAltName/ }).textContent()).toContain("dns:console-a.example.com");
    expect(await extensions.getByRole("row", { name: /keyUsage/ }).first().textContent()).toContain("digitalSignature");
    const where = await page.getByRole("region", { name: "Where it was requested from" }).textContent();
    expect(where).toContain("acme");
    const history = page.getByRole("region", { name: "Audit history" });
    expect(await history.textContent()).toContain("certificate.issued");
    await c.shot("03-details");

    await page.getByRole("button", { name: "Revoke…" }).click();
    const dialog = page.getByRole("dialog", { name: "Revoke this certificate?" });
    await dialog.waitFor();
    await dialog.getByLabel("Reason").selectOption("keyCompromise");
    await c.shot("04-revoke-dialog");
    await dialog.getByRole("button", { name: "Revoke certificate" }).click();
    await poll(() => page.getByRole("status").first().textContent()).toContain(`${serial} revoked (keyCompromise)`);
    await poll(() => history.textContent()).toContain("certificate.revoked");
    expect(await page.getByRole("region", { name: "Inventory" }).textContent()).toContain("keyCompromise");
    expect(await page.getByRole("button", { name: "Revoke…" }).isDisabled()).toBe(true);
    await c.shot("05-revoked");

    expect(await env.ocspStatus(leaf)).toBe("revoked");
  });

  it("approves a pending EST request, and the client's next poll receives its certificate", async () => {
    const { page, env } = c;
    const csr = makeCsr(env.dir, "pend-console", { subject: "/CN=pend-console.example.com", sans: "DNS:pend-console.example.com" });
    const first = await c.estEnroll("approve", csr.body, EST_USER.name, EST_USER.password);
    expect(first.status, first.body.toString()).toBe(202);

    await page.goto(hash("/approvals"));
    const card = page.getByRole("article").filter({ hasText: "pend-console.example.com" });
    await card.waitFor();
    const text = await card.textContent();
    for (const want of ["est-user:router1", "dns:pend-console.example.com", "EC P-256", "est", "device-approval"]) expect(text).toContain(want);
    await c.shot("06-approvals");

    await card.getByLabel(/Comment/).fill("known router, ticket OPS-42");
    await card.getByRole("button", { name: "Approve" }).click();
    await poll(() => page.getByRole("status").first().textContent()).toContain("Approved");
    await page.getByText("No request is waiting for approval.").waitFor();
    await c.shot("07-approved");

    const next = await c.estEnroll("approve", csr.body, EST_USER.name, EST_USER.password);
    expect(next.status, next.body.toString()).toBe(200);
    const { text: certs } = await pkcs7Certs(env.dir, "pend-console", next.body);
    expect(certs).toMatch(/subject=CN ?= ?pend-console\.example\.com/);
  });

  it("shows the expected counts on the expiry dashboard, with the chart", async () => {
    const { page, env } = c;
    // Two more admin issuances spread over the chart: one inside the 30-day warning window, one owned.
    const enroll = async (name: string, validityDays: number) => {
      const { pem } = makeCsrPem(env.dir, name, { subject: `/CN=${name}`, sans: [`DNS:${name}`] });
      const r = await env.admin("/enroll", { body: { profile: "tls-server", csr: pem, validityDays } });
      expect(r.status, JSON.stringify(r.json)).toBe(201);
      return r.json.serial as string;
    };
    await enroll("soon-console.example.com", 10);
    const later = await enroll("later-console.example.com", 40);
    expect((await env.admin(`/certificates/${later}/classification`, { method: "PATCH", body: { owner: "payments-team" } })).status).toBe(200);

    await page.goto(hash("/dashboard"));
    const total = (k: string) => page.locator(`#total-${k}`).textContent();
    await page.locator("#total-valid").waitFor();
    // Valid: soon, later and the approved EST certificate; revoked: the ACME one.
    expect(await total("valid")).toBe("3");
    expect(await total("revoked")).toBe("1");
    expect(await total("expired")).toBe("0");
    expect(await total("pendingApprovals")).toBe("0");

    const cells = async (table: string, name: string | RegExp) =>
      (await page.getByRole("table", { name: table }).getByRole("row", { name }).getByRole("cell").allTextContents());
    expect(await cells("By profile", "tls-server")).toEqual(["2", "1"]);
    expect(await cells("By profile", "device-approval")).toEqual(["1", "1"]);
    expect(await cells("By owner", "payments-team")).toEqual(["1", "0"]);
    expect(await cells("By owner", "(no owner)")).toEqual(["2", "2"]);

    const bars = page.locator("svg.bar-chart rect.bar");
    expect(await bars.count()).toBe(12);
    const values = (await bars.evaluateAll((els) => els.map((e) => Number(e.getAttribute("data-value"))))) as number[];
    expect(values.reduce((a, b) => a + b, 0)).toBe(3);
    expect(values.filter((v) => v > 0)).toEqual([1, 1, 1]); // 10, 20 and 40 days: three different weeks
    await c.shot("08-dashboard");
  });

  it("lists audit events with the chain status intact, and filters them by type", async () => {
    const { page } = c;
    await page.goto(hash("/audit"));
    await poll(() => page.locator("#chain-status").textContent()).toContain("Chain intact");
    await page.getByRole("row", { name: /certificate\.issued/ }).first().waitFor();
    await c.shot("09-audit");
    await page.getByLabel("Event type").fill("certificate.revoked");
    await page.getByRole("button", { name: "Filter" }).click();
    await poll(() => page.locator("tbody tr").count()).toBe(1);
    expect(await page.locator("tbody tr").textContent()).toContain("keyCompromise");
  });

  it("mints an enrollment secret and an EAB key, each shown once; the secret enrolls over EST", async () => {
    const { page, env } = c;
    await page.goto(hash("/secrets"));
    await page.getByLabel("Profile", { exact: true }).selectOption("device");
    for (const p of ["est", "scep", "cmp"]) expect(await page.getByRole("checkbox", { name: p, exact: true }).isChecked()).toBe(true);
    await page.getByRole("button", { name: "Mint secret" }).click();
    const secret = (await page.locator("#secret-value").textContent())!;
    const id = (await page.locator("#secret-id").textContent())!;
    expect(secret.length).toBeGreaterThan(20);

    await page.getByRole("checkbox", { name: "tls-server", exact: true }).check();
    await page.getByLabel(/DNS name suffixes/).fill("example.com");
    await page.getByRole("button", { name: "Mint EAB key" }).click();
    const hmac = (await page.locator("#eab-hmac").textContent())!;
    expect(hmac.length).toBeGreaterThan(20);
    expect(await page.locator("#eab-kid").textContent()).toBeTruthy();
    await c.shot("10-secrets");

    // Shown once: nothing brings them back.
    await page.reload();
    await page.getByRole("heading", { level: 1, name: "Enrollment secrets" }).waitFor();
    const body = (await page.locator("body").textContent())!;
    expect(body).not.toContain(secret);
    expect(body).not.toContain(hmac);

    // And the secret is real: it authenticates one EST enrollment on the label of its profile.
    const csr = makeCsr(env.dir, "secret-console", { subject: "/CN=secret-console.example.com" });
    expect((await c.estEnroll("default", csr.body, id, secret)).status).toBe(200);
  });

  it("pages the inventory by cursor: a certificate issued between pages neither shifts nor repeats a row", async () => {
    const { page, env } = c;
    const serials = await issueMany(env.t.gw, 55, "pager.example.com");
    await page.goto(hash("/inventory"));
    await page.getByLabel("Name contains").fill("pager.example");
    await page.getByRole("button", { name: "Search" }).click();
    const status = page.getByText(/certificates? on this page|No more certificates/);
    await poll(() => status.textContent()).toBe("50 certificates on this page");
    // The serial links show a shortened serial; the whole one is in data-full.
    const links = async () => page.locator("tbody tr th [data-full]").evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.full!));
    const first = await links();
    // Newest first: one issued now would shift an offset page by one row; a keyset page stays put.
    await issueMany(env.t.gw, 1, "pager.example.com");
    await page.getByRole("link", { name: "Next page" }).click();
    await poll(() => status.textContent()).toBe("5 certificates on this page");
    const second = await links();
    expect(exactlyOnce(serials, [...first, ...second])).toEqual({ missing: [], repeated: [] });
    await c.shot("10-inventory-page-2");
    await page.getByRole("link", { name: "First page" }).click();
    await poll(() => status.textContent()).toBe("50 certificates on this page");
  });

  it("refuses a state-changing admin call that carries the cookie but not the CSRF token", async () => {
    const { page, env } = c;
    const ca = env.t.gw.cas.issuing[0].name;
    const call = (withToken: boolean) => page.evaluate(async ({ ca, withToken }) => {
      const s = await (await fetch("/console/api/session", { credentials: "same-origin" })).json();
      const r = await fetch(`/admin/api/v1/cas/${ca}/crl`, { method: "POST", credentials: "same-origin", headers: withToken ? { "X-CSRF-Token": s.csrfToken } : {} });
      return { status: r.status, body: await r.json() };
    }, { ca, withToken });
    const refused = await call(false);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("RA_ERR_CSRF");
    expect((await call(true)).status).toBe(200);
  });

  it("logs out: the cookie no longer opens the admin API", async () => {
    const { page } = c;
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByLabel("Admin token").waitFor();
    const status = await page.evaluate(async () => (await fetch("/admin/api/v1/cas", { credentials: "same-origin" })).status);
    expect(status).toBe(401);
    expect(c.errors).toEqual([]);
  });
});
