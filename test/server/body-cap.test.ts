import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServers, type RunningServers } from "../../src/server/listen.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { postBytes } from "./http-client.js";

const TEN_MB = 10 * 1024 * 1024;
let t: TestGateway;
let servers: RunningServers;
let ca: string;

beforeAll(async () => {
  t = await testGateway({ externalUrl: {} });
  servers = await startServers(t.gw);
  ca = readFileSync(join(t.gw.paths.data, "cas", "dev-root", "cert.pem"), "utf8");
});
afterAll(async () => {
  await servers?.close();
  await t?.gw.close();
});

type Listener = "https" | "http";
const json = { "content-type": "application/json" };
const admin = () => ({ ...json, authorization: `Bearer ${t.token}` });

/** Every POST endpoint family, each behind its own body parser and error renderer. */
const ENDPOINTS: Array<{ name: string; on: Listener; path: string; headers: () => Record<string, string> }> = [
  { name: "admin API enroll", on: "https", path: "/admin/api/v1/enroll", headers: admin },
  { name: "admin API revoke", on: "https", path: "/admin/api/v1/certificates/01/revoke", headers: admin },
  { name: "admin API enrollment secret (no JSON type)", on: "https", path: "/admin/api/v1/enrollment-secrets", headers: () => ({ authorization: `Bearer ${t.token}`, "content-type": "text/plain" }) },
  { name: "admin API EAB key", on: "https", path: "/admin/api/v1/acme/eab-keys", headers: admin },
  { name: "admin API enforcement", on: "https", path: "/admin/api/v1/enforcement", headers: admin },
  { name: "admin API SCEP challenge", on: "https", path: "/admin/api/v1/scep/challenges", headers: admin },
  { name: "console login", on: "https", path: "/console/api/login", headers: () => json },
  { name: "enforcement webhook", on: "https", path: "/hooks/enforcement", headers: () => json },
  { name: "ACME newAccount", on: "https", path: "/acme/new-account", headers: () => ({ "content-type": "application/jose+json" }) },
  { name: "ACME newOrder", on: "https", path: "/acme/new-order", headers: () => ({ "content-type": "application/jose+json" }) },
  { name: "EST simpleenroll", on: "https", path: "/.well-known/est/simpleenroll", headers: () => ({ "content-type": "application/pkcs10" }) },
  { name: "OCSP POST (HTTPS)", on: "https", path: "/ocsp", headers: () => ({ "content-type": "application/ocsp-request" }) },
  { name: "OCSP POST (HTTP)", on: "http", path: "/ocsp", headers: () => ({ "content-type": "application/ocsp-request" }) },
  { name: "SCEP PKIOperation", on: "http", path: "/scep?operation=PKIOperation", headers: () => ({ "content-type": "application/x-pki-message" }) },
  { name: "SCEP PKIOperation (legacy path)", on: "http", path: "/cgi-bin/pkiclient.exe?operation=PKIOperation", headers: () => ({ "content-type": "application/x-pki-message" }) },
  { name: "CMP", on: "http", path: "/.well-known/cmp", headers: () => ({ "content-type": "application/pkixcmp" }) },
];

const CASES = ENDPOINTS.flatMap((e) => [{ ...e, chunked: false }, { ...e, chunked: true }]);

describe("a body over the cap is 413 on every endpoint", () => {
  it.each(CASES)("$name, chunked=$chunked", async ({ on, path, headers, chunked }) => {
    const base = on === "https" ? `https://127.0.0.1:${servers.httpsPort}` : `http://127.0.0.1:${servers.httpPort}`;
    const res = await postBytes(base + path, { size: TEN_MB, chunked, headers: headers(), ca });
    expect(res.status, res.body.slice(0, 200)).toBe(413);
    if (res.headers["content-type"]?.startsWith("application/json")) expect(JSON.parse(res.body).error.code).toBe("RA_ERR_BODY_TOO_LARGE");
  });

  it("a body within the cap still reaches the handler (the refusal is about size, not the route)", async () => {
    const res = await postBytes(`https://127.0.0.1:${servers.httpsPort}/admin/api/v1/enroll`, { size: 1000, headers: admin(), ca });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error.code).toBe("RA_ERR_MALFORMED");
  });
});
