import { cpSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import express from "express";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { mountScep } from "../../protocols/scep/index.js";
import { validateConfig } from "../../src/config/load.js";
import { EnrollmentSecrets } from "../../src/enrollment/secrets.js";
import { GatewayError } from "../../src/errors.js";
import { openGateway } from "../../src/gateway.js";
import { ROOT } from "../helpers/gateway.js";
import { tempDir } from "../helpers/openssl.js";

/** A full configuration around these SCEP endpoints, on a fresh data directory with the shipped profiles. */
function config(endpoints: unknown[]) {
  const dir = tempDir("scep-cfg-");
  cpSync(join(ROOT, "profiles"), join(dir, "profiles"), { recursive: true });
  return validateConfig({
    dataDir: join(dir, "data"), profilesDir: join(dir, "profiles"), log: { level: "silent" },
    listen: { https: { host: "127.0.0.1", port: 0 }, http: { host: "127.0.0.1", port: 0 } },
    scep: { defaultEndpoint: "plain", endpoints },
  });
}

function configError(endpoints: unknown[]): GatewayError {
  try {
    config(endpoints);
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError);
    return e as GatewayError;
  }
  throw new Error("the configuration was accepted");
}

describe("scep allowSingleDes configuration", () => {
  it("is refused at config check with a static challenge on the endpoint, naming the endpoint and the rule", () => {
    const e = configError([
      { name: "plain", profile: "device" },
      { name: "old-gear", profile: "device", allowSingleDes: true, challenge: { static: "shared-Secret-1", oneTimeSecrets: true } },
    ]);
    expect(e.code).toBe("RA_ERR_CONFIG");
    expect(e.message).toContain("scep.endpoints.1.allowSingleDes");
    expect(e.message).toContain("endpoint old-gear: allowSingleDes needs one-time or webhook challenges; remove challenge.static");
  });

  it("is accepted with one-time or webhook challenges only; legacyAlgorithms alone never allows single DES", () => {
    const c = config([
      { name: "plain", profile: "device", legacyAlgorithms: true, challenge: { static: "shared-Secret-1" } },
      { name: "otp", profile: "device", allowSingleDes: true },
      { name: "hook", profile: "device", allowSingleDes: true, challenge: { oneTimeSecrets: false, webhook: { url: "https://mdm.example.com/validate" } } },
    ]);
    expect(c.scep.endpoints.map((e) => [e.name, e.allowSingleDes])).toEqual([["plain", false], ["otp", true], ["hook", true]]);
  });

  it("logs a warning at start for each endpoint that allows single DES, and for no other", async () => {
    const lines: Array<{ level: number; msg: string; endpoint?: string }> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(l) as { level: number; msg: string; endpoint?: string });
        done();
      },
    });
    const gw = await openGateway(config([
      { name: "plain", profile: "device" },
      { name: "legacy", profile: "device", legacyAlgorithms: true },
      { name: "des-a", profile: "device", allowSingleDes: true },
      { name: "des-b", profile: "device", allowSingleDes: true },
    ]), pino({ level: "info" }, sink));
    try {
      await mountScep(express(), gw, new EnrollmentSecrets(gw.store, gw.profiles, gw.audit));
      const warned = lines.filter((l) => l.level === 40 && /single-DES/.test(l.msg));
      expect(warned.map((l) => l.endpoint)).toEqual(["des-a", "des-b"]);
      expect(warned[0].msg).toContain("SCEP endpoint des-a accepts single-DES (56-bit) encrypted requests");
    } finally {
      await gw.close();
    }
  });
});
