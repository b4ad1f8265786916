import { X509Certificate } from "node:crypto";
import { readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

export interface FileCertificate {
  /** "file:/absolute/path". */
  location: string;
  der: Uint8Array;
}

export interface FileScan {
  certificates: FileCertificate[];
  /** Files looked at. */
  files: number;
  /** Skipped or unreadable files, limits reached: one line each. */
  notes: string[];
}

export interface FileLimits {
  maxFileBytes: number;
  maxFiles: number;
}

export const DEFAULT_FILE_LIMITS: FileLimits = { maxFileBytes: 1024 * 1024, maxFiles: 10_000 };

const PEM_BLOCK = /-----BEGIN (X509 )?CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END \1?CERTIFICATE-----/g;

/** Every certificate in PEM (any number of blocks) or DER files, under directories recursively. */
export function readCertificatePaths(paths: string[], limits: FileLimits = DEFAULT_FILE_LIMITS): FileScan {
  const scan: FileScan = { certificates: [], files: 0, notes: [] };
  const visitedDirs = new Set<string>();
  let stopped = false;

  const visit = (path: string, explicit: boolean): void => {
    if (stopped) return;
    let st;
    try {
      st = statSync(path);
    } catch (e) {
      scan.notes.push(`${path}: skipped (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      return;
    }
    if (st.isDirectory()) {
      let real: string;
      let entries: string[];
      try {
        real = realpathSync(path);
        if (visitedDirs.has(real)) return; // symlink loop or repeat
        visitedDirs.add(real);
        entries = readdirSync(path).sort();
      } catch (e) {
        scan.notes.push(`${path}: directory skipped (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
        return;
      }
      for (const name of entries) visit(join(path, name), false);
      return;
    }
    if (!st.isFile()) return;
    if (scan.files >= limits.maxFiles) {
      scan.notes.push(`stopped after ${limits.maxFiles} files`);
      stopped = true;
      return;
    }
    scan.files++;
    if (st.size > limits.maxFileBytes) {
      scan.notes.push(`${path}: skipped (${st.size} bytes, over ${limits.maxFileBytes})`);
      return;
    }
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch (e) {
      scan.notes.push(`${path}: skipped (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      return;
    }
    const ders = certificatesIn(buf);
    if (!ders.length && explicit) scan.notes.push(`${path}: no certificate found`);
    for (const der of ders) scan.certificates.push({ location: `file:${path}`, der });
  };

  for (const p of paths) visit(resolve(p), true);
  return scan;
}

/** PEM blocks (parsed later, so a broken one is reported), or the whole file when it parses as one DER certificate. */
export function certificatesIn(buf: Buffer): Uint8Array[] {
  const text = buf.toString("latin1");
  if (text.includes("-----BEGIN")) {
    return [...text.matchAll(PEM_BLOCK)].map((m) => new Uint8Array(Buffer.from(m[2].replace(/\s+/g, ""), "base64")));
  }
  if (buf.length < 3 || buf[0] !== 0x30 || (buf[1] & 0x80) === 0) return [];
  try {
    new X509Certificate(buf); // DER keys, CRLs and other SEQUENCEs are not certificates
    return [new Uint8Array(buf)];
  } catch {
    return [];
  }
}
