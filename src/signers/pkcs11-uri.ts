/** RFC 7512 `pkcs11:` URIs: the subset the gateway needs to locate a token and key. */

export type Pkcs11ObjectType = "private" | "public" | "cert" | "secret-key" | "data";

export interface Pkcs11Uri {
  token?: string;
  /** CKA_LABEL of the object. */
  object?: string;
  /** CKA_ID bytes. */
  id?: Buffer;
  type?: Pkcs11ObjectType;
  serial?: string;
  slotId?: number;
  /** Other standard path attributes (manufacturer, model, library-*, slot-*), decoded; not used for matching. */
  other: Record<string, string>;
  pinValue?: string;
  /** File path of the PIN (a `file:` URI is reduced to its path). */
  pinSource?: string;
  modulePath?: string;
}

const OTHER_PATH_ATTRS = new Set([
  "manufacturer", "model", "library-manufacturer", "library-description", "library-version",
  "slot-description", "slot-manufacturer",
]);
const TYPES: readonly string[] = ["private", "public", "cert", "secret-key", "data"];

/** Percent-decodes to bytes; RFC 7512 forbids raw characters outside its grammar, so whitespace etc. is rejected. */
function pctDecode(s: string, attr: string): Buffer {
  if (/[\s"<>\\^`{}#%]/.test(s.replace(/%[0-9a-fA-F]{2}/g, ""))) {
    throw new Error(`pkcs11 URI: attribute "${attr}" has an invalid character or malformed percent-encoding`);
  }
  const parts = s.split(/(%[0-9a-fA-F]{2})/);
  return Buffer.concat(parts.map((p) => (/^%[0-9a-fA-F]{2}$/.test(p) ? Buffer.from([parseInt(p.slice(1), 16)]) : Buffer.from(p, "utf8"))));
}

function pctDecodeText(s: string, attr: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(pctDecode(s, attr));
  } catch (e) {
    if (e instanceof TypeError) throw new Error(`pkcs11 URI: attribute "${attr}" is not valid UTF-8`);
    throw e;
  }
}

function attributes(part: string, sep: string, where: string): Array<[string, string]> {
  if (part === "") return [];
  const seen = new Set<string>();
  return part.split(sep).map((item) => {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new Error(`pkcs11 URI: malformed ${where} attribute (expected name=value)`);
    const name = item.slice(0, eq).toLowerCase();
    if (seen.has(name)) throw new Error(`pkcs11 URI: duplicate ${where} attribute "${name}"`);
    seen.add(name);
    return [name, item.slice(eq + 1)];
  });
}

export function parsePkcs11Uri(input: string): Pkcs11Uri {
  const m = /^pkcs11:([^?]*)(?:\?(.*))?$/is.exec(input.trim());
  if (!m) throw new Error("pkcs11 URI: must start with \"pkcs11:\"");
  const out: Pkcs11Uri = { other: {} };
  for (const [name, raw] of attributes(m[1], ";", "path")) {
    if (name === "id") out.id = pctDecode(raw, name);
    else if (name === "token") out.token = pctDecodeText(raw, name);
    else if (name === "object") out.object = pctDecodeText(raw, name);
    else if (name === "serial") out.serial = pctDecodeText(raw, name);
    else if (name === "type") {
      const t = pctDecodeText(raw, name);
      if (!TYPES.includes(t)) throw new Error(`pkcs11 URI: unknown type "${t}"`);
      out.type = t as Pkcs11ObjectType;
    } else if (name === "slot-id") {
      const v = pctDecodeText(raw, name);
      if (!/^\d{1,15}$/.test(v)) throw new Error("pkcs11 URI: slot-id must be a decimal number");
      out.slotId = Number(v);
    } else if (OTHER_PATH_ATTRS.has(name)) out.other[name] = pctDecodeText(raw, name);
    // RFC 7512: an unrecognised path attribute matches nothing, so refuse instead of picking a wrong key.
    else throw new Error(`pkcs11 URI: unsupported path attribute "${name}"`);
  }
  for (const [name, raw] of attributes(m[2] ?? "", "&", "query")) {
    if (name === "pin-value") out.pinValue = pctDecodeText(raw, name);
    else if (name === "pin-source") out.pinSource = pinSourcePath(pctDecodeText(raw, name));
    else if (name === "module-path") out.modulePath = pctDecodeText(raw, name);
    // Other query attributes (module-name, vendor x-*) are ignored, as RFC 7512 allows.
  }
  if (out.pinValue !== undefined && out.pinSource !== undefined) {
    throw new Error("pkcs11 URI: pin-value and pin-source are mutually exclusive");
  }
  return out;
}

function pinSourcePath(v: string): string {
  if (!v.toLowerCase().startsWith("file:")) return v;
  // file:///abs, file://localhost/abs, file:/abs and file:relative
  const rest = v.slice(5);
  const path = rest.startsWith("//") ? rest.slice(2).replace(/^localhost(?=\/)/i, "") : rest;
  if (path === "" || (rest.startsWith("//") && !path.startsWith("/"))) throw new Error("pkcs11 URI: pin-source file URI must be local");
  return path;
}

// Everything but RFC 3986 unreserved characters is encoded: always valid, if not the shortest form.
function pctEncode(v: string | Uint8Array, all = false): string {
  const bytes = typeof v === "string" ? Buffer.from(v, "utf8") : Buffer.from(v);
  let s = "";
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    s += !all && /[A-Za-z0-9\-._~]/.test(c) ? c : `%${b.toString(16).padStart(2, "0").toUpperCase()}`;
  }
  return s;
}

/** Formats a URI for logs and descriptors. `pin-value` is never written; pass `query: false` to drop module-path and pin-source. */
export function formatPkcs11Uri(u: Omit<Pkcs11Uri, "other"> & { other?: Record<string, string> }, opts: { query?: boolean } = {}): string {
  const path: string[] = [];
  for (const [k, v] of Object.entries(u.other ?? {})) path.push(`${k}=${pctEncode(v)}`);
  if (u.token !== undefined) path.push(`token=${pctEncode(u.token)}`);
  if (u.serial !== undefined) path.push(`serial=${pctEncode(u.serial)}`);
  if (u.slotId !== undefined) path.push(`slot-id=${u.slotId}`);
  if (u.object !== undefined) path.push(`object=${pctEncode(u.object)}`);
  if (u.id !== undefined) path.push(`id=${pctEncode(u.id, true)}`);
  if (u.type !== undefined) path.push(`type=${u.type}`);
  const query: string[] = [];
  if (opts.query !== false) {
    if (u.modulePath !== undefined) query.push(`module-path=${pctEncode(u.modulePath).replace(/%2F/g, "/")}`);
    if (u.pinSource !== undefined) query.push(`pin-source=${pctEncode(u.pinSource).replace(/%2F/g, "/")}`);
  }
  return `pkcs11:${path.join(";")}${query.length ? `?${query.join("&")}` : ""}`;
}
