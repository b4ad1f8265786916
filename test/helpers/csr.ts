import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { genKey, openssl, type KeyKind } from "./openssl.js";

/** A PKCS#10 request made by OpenSSL, as the base64 body EST expects; optional challengePassword. */
export function makeCsr(dir: string, name: string, o: { subject: string; sans?: string; key?: string; keyKind?: KeyKind; challengePassword?: string }): { key: string; body: string; csrPem: string } {
  const key = o.key ?? genKey(dir, name, o.keyKind);
  const cnf = join(dir, `${name}.cnf`);
  // The subject goes into the config, not -subj: with -subj OpenSSL leaves out the [attrs] section.
  const rdns = o.subject.split("/").filter(Boolean).map((rdn) => rdn.replace("=", " = "));
  writeFileSync(cnf, [
    "[req]", "distinguished_name=dn", "attributes=attrs", o.sans ? "req_extensions=ext" : "", "prompt=no", "[dn]", ...rdns, "[attrs]",
    o.challengePassword ? `challengePassword=${o.challengePassword}` : "", o.sans ? `[ext]\nsubjectAltName=${o.sans}` : "",
  ].join("\n"));
  const csrPem = join(dir, `${name}.csr`);
  openssl(["req", "-new", "-config", cnf, "-key", key, "-out", csrPem]);
  const b64 = readFileSync(csrPem, "utf8").replace(/-----[^-]+-----/g, "").trim();
  const body = join(dir, `${name}.b64`);
  writeFileSync(body, `${b64}\n`);
  return { key, body, csrPem };
}

