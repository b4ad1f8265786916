import { generateKeyPairSync } from "node:crypto";
import { request } from "node:https";
import { X509Certificate, X509Certificates } from "@peculiar/x509";
import { AcmeClient, x509Csr } from "../helpers/acme-client.js";
import type { Http01Responder } from "../acme/setup.js";

/** What one enrollment gave a client: the certificate's serial (lowercase hex), or how it failed. */
export type Outcome = { ok: true; serial: string; protocol: "acme" | "est" } | { ok: false; error: string; protocol: "acme" | "est"; status?: number };

/** The leaf's serial in an EST certs-only PKCS#7. */
const serialOf = (der: ArrayBuffer | Uint8Array): string => new X509Certificates(new Uint8Array(der).slice().buffer)[0].serialNumber.toLowerCase().replace(/^(00)+(?=..)/, "");

/** One EST simpleenroll (RFC 7030 §4.2.1) with HTTP Basic auth, on a fresh connection. */
export async function estEnroll(base: string, caPem: string, user: { name: string; password: string }, name: string): Promise<Outcome> {
  const csr = await x509Csr(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey, [{ type: "dns", value: name }]);
  const body = Buffer.from(Buffer.from(csr).toString("base64"));
  return new Promise<Outcome>((resolve) => {
    const req = request(`${base}/.well-known/est/simpleenroll`, {
      method: "POST", ca: caPem, agent: false, timeout: 30_000,
      headers: { "content-type": "application/pkcs10", "content-transfer-encoding": "base64", authorization: `Basic ${Buffer.from(`${user.name}:${user.password}`).toString("base64")}` },
    }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("error", (e) => resolve({ ok: false, protocol: "est", error: e.message }));
      res.on("end", () => {
        const text = Buffer.concat(parts).toString("utf8");
        if (res.statusCode !== 200) return resolve({ ok: false, protocol: "est", status: res.statusCode, error: `${res.statusCode} ${String(res.headers["retry-after"] ?? "")} ${text.slice(0, 200)}` });
        try {
          resolve({ ok: true, protocol: "est", serial: serialOf(Buffer.from(text.replace(/\s+/g, ""), "base64")) });
        } catch (e) {
          resolve({ ok: false, protocol: "est", error: `bad answer: ${(e as Error).message}` });
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve({ ok: false, protocol: "est", error: e.message }));
    req.end(body);
  });
}

/** One ACME certificate end to end (new order, http-01, finalize, download) with an existing account. */
export async function acmeEnroll(c: AcmeClient, http01: Http01Responder, name: string): Promise<Outcome> {
  try {
    const r = await c.issue([{ type: "dns", value: name }], {
      publish: (token, keyAuth) => { http01.answers.set(token, keyAuth); },
      poll: { timeoutMs: 20_000 },
    });
    const leaf = new X509Certificate(r.certPem.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----");
    return { ok: true, protocol: "acme", serial: leaf.serialNumber.toLowerCase().replace(/^(00)+(?=..)/, "") };
  } catch (e) {
    return { ok: false, protocol: "acme", error: (e as Error).message.slice(0, 300) };
  }
}

/** The `acme:` section of a lab deployment: real http-01 against a local responder, every *.example.com on 127.0.0.1. */
export function acmeLab(http01Port: number): Record<string, unknown> {
  return { validation: { httpPort: http01Port, allow: ["127.0.0.0/8"], deny: [], hostOverrides: { "*.example.com": "127.0.0.1" }, timeoutMs: 5000 } };
}

/** Runs `loops` concurrent enrollment loops until `stop()` returns true; every outcome is kept. */
export async function runLoad(loops: Array<(i: number) => Promise<Outcome>>, stop: (outcomes: Outcome[]) => boolean, outcomes: Outcome[] = []): Promise<Outcome[]> {
  await Promise.all(loops.map(async (once) => {
    for (let i = 0; !stop(outcomes); i++) {
      const o = await once(i);
      outcomes.push(o);
      if (!o.ok) await new Promise((r) => setTimeout(r, 100)); // a failed client backs off, then tries again
    }
  }));
  return outcomes;
}
