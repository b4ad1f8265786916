import { cpSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { validateConfig } from "../../src/config/load.js";
import type { GatewayConfig } from "../../src/config/schema.js";
import { openGateway, type Gateway } from "../../src/gateway.js";
import type { Apps } from "../../src/server/apps.js";
import { tempDir } from "./openssl.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface TestGateway {
  gw: Gateway;
  dir: string;
  token: string;
  config: GatewayConfig;
}

/** A gateway on a fresh data dir with the shipped profiles (copied, so tests may add their own). */
export async function testGateway(overrides: Record<string, unknown> = {}, extraProfiles: Record<string, string> = {}): Promise<TestGateway> {
  const dir = tempDir();
  const profilesDir = join(dir, "profiles");
  cpSync(join(ROOT, "profiles"), profilesDir, { recursive: true });
  for (const [name, text] of Object.entries(extraProfiles)) writeFileSync(join(profilesDir, `${name}.yaml`), text);
  const config = validateConfig({
    dataDir: join(dir, "data"), profilesDir, listen: { https: { host: "127.0.0.1", port: 0 }, http: { host: "127.0.0.1", port: 0 } },
    externalUrl: { http: "http://127.0.0.1:8080" }, log: { level: "silent" }, ...overrides,
  });
  const gw = await openGateway(config, pino({ level: "silent" }));
  const token = (await import("node:fs")).readFileSync(gw.paths.adminToken, "utf8").trim();
  return { gw, dir, token, config };
}

/** The express apps, loaded on demand so pure engine tests do not load the HTTP layer. */
export async function appsFor(gw: Gateway): Promise<Apps> {
  const { buildApps } = await import("../../src/server/apps.js");
  return buildApps(gw);
}
