/**
 * Development and test helper only: creates a SoftHSM2 token in a private directory. Not used by the gateway at
 * run time. PINs are passed to softhsm2-util on its command line (visible in `ps`), acceptable for throwaway tokens.
 */
import { execFileSync } from "node:child_process";
import { accessSync, constants, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const SOFTHSM_MODULE_PATH = "/usr/lib/softhsm/libsofthsm2.so";

export interface SoftHsmTokenOptions {
  label: string;
  soPin: string;
  userPin: string;
  /** Directory for the token files; created if missing. */
  tokensDir: string;
  /** Where to write the config; default `<tokensDir>/softhsm2.conf` (SoftHSM only treats subdirectories as tokens). */
  confPath?: string;
}

/**
 * Writes a SoftHSM2 config for `tokensDir` and initialises a token in the first free slot.
 * The caller MUST set `process.env.SOFTHSM2_CONF = confPath` before the PKCS#11 module is loaded in this
 * process (SoftHSM reads it once, at C_Initialize). Throws if softhsm2-util or the module is missing.
 */
export function initSoftHsmToken(opts: SoftHsmTokenOptions): { confPath: string; modulePath: string } {
  try {
    accessSync(SOFTHSM_MODULE_PATH, constants.R_OK);
  } catch {
    throw new Error(`SoftHSM2 module ${SOFTHSM_MODULE_PATH} not found; install the softhsm2 package`);
  }
  const tokensDir = resolve(opts.tokensDir);
  mkdirSync(tokensDir, { recursive: true, mode: 0o700 });
  const confPath = resolve(opts.confPath ?? join(tokensDir, "softhsm2.conf"));
  writeFileSync(confPath, `directories.tokendir = ${tokensDir}\nobjectstore.backend = file\nlog.level = ERROR\n`, { mode: 0o600 });
  try {
    execFileSync(
      "softhsm2-util",
      ["--init-token", "--free", "--label", opts.label, "--so-pin", opts.soPin, "--pin", opts.userPin],
      { env: { ...process.env, SOFTHSM2_CONF: confPath }, stdio: ["ignore", "pipe", "pipe"] },
    );
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer; stdout?: Buffer };
    if (err.code === "ENOENT") throw new Error("softhsm2-util not found; install the softhsm2 package");
    // Its output does not echo PINs, but mask them anyway.
    let detail = `${err.stderr?.toString() ?? ""}${err.stdout?.toString() ?? ""}`.trim() || "failed";
    for (const pin of [opts.soPin, opts.userPin]) if (pin) detail = detail.split(pin).join("***");
    throw new Error(`softhsm2-util --init-token (label ${opts.label}): ${detail}`);
  }
  return { confPath, modulePath: SOFTHSM_MODULE_PATH };
}
