/**
 * Process-wide PKCS#11 plumbing shared by the signer and key generation: one initialised graphene Module per
 * library path, slot lookup, PIN resolution and login bookkeeping. PINs never appear in errors.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { MechanismEnum, Module, SessionFlag, UserType, type Session, type Slot } from "graphene-pk11";
import { formatPkcs11Uri, type Pkcs11Uri } from "./pkcs11-uri.js";

interface LoadedModule { mod: Module; conf: string | undefined }
const modules = new Map<string, LoadedModule>();

/**
 * Loads and C_Initializes the library once per process. SoftHSM reads SOFTHSM2_CONF at initialisation, so set
 * it before the first call. While none of our sessions is open on the module, a changed SOFTHSM2_CONF (or
 * `refresh`) re-initialises it so tokens created since then become visible (dev and tests).
 */
export function loadPkcs11Module(modulePath: string, refresh = false): Module {
  const conf = process.env.SOFTHSM2_CONF;
  const loaded = modules.get(modulePath);
  if (loaded) {
    if ((loaded.conf === conf && !refresh) || hasSessions(modulePath)) return loaded.mod;
    try {
      loaded.mod.finalize();
      loaded.mod.initialize();
    } catch (e) {
      throw new Error(`cannot re-initialise PKCS#11 module ${modulePath}: ${errorText(e)}`);
    }
    loaded.conf = conf;
    return loaded.mod;
  }
  let mod: Module;
  try {
    mod = Module.load(modulePath, "pkcs11");
    mod.initialize();
  } catch (e) {
    throw new Error(`cannot load PKCS#11 module ${modulePath}: ${errorText(e)}`);
  }
  modules.set(modulePath, { mod, conf });
  return mod;
}

/** Finalises every loaded module (process shutdown only: all sessions become invalid). */
export function finalizePkcs11Modules(): void {
  for (const { mod } of modules.values()) {
    try {
      mod.finalize();
      mod.close();
    } catch {
      // best effort during shutdown
    }
  }
  modules.clear();
  logins.clear();
}

/** Error text with any occurrence of `secret` masked; pkcs11js messages are like "CKR_PIN_INCORRECT:160". */
export function errorText(e: unknown, secret?: string): string {
  let msg = e instanceof Error ? e.message.split("\n")[0] : String(e);
  if (secret) msg = msg.split(secret).join("***");
  return msg;
}

export function slotIdOf(slot: Slot): number {
  const h = slot.handle;
  return h.length >= 8 ? Number(h.readBigUInt64LE(0)) : h.readUInt32LE(0);
}

/** The one slot whose token matches the URI's token label, serial and/or slot-id; loads the module as needed. */
export function findSlot(modulePath: string, uri: Pkcs11Uri): Slot {
  if (uri.token === undefined && uri.serial === undefined && uri.slotId === undefined) {
    throw new Error("pkcs11 URI must name the token (token=, serial= or slot-id=)");
  }
  let matches = matchingSlots(loadPkcs11Module(modulePath), uri);
  // The token may have been initialised after C_Initialize (e.g. by softhsm2-util); look again with fresh state.
  if (matches.length === 0 && !hasSessions(modulePath)) matches = matchingSlots(loadPkcs11Module(modulePath, true), uri);
  const where = formatPkcs11Uri({ token: uri.token, serial: uri.serial, slotId: uri.slotId }, { query: false });
  if (matches.length === 0) throw new Error(`no PKCS#11 token matches ${where}`);
  if (matches.length > 1) throw new Error(`${matches.length} PKCS#11 tokens match ${where}; add serial= or slot-id=`);
  return matches[0];
}

function matchingSlots(mod: Module, uri: Pkcs11Uri): Slot[] {
  const matches: Slot[] = [];
  for (const slot of mod.getSlots(true)) {
    if (uri.slotId !== undefined && slotIdOf(slot) !== uri.slotId) continue;
    const token = slot.getToken();
    if (uri.token !== undefined && token.label !== uri.token) continue;
    if (uri.serial !== undefined && token.serialNumber !== uri.serial) continue;
    matches.push(slot);
  }
  return matches;
}

export interface TokenMechanism { type: number; name: string; flags: number }

/** Names graphene's PKCS#11 2.40 list lacks, for mechanisms tokens commonly report. */
const NEWER_MECHANISMS: Readonly<Record<number, string>> = {
  0x138: "DES3_CMAC", 0x1055: "EC_EDWARDS_KEY_PAIR_GEN", 0x1056: "EC_MONTGOMERY_KEY_PAIR_GEN", 0x1057: "EDDSA",
  0x1c: "ML_DSA_KEY_PAIR_GEN", 0x1d: "ML_DSA", 0x1f: "HASH_ML_DSA",
};

/** What the token's C_GetMechanismList and C_GetMechanismInfo say; no session or login needed. */
export function tokenMechanisms(slot: Slot): TokenMechanism[] {
  const list = slot.getMechanisms();
  const out: TokenMechanism[] = [];
  for (let i = 0; i < list.length; i++) {
    const m = list.tryGetItem(i);
    if (!m) continue;
    const name = NEWER_MECHANISMS[m.type] ?? (MechanismEnum as unknown as Record<number, string | undefined>)[m.type] ?? `0x${m.type.toString(16)}`;
    out.push({ type: m.type, name, flags: m.flags });
  }
  return out;
}

export interface PinSources {
  pin?: string;
  pinFile?: string;
  /** Name of an environment variable holding the PIN. */
  pinEnv?: string;
}

/** Explicit options (pin, pinFile, pinEnv) win over the URI (pin-source, then pin-value). */
export async function resolvePin(opts: PinSources, uri: Pkcs11Uri): Promise<string> {
  if (opts.pin !== undefined) return opts.pin;
  if (opts.pinFile !== undefined) return readPinFile(opts.pinFile);
  if (opts.pinEnv !== undefined) {
    const v = process.env[opts.pinEnv];
    if (v === undefined || v === "") throw new Error(`environment variable ${opts.pinEnv} (PKCS#11 PIN) is not set`);
    return v;
  }
  if (uri.pinSource !== undefined) return readPinFile(uri.pinSource);
  if (uri.pinValue !== undefined) return uri.pinValue;
  throw new Error("no PKCS#11 PIN configured (pin, pinFile, pinEnv, or pin-source/pin-value in the URI)");
}

/** A PIN file loses only its trailing newline, so PINs with inner or leading spaces survive. */
async function readPinFile(file: string): Promise<string> {
  try {
    return (await readFile(file, "utf8")).replace(/\r?\n$/, "");
  } catch (e) {
    throw new Error(`cannot read PKCS#11 PIN file ${file}: ${(e as NodeJS.ErrnoException).code ?? "error"}`);
  }
}

/*
 * PKCS#11 login state is per application and token, shared by all its sessions: a second C_Login returns
 * CKR_USER_ALREADY_LOGGED_IN without checking the PIN, and C_Logout ends it for every session. So we count
 * sessions per token and keep a salted digest of the PIN that logged in, to still reject a wrong PIN.
 */
interface LoginState { sessions: number; salt: Buffer; digest: Buffer }
const logins = new Map<string, LoginState>();

function hasSessions(modulePath: string): boolean {
  for (const key of logins.keys()) if (key.startsWith(`${modulePath}#`)) return true;
  return false;
}

function loginKey(modulePath: string, slot: Slot): string {
  return `${modulePath}#${slot.handle.toString("hex")}`;
}

function pinDigest(salt: Buffer, pin: string): Buffer {
  return createHash("sha256").update(salt).update(pin, "utf8").digest();
}

/** Opens a session on `slot` and logs the user in; pair with {@link closeUserSession}. */
export function openUserSession(modulePath: string, slot: Slot, pin: string, rw: boolean, what: string): Session {
  const session = slot.open(rw ? SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION : SessionFlag.SERIAL_SESSION);
  const key = loginKey(modulePath, slot);
  const state = logins.get(key);
  try {
    if (state) {
      if (!timingSafeEqual(pinDigest(state.salt, pin), state.digest)) throw new Error("CKR_PIN_INCORRECT");
      state.sessions++;
      return session;
    }
    try {
      session.login(pin, UserType.USER);
    } catch (e) {
      // Logged in by someone we have no record of (e.g. a failed close): log in afresh so the PIN is checked.
      if (!errorText(e).startsWith("CKR_USER_ALREADY_LOGGED_IN")) throw e;
      session.logout();
      session.login(pin, UserType.USER);
    }
    const salt = randomBytes(16);
    logins.set(key, { sessions: 1, salt, digest: pinDigest(salt, pin) });
    return session;
  } catch (e) {
    try {
      session.close();
    } catch {
      // the login error is the one to report
    }
    throw new Error(`PKCS#11 login to ${what} failed: ${errorText(e, pin)}`);
  }
}

/** Closes a session opened by {@link openUserSession}, logging out when it is the token's last one. */
export function closeUserSession(modulePath: string, slot: Slot, session: Session): void {
  const key = loginKey(modulePath, slot);
  const state = logins.get(key);
  try {
    if (state && --state.sessions <= 0) {
      logins.delete(key);
      session.logout();
    }
  } finally {
    session.close();
  }
}
