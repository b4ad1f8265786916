import { execFile } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers/openssl.js";

// docs/interop.md and docs/troubleshooting.md: strongSwan pki's ECDSA comes from the openssl plugin, shipped in
// libstrongswan-standard-plugins. Without that plugin (here: a pki plugin list that leaves it out) EC key generation
// fails with the message the docs quote, while RSA still works; with it, ECDSA works.

const PLUGIN = "/usr/lib/ipsec/plugins/libstrongswan-openssl.so";

function pki(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile("pki", args, { env, timeout: 30_000, encoding: "buffer", maxBuffer: 1 << 20 }, (err, _stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT") {
        resolve({ code: -1, out: "pki is not installed (apt-get install strongswan-pki)" });
        return;
      }
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, out: stderr.toString("utf8") });
    });
  });
}

describe("strongSwan pki and ECDSA (docs/interop.md)", () => {
  it("ECDSA keys need the openssl plugin (libstrongswan-standard-plugins); RSA does not", async () => {
    expect(existsSync(PLUGIN), `${PLUGIN} is missing: apt-get install libstrongswan-standard-plugins`).toBe(true);
    const withPlugin = await pki(["--gen", "--type", "ecdsa", "--size", "256"]);
    expect(withPlugin.code, withPlugin.out).toBe(0);

    // The plugins Debian's libstrongswan itself ships (no openssl, gcrypt or other crypto backends).
    const conf = join(tempDir("strongswan-"), "strongswan.conf");
    writeFileSync(conf, "pki {\n  load = aes drbg sha1 sha2 md5 random nonce x509 revocation constraints pubkey pkcs1 pkcs7 pkcs8 pem gmp hmac\n}\n");
    const env = { ...process.env, STRONGSWAN_CONF: conf };
    const ecdsa = await pki(["--gen", "--type", "ecdsa", "--size", "256"], env);
    expect(ecdsa.code).not.toBe(0);
    expect(ecdsa.out).toContain("building CRED_PRIVATE_KEY - ECDSA failed");
    expect(ecdsa.out).toContain("private key generation failed");
    const rsa = await pki(["--gen", "--type", "rsa", "--size", "2048"], env);
    expect(rsa.code, rsa.out).toBe(0);
  });
});
