/*
 * The route TEMPLATE of a request path (`/acme/order/:id`, `/.well-known/est/:label/simpleenroll`), for the
 * request-duration histogram: never a raw path with ids, serials or base64, so the label set stays bounded
 * whatever clients send. The protocol fronts (ACME, EST, SCEP, CMP, OCSP) are served on plain req/res without
 * route objects, so their templates come from the URL shapes below; express routes (admin API, console API)
 * give their own (`baseUrl` + `route.path`); anything else is `<prefix>/*` or `unmatched`.
 */

export type HttpProtocol = "acme" | "est" | "scep" | "cmp" | "ocsp" | "crl" | "admin" | "console" | "health" | "metrics" | "other";

export interface RouteLabel {
  readonly protocol: HttpProtocol;
  readonly route: string;
}

/** One interned label per template: label objects double as cache keys for the metric children. */
const interned = new Map<string, RouteLabel>();
const MAX_INTERNED = 2000;

function label(protocol: HttpProtocol, route: string): RouteLabel {
  let l = interned.get(route);
  if (!l) {
    l = { protocol, route };
    if (interned.size < MAX_INTERNED) interned.set(route, l);
  }
  return l;
}

const UNMATCHED = label("other", "unmatched");
const OCSP_POST = label("ocsp", "/ocsp");
const OCSP_GET = label("ocsp", "/ocsp/:request");
const CRL = label("crl", "/crl/:file");
const CA_FILE = label("other", "/ca/:file");
const MSCEP_ADMIN = label("admin", "/certsrv/mscep_admin");

/** A Map, not an object: a path must never find an inherited property. */
const FIXED = new Map<string, RouteLabel>([
  ["/healthz", label("health", "/healthz")],
  ["/readyz", label("health", "/readyz")],
  ["/metrics", label("metrics", "/metrics")],
]);

/** ACME resources below an endpoint's base: name → templates by segment count after the base. */
const ACME_SINGLE = new Set(["directory", "new-nonce", "new-account", "new-order", "revoke-cert", "key-change"]);
const ACME_RESOURCES = new Set([...ACME_SINGLE, "renewal-info", "acct", "order", "authz", "chall", "cert"]);

function acmeRest(seg: string[], from: number): string | undefined {
  const n = seg.length - from;
  const [a, , c] = [seg[from], seg[from + 1], seg[from + 2]];
  if (n === 0 || (n === 1 && a === "")) return "";
  if (n === 1 && ACME_SINGLE.has(a)) return `/${a}`;
  switch (a) {
    case "renewal-info": return n === 2 ? "/renewal-info/:certId" : undefined;
    case "acct": return n === 2 ? "/acct/:id" : n === 3 && c === "orders" ? "/acct/:id/orders" : undefined;
    case "order": return n === 2 ? "/order/:id" : n === 3 && c === "finalize" ? "/order/:id/finalize" : undefined;
    case "authz": return n === 2 ? "/authz/:id" : undefined;
    case "chall": return n === 3 ? "/chall/:id/:type" : undefined;
    case "cert": return n === 2 ? "/cert/:serial" : n === 3 ? "/cert/:serial/:alternate" : undefined;
    default: return undefined;
  }
}

/** `/acme/...` (default endpoint) or `/acme/<endpoint>/...`; `seg` is the path split on "/" (seg[1] === "acme"). */
function acme(seg: string[]): RouteLabel {
  const named = seg.length > 2 && !ACME_RESOURCES.has(seg[2]);
  const base = named ? "/acme/:endpoint" : "/acme";
  const rest = acmeRest(seg, named ? 3 : 2);
  return label("acme", rest === undefined ? `${base}/*` : base + rest);
}

const EST_OPS = new Set(["cacerts", "csrattrs", "simpleenroll", "simplereenroll", "serverkeygen", "fullcmc"]);
const EST_BASE = "/.well-known/est";

/** Below /.well-known/est: `/<op>` or `/<label>/<op>` (one trailing slash tolerated). */
function est(rest: string): RouteLabel {
  const parts = (rest.endsWith("/") ? rest.slice(0, -1) : rest).split("/");
  if (parts.length === 2 && EST_OPS.has(parts[1])) return label("est", `${EST_BASE}/${parts[1]}`);
  if (parts.length === 3 && parts[1] && EST_OPS.has(parts[2])) return label("est", `${EST_BASE}/:label/${parts[2]}`);
  return label("est", `${EST_BASE}/*`);
}

const CMP_BASE = "/.well-known/cmp";
const SCEP_LEGACY = ["/cgi-bin/pkiclient.exe", "/certsrv/mscep/mscep.dll"];

/** What follows `prefix` at a segment boundary (case-insensitive, as express routes), else undefined. */
function under(path: string, lower: string, prefix: string): string | undefined {
  if (!lower.startsWith(prefix)) return undefined;
  const rest = path.slice(prefix.length);
  return rest === "" || rest.charCodeAt(0) === 0x2f ? rest : undefined;
}

const isBase = (rest: string) => rest === "" || rest === "/";
const oneSegment = (rest: string) => /^\/[^/]+\/?$/.test(rest);

/** An express route's template (admin API, console API), when the request reached one with a string path. */
export interface ExpressRouteInfo {
  baseUrl?: string;
  route?: { path?: unknown };
}

/**
 * The label for a request. `path` is the full URL path without the query; `express` is the request object when
 * express routed it (read when the response finishes, when express has set its route).
 */
export function routeOf(path: string, express?: ExpressRouteInfo): RouteLabel {
  const c1 = path.charCodeAt(1);
  // The OCSP hot path first: no allocation at all.
  if (c1 === 0x6f /* o */) {
    if (path === "/ocsp") return OCSP_POST;
    if (path.startsWith("/ocsp/")) return OCSP_GET;
  }
  const fixed = FIXED.get(path);
  if (fixed) return fixed;
  const lower = path.toLowerCase();
  if (under(path, lower, "/acme") !== undefined) return acme(path.split("/"));
  let rest = under(path, lower, EST_BASE);
  if (rest !== undefined) return est(rest);
  rest = under(path, lower, CMP_BASE);
  if (rest !== undefined) return label("cmp", isBase(rest) ? CMP_BASE : /^\/p\/[^/]+\/?$/.test(rest) ? `${CMP_BASE}/p/:label` : `${CMP_BASE}/*`);
  rest = under(path, lower, "/scep");
  if (rest !== undefined) return label("scep", isBase(rest) ? "/scep" : oneSegment(rest) ? "/scep/:endpoint" : "/scep/*");
  for (const p of SCEP_LEGACY) if (under(path, lower, p) !== undefined && isBase(path.slice(p.length))) return label("scep", p);
  rest = under(path, lower, "/crl");
  if (rest !== undefined) return oneSegment(rest) ? CRL : label("crl", "/crl/*");
  rest = under(path, lower, "/ca");
  if (rest !== undefined && oneSegment(rest)) return CA_FILE;
  if (under(path, lower, "/certsrv/mscep_admin") !== undefined) return MSCEP_ADMIN;
  const protocol: HttpProtocol | undefined = under(path, lower, "/admin") !== undefined ? "admin" : under(path, lower, "/console") !== undefined ? "console" : undefined;
  const r = express?.route?.path;
  // Mount paths are literal here but matched case-insensitively: lower-cased, so case variants stay one label.
  if (typeof r === "string" && r.length <= 200) return label(protocol ?? "other", (express?.baseUrl ?? "").toLowerCase() + r);
  if (protocol === "admin") return label("admin", lower.startsWith("/admin/api/v1") ? "/admin/api/v1/*" : "/admin/*");
  if (protocol === "console") return label("console", lower.startsWith("/console/api") ? "/console/api/*" : "/console/*");
  return UNMATCHED;
}
