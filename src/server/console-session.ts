import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import express, { Router, type Request, type Response } from "express";
import { GatewayError } from "../errors.js";
import type { Gateway } from "../gateway.js";
import { hashToken } from "../gateway.js";
import type { SessionCutoffs, SessionStore } from "../store/session-types.js";
import { jsonErrors } from "./middleware.js";

export const SESSION_COOKIE = "gw_console";
export const IDLE_MS = 30 * 60_000;
export const ABSOLUTE_MS = 8 * 3_600_000;
/** last_seen is written at most this often per session, so a busy console does not write on every click. */
export const TOUCH_MS = IDLE_MS / 10;
const MAX_SESSIONS = 1000;
/** Expired rows deleted per login, at most: a login never pays for a large backlog at once. */
const PURGE_BATCH = 100;

export interface Session {
  admin: { id: string; name: string };
  csrf: string;
  created: number;
  lastSeen: number;
}

/**
 * Console sessions: an admin token exchanged once for an HttpOnly, Secure, SameSite=Strict cookie,
 * kept in the store so every instance accepts it and a logout anywhere ends it everywhere; idle and
 * absolute timeouts. Requests that change something also carry the session's CSRF token in
 * X-CSRF-Token (synchronizer token).
 *
 * The store keeps only SHA-256 of the cookie value. The CSRF token is an HMAC of the cookie value, so it
 * is stored nowhere and any instance recomputes it; knowing it reveals nothing of the cookie.
 *
 * Per request: one primary-key read; plus one conditional UPDATE of last_seen at most every TOUCH_MS per
 * session. The recorded last_seen thus trails the true last request by less than TOUCH_MS, and the idle
 * check is made against it: a session idle for IDLE_MS is always over, one idle between IDLE_MS - TOUCH_MS
 * and IDLE_MS may already be (the limit is kept; never exceeded).
 */
export class ConsoleSessions {
  /** Sessions live in the store, so any instance behind the load balancer accepts them. */
  constructor(private readonly db: SessionStore, private readonly clock: () => number = Date.now) {}

  private cutoffs(now: number): SessionCutoffs {
    return { now: new Date(now).toISOString(), idleBefore: new Date(now - IDLE_MS).toISOString() };
  }

  async create(admin: { id: string; name: string }): Promise<{ id: string; csrf: string }> {
    const id = randomBytes(32).toString("base64url");
    const now = this.clock();
    const at = new Date(now).toISOString();
    await this.db.create({ idHash: hashToken(id), adminId: admin.id, adminName: admin.name, createdAt: at, lastSeen: at, expiresAt: new Date(now + ABSOLUTE_MS).toISOString() },
      this.cutoffs(now), MAX_SESSIONS, PURGE_BATCH);
    return { id, csrf: csrfFor(id) };
  }

  /** The live session named by the request's cookie, refreshed (in the store at most every TOUCH_MS). */
  async fromRequest(req: Request): Promise<(Session & { id: string }) | undefined> {
    const id = cookie(req, SESSION_COOKIE);
    if (!id || id.length > 128) return undefined;
    const idHash = hashToken(id);
    const s = await this.db.get(idHash);
    if (!s) return undefined;
    const now = this.clock();
    const created = Date.parse(s.createdAt);
    const lastSeen = Date.parse(s.lastSeen);
    if (now - lastSeen > IDLE_MS || now >= Date.parse(s.expiresAt)) {
      await this.db.delete(idHash);
      return undefined;
    }
    // Conditional on the stored value, so instances touching at once never move it backwards.
    if (now - lastSeen >= TOUCH_MS) await this.db.touch(idHash, new Date(now).toISOString(), new Date(now - TOUCH_MS).toISOString());
    return { admin: { id: s.adminId, name: s.adminName }, csrf: csrfFor(id), created, lastSeen: now, id };
  }

  /** Safe methods pass; anything else needs X-CSRF-Token equal to the session's. */
  checkCsrf(req: Request, s: Session): void {
    if (req.method === "GET" || req.method === "HEAD") return;
    const given = Buffer.from(req.header("x-csrf-token") ?? "");
    const want = Buffer.from(s.csrf);
    if (given.length !== want.length || !timingSafeEqual(given, want)) throw new GatewayError("RA_ERR_CSRF", "this request needs the session's X-CSRF-Token header");
  }

  /** Ends the session on every instance. */
  async end(id: string): Promise<void> {
    await this.db.delete(hashToken(id));
  }

  /** Deletes up to `limit` expired sessions (logins also purge a batch each). */
  purge(limit = PURGE_BATCH): Promise<number> {
    return this.db.purgeExpired(this.cutoffs(this.clock()), limit);
  }
}

/** The session's CSRF token: derived from the cookie value, so no instance needs to store it. */
function csrfFor(id: string): string {
  return createHmac("sha256", id).update("gw-console-csrf").digest("base64url");
}

function cookie(req: Request, name: string): string | undefined {
  for (const part of (req.header("cookie") ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

function setCookie(res: Response, value: string, maxAgeSeconds: number): void {
  res.setHeader("Set-Cookie", `${SESSION_COOKIE}=${value}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=${maxAgeSeconds}`);
}

/** /console/api/login, /logout, /session. */
export function consoleSessionRouter(gw: Gateway, sessions: ConsoleSessions): Router {
  const r = Router();
  r.use(express.json({ limit: 4096, type: () => true }));
  r.post("/login", async (req, res) => {
    const token = typeof req.body?.token === "string" ? req.body.token.trim() : "";
    const admin = token ? await gw.store.findAdminTokenByHash(hashToken(token)) : undefined;
    if (!admin) {
      await gw.audit.record({ type: "console.login_failed", actor: "console", data: { from: req.socket.remoteAddress } });
      throw new GatewayError("RA_ERR_UNAUTHORIZED", "that is not a valid admin token");
    }
    const s = await sessions.create(admin);
    await gw.audit.record({ type: "console.login", actor: `admin:${admin.name}`, data: { from: req.socket.remoteAddress } });
    setCookie(res, s.id, ABSOLUTE_MS / 1000);
    res.json({ name: admin.name, csrfToken: s.csrf });
  });
  r.get("/session", async (req, res) => {
    const s = await sessions.fromRequest(req);
    if (!s) throw new GatewayError("RA_ERR_UNAUTHORIZED", "not logged in");
    res.json({ name: s.admin.name, csrfToken: s.csrf });
  });
  r.post("/logout", async (req, res) => {
    const s = await sessions.fromRequest(req);
    if (s) {
      sessions.checkCsrf(req, s);
      await sessions.end(s.id);
      await gw.audit.record({ type: "console.logout", actor: `admin:${s.admin.name}` });
    }
    setCookie(res, "", 0);
    res.status(204).end();
  });
  r.use(jsonErrors);
  return r;
}
