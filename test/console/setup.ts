import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { Http01Responder } from "../acme/setup.js";
import { approvalProfile, curl, EST_USER, type CurlResult, type EstEnv } from "../est/setup.js";
import { AcmeClient } from "../helpers/acme-client.js";
import { ROOT } from "../helpers/gateway.js";
import { lifecycleEnv, type LifecycleEnv } from "../lifecycle/setup.js";

/** The Debian package's binary; CI installs it (test/run-all.sh). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** Screenshots for reviewers, kept after the run. */
export const SHOTS = join(ROOT, "test-output", "console");

/** EST label `approve` enrolls here: every request waits for an operator. 20 days keeps it clear of the 30-day warning edge. */
const APPROVAL_PROFILE = approvalProfile(20);

export interface ConsoleEnv {
  env: LifecycleEnv;
  http01: Http01Responder;
  browser: Browser;
  page: Page;
  /** https://127.0.0.1:<port>/console/ */
  consoleUrl: string;
  /** A fresh ACME account on the default endpoint. */
  acmeAccount(): Promise<AcmeClient>;
  /** http-01 answers for AcmeClient.issue. */
  publish(token: string, keyAuth: string): void;
  /** EST simpleenroll on a label with a base64 CSR file and HTTP Basic credentials. */
  estEnroll(label: string, csrBody: string, user: string, password: string): Promise<CurlResult>;
  /** Browser console errors and uncaught exceptions seen so far (expected 401/403 answers left out). */
  errors: string[];
  shot(name: string): Promise<void>;
  /** What the page's clipboard holds now. */
  clipboard(): Promise<string>;
  close(): Promise<void>;
}

/**
 * A gateway with both listeners (ACME with real http-01 against a local responder, EST with an
 * approval label and a one-time-secret label) and a headless Chromium signed in to nothing yet.
 */
export async function consoleEnv(): Promise<ConsoleEnv> {
  // Fail, never skip, when the browser is missing: the console is only tested through it.
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  mkdirSync(SHOTS, { recursive: true });
  const http01 = await Http01Responder.start();
  let env: LifecycleEnv | undefined;
  let browser: Browser | undefined;
  try {
    env = await lifecycleEnv({
      acme: { validation: { httpPort: http01.port, allow: ["127.0.0.0/8"], deny: [], hostOverrides: { "*.example.com": "127.0.0.1" }, timeoutMs: 3000 } },
      est: {
        defaultLabel: "default",
        labels: [
          { name: "default", profile: "device", auth: { users: [] } },
          { name: "approve", profile: "device-approval", auth: { users: [EST_USER] }, retryAfterSeconds: 1 },
        ],
      },
    }, { "device-approval": APPROVAL_PROFILE });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  } catch (e) {
    await browser?.close();
    await env?.close();
    await http01.close();
    throw e;
  }
  const e = env;
  // The gateway's TLS certificate chains to its own dev root, which Chromium does not know.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  // The copy buttons write to the clipboard; the tests read it back to see what an operator would paste.
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: e.https });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (err) => errors.push(`pageerror: ${err.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of 40[13]/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  // curl (from the EST tests) reads only these two fields.
  const estTarget = { dir: e.dir, rootPem: join(e.dir, "root.pem") } as EstEnv;
  const directoryUrl = `${e.t.gw.urls.https}/acme/directory`;
  const rootPem = (await import("node:fs")).readFileSync(join(e.dir, "root.pem"), "utf8");
  return {
    env: e, http01, browser, page, errors,
    consoleUrl: `${e.https}/console/`,
    async acmeAccount() {
      const c = await AcmeClient.create({ directoryUrl, caPem: rootPem });
      const r = await c.newAccount({ termsOfServiceAgreed: true });
      if (r.status !== 201) throw new Error(`newAccount: ${r.status} ${r.body.toString()}`);
      return c;
    },
    publish: (token, keyAuth) => void http01.answers.set(token, keyAuth),
    estEnroll: (label, csrBody, user, password) =>
      curl(estTarget, ["-u", `${user}:${password}`, "-H", "Content-Type: application/pkcs10", "--data-binary", `@${csrBody}`, `${e.https}/.well-known/est/${label}/simpleenroll`]),
    shot: async (name) => void (await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })),
    clipboard: () => page.evaluate(() => navigator.clipboard.readText()),
    async close() {
      await browser!.close();
      await e.close();
      await http01.close();
    },
  };
}
