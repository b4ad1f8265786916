import { X509Certificate } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { GatewayError } from "../errors.js";
import type { CliInput } from "./args.js";
import type { KeyAlgorithmName } from "../ca/init.js";
import { printRows } from "./paging.js";


interface CaRow {
  name: string;
  role: string;
  signer: string;
  algorithm: string;
  subject: string;
  notAfter: string;
  dir: string;
}

/**
 * `gateway ca list`: what each CA directory's ca.json and certificate say. No key is opened (a PKCS#11 CA
 * is listed without its token or PIN), nothing is written.
 */
export async function caList(i: CliInput): Promise<number> {
  const root = join(i.config.dataDir, "cas");
  const under = existsSync(root) ? readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(root, e.name)).sort() : [];
  const rows: CaRow[] = [];
  for (const dir of [...under, ...i.config.cas.map((c) => c.dir)]) {
    const path = join(dir, "ca.json");
    if (!existsSync(path)) continue;
    const d = JSON.parse(readFileSync(path, "utf8")) as { name: string; role: string; certFile: string; signer: { type: string; uri?: string; algorithm: string } };
    const cert = new X509Certificate(readFileSync(resolve(dir, d.certFile)));
    rows.push({
      name: d.name, role: d.role, signer: d.signer.type === "pkcs11" ? d.signer.uri ?? "pkcs11" : d.signer.type, algorithm: d.signer.algorithm,
      subject: cert.subject.replace(/\n/g, ", "), notAfter: new Date(cert.validTo).toISOString(), dir,
    });
  }
  printRows(rows, {
    header: ["NAME", "ROLE", "SIGNER", "ALGORITHM", "SUBJECT", "NOT_AFTER"],
    cells: (r) => [r.name, r.role, r.signer, r.algorithm, r.subject, r.notAfter],
    json: (r) => r,
  }, i.json);
  return 0;
}

/** `gateway ca init`: a root and an issuing CA (software keys, or inside a PKCS#11 token). */
export async function caInit(i: CliInput): Promise<number> {
  const { config } = i;
  const s = (k: string) => (typeof i.opts[k] === "string" ? (i.opts[k] as string) : undefined);
  const { initCaPair } = await import("../ca/init.js");
  const key = (s("key") ?? config.devPki.keyAlgorithm) as KeyAlgorithmName;
  const rootKey = s("root-key") as KeyAlgorithmName | undefined;
  const under = s("under");
  if (under && (rootKey || s("root-name") || s("root-subject"))) throw new GatewayError("RA_ERR_MALFORMED", "--under uses an existing root: --root-key, --root-name and --root-subject do not apply");
  let pkcs11: Parameters<typeof initCaPair>[0]["pkcs11"];
  if (i.opts.pkcs11) {
    const module = s("module") ?? config.pkcs11?.module ?? "/usr/lib/softhsm/libsofthsm2.so";
    const token = s("token");
    if (!token) throw new GatewayError("RA_ERR_MALFORMED", "--pkcs11 needs --token LABEL");
    const pinFile = s("pin-file");
    const pinEnv = s("pin-env");
    if (!pinFile && !pinEnv) throw new GatewayError("RA_ERR_MALFORMED", "--pkcs11 needs --pin-file FILE or --pin-env VAR");
    const pin = pinFile ? readFileSync(pinFile, "utf8").trim() : process.env[pinEnv!];
    if (!pin) throw new GatewayError("RA_ERR_MALFORMED", `PIN environment variable ${pinEnv} is empty`);
    // The PIN file is named in ca.json and read by every later start: by its absolute path, whatever the working directory.
    pkcs11 = { module, tokenLabel: token, pin, pinRef: pinFile ? { file: resolve(pinFile) } : { env: pinEnv! } };
  }
  const casDir = join(config.dataDir, "cas");
  const rootName = s("root-name") ?? "root";
  const issuingName = s("issuing-name") ?? "issuing";
  const { publicUrls } = await import("../gateway.js");
  const out = await initCaPair({
    casDir, rootName, issuingName,
    rootSubject: s("root-subject") ?? config.devPki.rootSubject.replace("Dev Root", "Root"),
    issuingSubject: s("issuing-subject") ?? config.devPki.issuingSubject.replace("Dev Issuing", "Issuing"),
    keyAlgorithm: key, rootKeyAlgorithm: rootKey, under, pss: Boolean(i.opts.pss), httpBase: publicUrls(config).http, pkcs11,
  });
  const { openStore } = await import("../store/open.js");
  const { AuditLog } = await import("../audit/audit-log.js");
  const store = await openStore(config, config.dataDir);
  await new AuditLog(store).record({ type: "ca.initialized", actor: "cli", target: issuingName, data: { root: under ?? rootName, keyAlgorithm: key, rootKeyAlgorithm: under ? undefined : rootKey ?? key, backend: pkcs11 ? "pkcs11" : "software" } });
  await store.close();
  console.log(`${under ? `created issuing CA in ${out.issuingDir} under the root CA in ${out.rootDir}` : `created root CA in ${out.rootDir} and issuing CA in ${out.issuingDir}`}${pkcs11 ? ` (keys inside token "${pkcs11.tokenLabel}", not extractable)` : ""}`);
  console.log(`profiles sign with it when they say \`issuer: ${issuingName}\``);
  return 0;
}
