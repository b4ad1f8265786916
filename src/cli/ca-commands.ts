import { join } from "node:path";
import { parseArgs } from "node:util";
import { readFileSync } from "node:fs";
import { AuditLog } from "../audit/audit-log.js";
import { caDirsUnder, loadAuthorities } from "../ca/authority.js";
import { initCaPair, type KeyAlgorithmName } from "../ca/init.js";
import type { GatewayConfig } from "../config/schema.js";
import { GatewayError } from "../errors.js";
import { publicUrls } from "../gateway.js";
import { openStore } from "../store/open.js";

const KEYS = ["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"];

export async function caCommand(config: GatewayConfig, rest: string[], argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv, allowPositionals: true, strict: false,
    options: {
      key: { type: "string" }, pss: { type: "boolean" }, "root-name": { type: "string" }, "issuing-name": { type: "string" },
      "root-subject": { type: "string" }, "issuing-subject": { type: "string" },
      pkcs11: { type: "boolean" }, module: { type: "string" }, token: { type: "string" }, "pin-file": { type: "string" }, "pin-env": { type: "string" },
    },
  });
  const casDir = join(config.dataDir, "cas");
  if (rest[0] === "list") {
    const cas = await loadAuthorities([...caDirsUnder(casDir), ...config.cas.map((c) => c.dir)]);
    for (const c of cas.all) console.log(`${c.name}\t${c.role}\t${c.signer.id}\t${c.signer.algorithm}\t${c.cert.subject.replace(/\n/g, ", ")}\tuntil ${new Date(c.cert.validTo).toISOString()}`);
    return 0;
  }
  if (rest[0] !== "init") throw new GatewayError("RA_ERR_MALFORMED", "ca: expected `init` or `list`");
  const key = (values.key as string | undefined) ?? config.devPki.keyAlgorithm;
  if (!KEYS.includes(key)) throw new GatewayError("RA_ERR_MALFORMED", `--key must be one of ${KEYS.join(", ")}`);
  let pkcs11: Parameters<typeof initCaPair>[0]["pkcs11"];
  if (values.pkcs11) {
    const module = (values.module as string | undefined) ?? config.pkcs11?.module ?? "/usr/lib/softhsm/libsofthsm2.so";
    const token = values.token as string | undefined;
    if (!token) throw new GatewayError("RA_ERR_MALFORMED", "--pkcs11 needs --token LABEL");
    const pinFile = values["pin-file"] as string | undefined;
    const pinEnv = values["pin-env"] as string | undefined;
    if (!pinFile && !pinEnv) throw new GatewayError("RA_ERR_MALFORMED", "--pkcs11 needs --pin-file FILE or --pin-env VAR");
    const pin = pinFile ? readFileSync(pinFile, "utf8").trim() : process.env[pinEnv!];
    if (!pin) throw new GatewayError("RA_ERR_MALFORMED", `PIN environment variable ${pinEnv} is empty`);
    pkcs11 = { module, tokenLabel: token, pin, pinRef: pinFile ? { file: pinFile } : { env: pinEnv! } };
  }
  const rootName = (values["root-name"] as string | undefined) ?? "root";
  const issuingName = (values["issuing-name"] as string | undefined) ?? "issuing";
  const out = await initCaPair({
    casDir, rootName, issuingName,
    rootSubject: (values["root-subject"] as string | undefined) ?? config.devPki.rootSubject.replace("Dev Root", "Root"),
    issuingSubject: (values["issuing-subject"] as string | undefined) ?? config.devPki.issuingSubject.replace("Dev Issuing", "Issuing"),
    keyAlgorithm: key as KeyAlgorithmName, pss: Boolean(values.pss), httpBase: publicUrls(config).http, pkcs11,
  });
  const store = await openStore(config, config.dataDir);
  await new AuditLog(store).record({ type: "ca.initialized", actor: "cli", target: issuingName, data: { root: rootName, keyAlgorithm: key, backend: pkcs11 ? "pkcs11" : "software" } });
  await store.close();
  console.log(`created root CA in ${out.rootDir} and issuing CA in ${out.issuingDir}${pkcs11 ? ` (keys inside token "${pkcs11.tokenLabel}", not extractable)` : ""}`);
  console.log(`profiles sign with it when they say \`issuer: ${issuingName}\``);
  return 0;
}
