import { once } from "node:events";
import { readFileSync } from "node:fs";
import { connect, type TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { curl, EST_USER, estEnv, makeCsr, pkcs7Certs, type EstEnv } from "./setup.js";

let env: EstEnv;
beforeAll(async () => {
  env = await estEnv();
});
afterAll(async () => {
  await env?.close();
});

/** A TLS connection to the gateway and its channel binding, computed on the client side. */
async function channel(maxVersion: "TLSv1.2" | "TLSv1.3"): Promise<{ sock: TLSSocket; binding: Buffer }> {
  const sock = connect({ host: "127.0.0.1", port: env.servers.httpsPort, servername: "localhost", ca: readFileSync(env.rootPem), maxVersion });
  await once(sock, "secureConnect");
  // RFC 9266 exporter on TLS 1.3; RFC 5929 tls-unique (the client's Finished, full handshake) on 1.2.
  const binding = sock.getProtocol() === "TLSv1.3" ? sock.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", Buffer.alloc(0)) : sock.getFinished()!;
  return { sock, binding };
}

/** One HTTP/1.1 POST written on that very connection; resolves with status, headers and body text. */
async function postOn(sock: TLSSocket, path: string, body: string): Promise<{ status: number; text: string }> {
  const auth = Buffer.from(`${EST_USER.name}:${EST_USER.password}`).toString("base64");
  sock.write(`POST ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic ${auth}\r\nContent-Type: application/pkcs10\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  const chunks: Buffer[] = [];
  sock.on("data", (c: Buffer) => chunks.push(c));
  await once(sock, "end");
  const text = Buffer.concat(chunks).toString("latin1");
  return { status: Number(text.split(" ")[1]), text };
}

describe("EST proof-of-possession linking (RFC 7030 §3.5)", () => {
  for (const version of ["TLSv1.3", "TLSv1.2"] as const) {
    it(`${version}: a CSR carrying this session's channel binding enrolls; the binding of another session is refused`, async () => {
      const { sock, binding } = await channel(version);
      expect(sock.getProtocol()).toBe(version);
      const csr = makeCsr(env.dir, `pop-${version}`, { subject: `/CN=pop-${version.replace(".", "")}.example.com`, challengePassword: binding.toString("base64") });
      const ok = await postOn(sock, "/.well-known/est/pop/simpleenroll", readFileSync(csr.body, "utf8"));
      expect(ok.status, ok.text).toBe(200);
      const b64 = ok.text.split("\r\n\r\n").slice(1).join("\r\n\r\n");
      const certs = await pkcs7Certs(env.dir, `pop-${version}`, Buffer.from(b64));
      expect(certs.text).toContain(`pop-${version.replace(".", "")}.example.com`);

      // The same CSR replayed on a new connection (as by a relay) carries the wrong binding.
      const replay = await curl(env, ["-u", `${EST_USER.name}:${EST_USER.password}`, "-H", "Content-Type: application/pkcs10", "--data-binary", `@${csr.body}`, `${env.base}/pop/simpleenroll`]);
      expect(replay.status).toBe(403);
      expect(replay.headers["x-error-code"]).toBe("RA_ERR_POP_FAILED");
    });
  }

  it("a CSR without challengePassword is refused where linking is on, accepted where it is off", async () => {
    const csr = makeCsr(env.dir, "pop-none", { subject: "/CN=pop-none.example.com" });
    const args = ["-u", `${EST_USER.name}:${EST_USER.password}`, "-H", "Content-Type: application/pkcs10", "--data-binary", `@${csr.body}`];
    const on = await curl(env, [...args, `${env.base}/pop/simpleenroll`]);
    expect(on.status).toBe(403);
    expect(on.body.toString()).toContain("channel binding");
    expect((await curl(env, [...args, `${env.base}/simpleenroll`])).status).toBe(200);
  });
});
