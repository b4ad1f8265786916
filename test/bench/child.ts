import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { freePort } from "../helpers/ports.js";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Children still running and temp dirs not yet removed: cleaned up however the bench exits. */
const live = new Set<ChildProcess>();
const dirs = new Set<string>();
process.on("exit", () => {
  for (const p of live) p.kill("SIGKILL");
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh temp dir, removed by `removeTempDir` or at exit. */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

export { freePort };

/**
 * A server under test as its own process. Its stdout and stderr go to a log file, not through a
 * pipe, so the load generator spends no CPU reading them; the tail is shown when it fails.
 */
export class Child {
  private exitCode: number | string | null | undefined = undefined;
  private spawnError?: Error;
  readonly exited: Promise<void>;

  private constructor(readonly name: string, readonly proc: ChildProcess, private readonly logPath: string) {
    live.add(proc);
    this.exited = new Promise((resolve) => {
      proc.once("exit", (code, signal) => {
        this.exitCode = code ?? signal;
        live.delete(proc);
        resolve();
      });
      proc.once("error", (e) => {
        this.spawnError = e;
        this.exitCode = "spawn error";
        live.delete(proc);
        resolve();
      });
    });
  }

  /** `ipc`: an IPC channel to the child (`proc.send`), for a node child that listens on `process`. */
  static start(name: string, cmd: string, args: string[], o: { logPath: string; env?: NodeJS.ProcessEnv; cwd?: string; ipc?: boolean }): Child {
    const fd = openSync(o.logPath, "a");
    try {
      const stdio: StdioOptions = o.ipc ? ["ignore", fd, fd, "ipc"] : ["ignore", fd, fd];
      return new Child(name, spawn(cmd, args, { cwd: o.cwd, env: o.env ?? process.env, stdio }), o.logPath);
    } finally {
      closeSync(fd); // the child holds its own copy
    }
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Why it is not running, with the end of its log. */
  failure(): string {
    if (this.spawnError) return `${this.name} could not start (${this.spawnError.message}); install the Debian package that provides it`;
    return `${this.name} exited (${this.exitCode ?? "still running"}); last output:\n${this.tail()}`;
  }

  tail(lines = 20): string {
    try {
      return readFileSync(this.logPath, "utf8").trimEnd().split("\n").slice(-lines).map((l) => `  | ${l}`).join("\n");
    } catch {
      return "  | (no log)";
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** HTTP status of a GET, or undefined when nothing answers (yet). */
export function probe(url: string, o: { caPem?: string; insecure?: boolean } = {}): Promise<number | undefined> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const opts = { agent: false as const, ca: o.caPem, rejectUnauthorized: !o.insecure, timeout: 2000 };
    const req = (u.protocol === "https:" ? httpsRequest : httpRequest)(u, opts, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
    req.end();
  });
}

/** Polls `ready` until true; fails early, with the child's log, if the child dies meanwhile. */
export async function waitUntil(what: string, child: Child, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (!child.running) throw new Error(`${what}: ${child.failure()}`);
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms; ${child.name} output so far:\n${child.tail()}`);
}
