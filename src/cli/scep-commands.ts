import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { caDirsUnder, loadAuthorities } from "../ca/authority.js";
import { initPkcs11Ra } from "../ca/ra.js";
import type { CliInput } from "./args.js";
import { GatewayError } from "../errors.js";
import { ProfileSet } from "../policy/profile.js";

/**
 * `gateway scep ra-init --endpoint NAME --token LABEL (--pin-file F | --pin-env VAR)`: an RSA RA key inside a
 * PKCS#11 token (sign and decrypt, never extractable) and its certificate under the endpoint profile's issuing
 * CA; prints the `ra:` block to put in the endpoint's configuration.
 */
export async function scepRaInit(i: CliInput): Promise<number> {
  const { config, opts: values } = i;
  const name = (values.endpoint as string | undefined) ?? config.scep.defaultEndpoint;
  const ep = config.scep.endpoints.find((e) => e.name === name);
  if (!ep) throw new GatewayError("RA_ERR_MALFORMED", `no SCEP endpoint ${name} in the configuration`);
  const token = values.token as string | undefined;
  const pinFile = values["pin-file"] as string | undefined;
  const pinEnv = values["pin-env"] as string | undefined;
  if (!token || (!pinFile && !pinEnv)) throw new GatewayError("RA_ERR_MALFORMED", "ra-init needs --token LABEL and --pin-file FILE or --pin-env VAR");
  const pin = pinFile ? readFileSync(pinFile, "utf8").trim() : process.env[pinEnv!];
  if (!pin) throw new GatewayError("RA_ERR_MALFORMED", `PIN environment variable ${pinEnv} is empty`);
  const profile = ProfileSet.loadDir(config.profilesDir).get(ep.profile);
  const cas = await loadAuthorities([...caDirsUnder(join(config.dataDir, "cas")), ...config.cas.map((c) => c.dir)]);
  const module = (values.module as string | undefined) ?? config.pkcs11?.module ?? "/usr/lib/softhsm/libsofthsm2.so";
  const dir = join(config.dataDir, "scep", name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const certPath = join(dir, "ra-pkcs11.pem");
  const uri = await initPkcs11Ra({ ca: cas.get(profile.issuer), modulePath: module, tokenLabel: token, pin, label: (values.label as string | undefined) ?? `scep-ra-${name}`, subject: `SCEP RA ${name}`, certPath });
  for (const ca of cas.all) await ca.signer.close?.();
  const pinRef = pinFile ? `{ file: ${pinFile} }` : `{ env: ${pinEnv} }`;
  console.log(`created the RA key in token "${token}" and its certificate ${certPath}; add to scep endpoint ${name}:`);
  console.log(`      ra: { certFile: ${certPath}, key: { type: pkcs11, uri: "${uri}", module: ${module}, pin: ${pinRef}, algorithm: rsa-pkcs1-sha256 } }`);
  return 0;
}
