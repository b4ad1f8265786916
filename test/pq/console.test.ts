// The operator console names the key algorithm of ML-DSA certificates, in the inventory list and on the details page:
// headless Chromium against a real gateway with an ECDSA CA and an ML-DSA CA, and the admin API the pages read.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import request from "supertest";
import type { Express } from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initCaPair } from "../../src/ca/init.js";
import { startServers, type RunningServers } from "../../src/server/listen.js";
import { CHROMIUM, SHOTS } from "../console/setup.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { mlDsaCsr, pqProfile } from "../helpers/ml-dsa.js";
import { makeCsr, tempDir } from "../helpers/openssl.js";

const PQ_PROFILE = pqProfile({ name: "pq-server", issuer: "pq-issuing", keys: ["{ type: ml-dsa }"] });

let t: TestGateway;
let servers: RunningServers;
let browser: Browser;
let page: Page;
let app: Express;
const serials: Record<"pq" | "ec", string> = { pq: "", ec: "" };
const auth = () => ({ authorization: `Bearer ${t.token}` });

beforeAll(async () => {
  // Fail, never skip, when the browser is missing: the console is only tested through it.
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  mkdirSync(SHOTS, { recursive: true });
  const dataDir = join(tempDir("pq-console-"), "data");
  const common = { casDir: join(dataDir, "cas"), httpBase: "http://127.0.0.1:8080" };
  await initCaPair({ ...common, rootName: "dev-root", rootSubject: "CN=Console EC Root", issuingName: "dev-issuing", issuingSubject: "CN=Console EC Issuing", keyAlgorithm: "ec-p256" });
  await initCaPair({ ...common, rootName: "pq-root", rootSubject: "CN=Console ML-DSA Root", issuingName: "pq-issuing", issuingSubject: "CN=Console ML-DSA Issuing", keyAlgorithm: "ml-dsa-65" });
  t = await testGateway({ dataDir }, { "pq-server": PQ_PROFILE });
  servers = await startServers(t.gw);
  app = servers.apps.https as Express;
  const enroll = async (profile: string, csr: string) => {
    const res = await request(app).post("/admin/api/v1/enroll").set(auth()).send({ profile, csr });
    expect(res.status, JSON.stringify(res.body.error)).toBe(201);
    return res.body.serial as string;
  };
  serials.pq = await enroll("pq-server", mlDsaCsr({ level: 65, cn: "console-pq.example.com", dns: ["console-pq.example.com"] }).pem);
  serials.ec = await enroll("tls-server", makeCsr(tempDir(), "ec", { sans: ["DNS:console-ec.example.com"] }).pem);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 } });
  page = await context.newPage();
});
afterAll(async () => {
  await browser?.close();
  await servers?.close();
  await t?.gw.close();
});

const consoleUrl = (route: string) => `https://127.0.0.1:${servers.httpsPort}/console/#${route}`;
/** The value of one fact ("Key", "Public key", …) in a section of the details page. */
const fact = (region: string, term: string) =>
  page.getByRole("region", { name: region }).locator("dl.facts > div").filter({ has: page.locator("dt", { hasText: new RegExp(`^${term}$`) }) }).locator("dd").textContent();

describe("console: ML-DSA certificates", () => {
  it("the admin API the console reads names the ML-DSA key and signature", async () => {
    const list = await request(app).get("/admin/api/v1/certificates").query({ name: "console-pq" }).set(auth());
    expect(list.body.certificates.map((c: { serial: string; keyAlgorithm: string }) => [c.serial, c.keyAlgorithm])).toEqual([[serials.pq, "ML-DSA-65"]]);
    const details = await request(app).get(`/admin/api/v1/certificates/${serials.pq}/details`).set(auth());
    expect(details.body.decoded).toMatchObject({ publicKey: { algorithm: "ML-DSA-65" }, signatureAlgorithm: "ML-DSA-65" });
    expect(details.body.decoded.publicKey.size).toBeUndefined();
  });

  it("the inventory list has a Key column: ML-DSA-65 beside EC P-256; the details page shows the key and signature algorithm", async () => {
    await page.goto(consoleUrl("/inventory"));
    await page.getByLabel("Admin token").fill(t.token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { level: 1, name: "Inventory" }).waitFor();

    const header = await page.getByRole("table", { name: "Certificates" }).getByRole("columnheader").allTextContents();
    const keyColumn = header.indexOf("Key");
    expect(keyColumn).toBeGreaterThan(0);
    const cellsOf = async (name: string) => {
      const row = page.getByRole("row").filter({ hasText: name });
      await row.waitFor();
      return [await row.getByRole("rowheader").textContent(), ...(await row.getByRole("cell").allTextContents())];
    };
    expect((await cellsOf("console-pq.example.com"))[keyColumn]).toBe("ML-DSA-65");
    expect((await cellsOf("console-ec.example.com"))[keyColumn]).toBe("EC P-256");
    await page.screenshot({ path: join(SHOTS, "pq-01-inventory.png"), fullPage: true });

    await page.getByRole("row").filter({ hasText: "console-pq.example.com" }).locator(`[data-full="${serials.pq}"]`).getByRole("link").click();
    await page.getByRole("heading", { level: 1, name: /Certificate/ }).waitFor();
    await page.getByRole("region", { name: "Decoded certificate" }).locator("dl.facts").waitFor();
    expect(await fact("Inventory", "Key")).toBe("ML-DSA-65");
    expect(await fact("Decoded certificate", "Public key")).toBe("ML-DSA-65");
    expect(await fact("Decoded certificate", "Signature algorithm")).toBe("ML-DSA-65");
    expect(await fact("Decoded certificate", "Issuer")).toContain("Console ML-DSA Issuing");
    await page.screenshot({ path: join(SHOTS, "pq-02-details.png"), fullPage: true });
  });
});
