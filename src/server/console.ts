import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import express, { type Express } from "express";
import type { Gateway } from "../gateway.js";
import { ConsoleSessions, consoleSessionRouter } from "./console-session.js";

const STATIC = fileURLToPath(new URL("../console/static/", import.meta.url));
const require = createRequire(import.meta.url);
/** The front-end's libraries, served from node_modules under the names index.html's import map uses. */
const beside = (pkg: string, file: string) => join(dirname(require.resolve(pkg)), file); // the ESM build next to the package's entry
const VENDOR: Record<string, string> = {
  "preact.mjs": beside("preact", "preact.module.js"),
  "hooks.mjs": beside("preact/hooks", "hooks.module.js"),
  "htm.mjs": beside("htm", "htm.module.js"),
};

/**
 * The operator console at /console on the HTTPS listener: static files (no build step, nothing
 * fetched from elsewhere) and the login that turns an admin token into a session cookie. The pages
 * call the admin API with that cookie and the session's CSRF token.
 */
export function mountConsole(app: Express, gw: Gateway, sessions: ConsoleSessions): void {
  const csp = contentSecurityPolicy();
  app.use("/console/api", consoleSessionRouter(gw, sessions));
  app.get("/console/vendor/:file", (req, res, next) => {
    const path = VENDOR[String(req.params.file)];
    if (!path) return next();
    res.type("text/javascript").setHeader("Cache-Control", "public, max-age=3600");
    res.sendFile(path);
  });
  app.use("/console", (_req, res, next) => {
    // The console runs only its own scripts; nothing may frame it.
    res.setHeader("Content-Security-Policy", csp);
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Referrer-Policy", "no-referrer");
    next();
  }, express.static(STATIC, { index: "index.html", redirect: false }));
  app.get("/console", (_req, res) => res.redirect(301, "/console/"));
}

/**
 * Only the console's own files run. The one inline script allowed is index.html's import map
 * (browsers take no external import maps), admitted by its hash, computed once at start.
 */
function contentSecurityPolicy(): string {
  let html = "";
  try {
    html = readFileSync(join(STATIC, "index.html"), "utf8");
  } catch {
    // no console files: the policy still stands
  }
  const hashes = [...html.matchAll(/<script type="importmap">([\s\S]*?)<\/script>/g)].map((m) => `'sha256-${createHash("sha256").update(m[1]).digest("base64")}'`);
  return `default-src 'self'; script-src 'self' ${hashes.join(" ")}; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'`;
}

export { ConsoleSessions };
