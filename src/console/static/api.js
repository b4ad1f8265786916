// Talks to the gateway: the console's session endpoints and the admin API, same origin, with the
// session cookie. Every request but GET carries the CSRF token the session handed out.

let csrfToken = "";
let sessionLost = () => {};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Remembers (or forgets, with null) the session's CSRF token. */
export function setSession(session) {
  csrfToken = session?.csrfToken ?? "";
}

/** Called when the admin API answers 401: the session expired or was logged out elsewhere. */
export function onSessionLost(fn) {
  sessionLost = fn;
}

/** A query string from an object, leaving out empty values. */
export function qs(params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

async function request(url, { method = "GET", body, quiet401 = false } = {}) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") headers["x-csrf-token"] = csrfToken;
  let res;
  try {
    res = await fetch(url, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, "NETWORK", `The gateway did not answer (${e.message}).`);
  }
  if (res.status === 204) return undefined;
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const err = new ApiError(res.status, json?.error?.code ?? `HTTP_${res.status}`, json?.error?.message ?? `The gateway answered ${res.status} ${res.statusText}.`);
    if (res.status === 401 && !quiet401) sessionLost(err);
    throw err;
  }
  return json;
}

const ADMIN = "/admin/api/v1";

/** The admin API; paths start with a slash, as in the README table. */
export const admin = {
  get: (path, query) => request(`${ADMIN}${path}${qs(query)}`),
  post: (path, body = {}) => request(`${ADMIN}${path}`, { method: "POST", body }),
  /** A URL for links (downloads): the browser sends the cookie itself. */
  url: (path, query) => `${ADMIN}${path}${qs(query)}`,
};

/** Login exchanges an admin token for the session cookie; a 401 there is a wrong token, not a lost session. */
export const session = {
  current: () => request("/console/api/session", { quiet401: true }),
  login: (token) => request("/console/api/login", { method: "POST", body: { token }, quiet401: true }),
  logout: () => request("/console/api/logout", { method: "POST", quiet401: true }),
};
