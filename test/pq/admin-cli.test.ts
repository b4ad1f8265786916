// `gateway cert issue` with ML-DSA requests: the printed chain for an EC, a mixed and an all-ML-DSA CA, and refusals.
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { mlDsaCsr, type Level } from "../helpers/ml-dsa.js";
import { opensslAsync } from "../helpers/openssl.js";
import { expectSignedBy, pqEnv, type PqEnv } from "./protocol-env.js";

let env: PqEnv;
beforeAll(async () => {
  env = await pqEnv();
  // The CLI opens the same data dir: the server is closed so only one process writes it.
  await env.close();
}, 120_000);

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g;

async function issue(profile: string, level: Level, cn: string, o: { der?: boolean; broken?: "signature" | "key-length" } = {}) {
  const csr = mlDsaCsr({ level, cn, dns: [cn], broken: o.broken });
  const file = join(env.dir, `${cn}.${o.der ? "der" : "pem"}`);
  writeFileSync(file, o.der ? csr.der : csr.pem);
  const r = await runCli(["cert", "issue", "--profile", profile, "--csr", file], env.t.config.dataDir, env.t.config.profilesDir);
  return { ...r, csr, certs: (r.stdout.match(PEM) ?? []).map((p) => new X509Certificate(p)) };
}

const spki = (c: X509Certificate) => c.publicKey.export({ type: "spki", format: "der" });

describe("gateway cert issue with an ML-DSA CSR", () => {
  it("ML-DSA-65 issuing CA under the EC root: prints leaf, ML-DSA issuing CA, EC root", async () => {
    const r = await issue("pq-mixed", 44, "cli-mixed.example.com");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^issued serial [0-9a-f]+/m);
    const [leaf, issuing, root] = r.certs;
    expect(r.certs).toHaveLength(3);
    expect(leaf.publicKey.asymmetricKeyType).toBe("ml-dsa-44");
    expect(spki(leaf).equals(Buffer.from(r.csr.keys.publicKey.export({ type: "spki", format: "der" })))).toBe(true);
    expect(leaf.subjectAltName).toBe("DNS:cli-mixed.example.com");
    expect(issuing.raw.equals(env.caCert("mixed-issuing").raw)).toBe(true);
    expect(root.raw.equals(env.caCert("dev-root").raw)).toBe(true);
    expectSignedBy(leaf, issuing);
    expectSignedBy(issuing, root);
    expect(root.publicKey.asymmetricKeyType).toBe("ec");
  });

  it("all-ML-DSA chain (DER request): leaf, ML-DSA-65 issuing, ML-DSA-87 root, each signature verified by noble", async () => {
    const r = await issue("pq-full", 87, "cli-full.example.com", { der: true });
    expect(r.code, r.stderr).toBe(0);
    const [leaf, issuing, root] = r.certs;
    expect(r.certs.map((c) => c.publicKey.asymmetricKeyType)).toEqual(["ml-dsa-87", "ml-dsa-65", "ml-dsa-87"]);
    expectSignedBy(leaf, issuing);
    expectSignedBy(issuing, root);
    expectSignedBy(root, root);
  });

  it("ML-DSA leaf under the EC issuing CA: chain printed; what the system OpenSSL makes of it", async () => {
    const r = await issue("pq-ec", 65, "cli-ec.example.com");
    expect(r.code, r.stderr).toBe(0);
    const [leaf, issuing, root] = r.certs;
    expect(r.certs).toHaveLength(3);
    expect([issuing.raw, root.raw]).toEqual([env.caCert("dev-issuing").raw, env.caCert("dev-root").raw]);
    expectSignedBy(leaf, issuing);
    const chain = join(env.dir, "cli-ec-chain.pem");
    const leafFile = join(env.dir, "cli-ec-leaf.pem");
    writeFileSync(chain, r.stdout);
    writeFileSync(leafFile, leaf.toString());
    // OpenSSL before 3.5 reads the certificate but not its ML-DSA key, and so refuses to verify even an EC-signed chain.
    const text = await opensslAsync(["x509", "-in", leafFile, "-noout", "-subject", "-issuer"]);
    expect(text.out).toContain("subject=CN = cli-ec.example.com");
    const v = await opensslAsync(["verify", "-CAfile", env.rootPem, "-untrusted", chain, leafFile]);
    const version = (await opensslAsync(["version"])).out;
    if (/^OpenSSL 3\.[0-4]\./.test(version)) expect(v.out).toContain("X509_PUBKEY_get0:decode error");
    else expect(v.out).toContain(`${leafFile}: OK`);
  });

  it("refuses a profile without ML-DSA, a bad self-signature and a short key, with the reason and no certificate", async () => {
    const cases = [
      await issue("tls-server", 65, "cli-no.example.com"),
      await issue("pq-ec", 65, "cli-badsig.example.com", { broken: "signature" }),
      await issue("pq-ec", 44, "cli-short.example.com", { broken: "key-length" }),
    ];
    for (const r of cases) {
      expect(r.code).not.toBe(0);
      expect(r.certs).toHaveLength(0);
    }
    expect(cases[0].stderr).toMatch(/ML-DSA/);
    expect(cases[1].stderr).toMatch(/signature/i);
    expect(cases[2].stderr).toMatch(/key/i);
  });
});
