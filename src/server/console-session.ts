import { randomBytes, timingSafeEqual } from "node:crypto";
import express, { Router, type Request, type Response } from "express";
import { GatewayError } from "../errors.js";
import type { Gateway } from "../gateway.js";
import { hashToken } from "../gateway.js";
import { jsonErrors } from "./middleware.js";

export const SESSION_COOKIE = "gw_console";
const IDLE_MS = 30 * 60_000;
const ABSOLUTE_MS = 8 * 3_600_000;
const MAX_SESSIONS = 1000;

interface Session {
  admin: { id: string; name: string };
  csrf: string;
  created: number;
  lastSeen: number;
}

/**
 * Console sessions: an admin token exchanged once for an HttpOnly, Secure, SameSite=Strict cookie,
 * kept in memory (a restart logs everyone out), idle and absolute timeouts. Requests that change
 * something also carry the session's CSRF token in X-CSRF-Token (synchronizer token).
 */
export class ConsoleSessions {
  private readonly sessions = new Map<string, Session>();

  create(admin: { id: string; name: string }): { id: string; csrf: string } {
    this.sweep();
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!); // oldest first
    const id = randomBytes(32).toString("base64url");
    const csrf = randomBytes(32).toString("base64url");
    const now = Date.now();
    this.sessions.set(id, { admin, csrf, created: now, lastSeen: now });
    return { id, csrf };
  }

  /** The live session named by the request's cookie, refreshed. */
  fromRequest(req: Request): (Session & { id: string }) | undefined {
    const id = cookie(req, SESSION_COOKIE);
    const s = id ? this.sessions.get(id) : undefined;
    if (!id || !s) return undefined;
    const now = Date.now();
    if (now - s.lastSeen > IDLE_MS || now - s.created > ABSOLUTE_MS) {
      this.sessions.delete(id);
      return undefined;
    }
    s.lastSeen = now;
    return { ...s, id };
  }

  /** Safe methods pass; anything else needs X-CSRF-Token equal to the session's. */
  checkCsrf(req: Request, s: Session): void {
    if (req.method === "GET" || req.method === "HEAD") return;
    const given = Buffer.from(req.header("x-csrf-token") ?? "");
    const want = Buffer.from(s.csrf);
    if (given.length !== want.length || !timingSafeEqual(given, want)) throw new GatewayError("RA_ERR_CSRF", "this request needs the session's X-CSRF-Token header");
  }

  end(id: string): void {
    this.sessions.delete(id);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, s] of this.sessions) if (now - s.lastSeen > IDLE_MS || now - s.created > ABSOLUTE_MS) this.sessions.delete(id);
  }
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
  r.post("/login", (req, res) => {
    const token = typeof req.body?.token === "string" ? req.body.token.trim() : "";
    const admin = token ? gw.store.findAdminTokenByHash(hashToken(token)) : undefined;
    if (!admin) {
      gw.audit.record({ type: "console.login_failed", actor: "console", data: { from: req.socket.remoteAddress } });
      throw new GatewayError("RA_ERR_UNAUTHORIZED", "that is not a valid admin token");
    }
    const s = sessions.create(admin);
    gw.audit.record({ type: "console.login", actor: `admin:${admin.name}`, data: { from: req.socket.remoteAddress } });
    setCookie(res, s.id, ABSOLUTE_MS / 1000);
    res.json({ name: admin.name, csrfToken: s.csrf });
  });
  r.get("/session", (req, res) => {
    const s = sessions.fromRequest(req);
    if (!s) throw new GatewayError("RA_ERR_UNAUTHORIZED", "not logged in");
    res.json({ name: s.admin.name, csrfToken: s.csrf });
  });
  r.post("/logout", (req, res) => {
    const s = sessions.fromRequest(req);
    if (s) {
      sessions.checkCsrf(req, s);
      sessions.end(s.id);
      gw.audit.record({ type: "console.logout", actor: `admin:${s.admin.name}` });
    }
    setCookie(res, "", 0);
    res.status(204).end();
  });
  r.use(jsonErrors);
  return r;
}
