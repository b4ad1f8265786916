import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { derToPem } from "../../src/ca/authority.js";
import { EnrollmentService } from "../../src/enrollment/service.js";
import type { RequesterIdentity } from "../../src/policy/request.js";
import type { RunningServers } from "../../src/server/listen.js";
import { testGateway, type TestGateway } from "../helpers/gateway.js";
import { makeCsr, opensslAsync, tempDir } from "../helpers/openssl.js";

export interface LifecycleEnv {
  t: TestGateway;
  servers: RunningServers;
  dir: string;
  https: string;
  http: string;
  /** Issues over the admin protocol; returns serial and PEM path. */
  issue(o: { names: string[]; profile?: string; requester?: RequesterIdentity }): Promise<{ serial: string; path: string }>;
  /** `openssl ocsp` against the gateway's responder: "good", "revoked" or the raw output. */
  ocspStatus(path: string): Promise<string>;
  admin(path: string, init?: { method?: string; body?: unknown }): Promise<{ status: number; json: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  close(): Promise<void>;
}

let counter = 0;

/** A gateway with both listeners up, its CA files written for OpenSSL. */
export async function lifecycleEnv(overrides: Record<string, unknown> = {}, extraProfiles: Record<string, string> = {}): Promise<LifecycleEnv> {
  const t = await testGateway(overrides, extraProfiles);
  const { startServers } = await import("../../src/server/listen.js");
  const servers = await startServers(t.gw);
  const dir = tempDir("lifecycle-");
  const root = t.gw.cas.all.find((c) => c.role === "root")!;
  writeFileSync(join(dir, "root.pem"), derToPem(root.certDer));
  writeFileSync(join(dir, "issuing.pem"), derToPem(t.gw.cas.issuing[0].certDer));
  const https = `https://127.0.0.1:${servers.httpsPort}`;
  const http = `http://127.0.0.1:${servers.httpPort}`;
  return {
    t, servers, dir, https, http,
    async issue(o) {
      const name = `c${++counter}`;
      const { der } = makeCsr(dir, name, { subject: `/CN=${o.names[0]}`, sans: o.names.map((n) => `DNS:${n}`) });
      const out = await t.gw.enrollment.enroll({
        requestId: EnrollmentService.newRequestId(), protocol: "admin", requester: o.requester ?? { kind: "admin", id: "tests" }, profile: o.profile ?? "tls-server", csr: der,
      });
      if (out.status !== "issued") throw new Error(`not issued: ${out.status}`);
      const path = join(dir, `${name}.pem`);
      writeFileSync(path, derToPem(out.certificate.der));
      return { serial: out.certificate.serial, path };
    },
    async ocspStatus(path) {
      const r = await opensslAsync(["ocsp", "-timeout", "10", "-issuer", join(dir, "issuing.pem"), "-cert", path, "-url", `${http}/ocsp`, "-CAfile", join(dir, "root.pem")]);
      return /: good/.test(r.out) ? "good" : /: revoked/.test(r.out) ? "revoked" : r.out;
    },
    async admin(path, init = {}) {
      const { request } = await import("node:https");
      const body = init.body === undefined ? undefined : JSON.stringify(init.body);
      return new Promise((resolve, reject) => {
        const q = request(`${https}/admin/api/v1${path}`, {
          method: init.method ?? (body ? "POST" : "GET"), rejectUnauthorized: false,
          headers: { authorization: `Bearer ${t.token}`, ...(body ? { "content-type": "application/json" } : {}) },
        }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString();
            resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined });
          });
        });
        q.on("error", reject);
        q.end(body);
      });
    },
    async close() {
      await servers.close();
      await t.gw.close();
    },
  };
}
