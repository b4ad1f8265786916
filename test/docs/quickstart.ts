/**
 * The README's quick start as one bash script: the shell blocks marked `<!-- quickstart -->` run in order, and a
 * block marked `<!-- quickstart:gateway -->` (`npm start [-- --config FILE]`) (re)starts a real `gateway serve`
 * on the ports the test chose, with the configuration file that block names.
 */

export interface QuickstartBlock {
  kind: "run" | "gateway";
  /** 1-based line of the block's first command in the Markdown file. */
  line: number;
  code: string;
}

const MARKER = /^<!--\s*quickstart(?::(gateway))?\s*-->\s*$/;

/** The marked blocks, in order. A marker must sit right above a ```sh fence. */
export function quickstartBlocks(markdown: string): QuickstartBlock[] {
  const lines = markdown.split("\n");
  const out: QuickstartBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = MARKER.exec(lines[i]);
    if (!m) continue;
    if (!/^```(sh|bash)\s*$/.test(lines[i + 1] ?? "")) throw new Error(`README line ${i + 1}: a quickstart marker must be followed by a \`\`\`sh block`);
    const start = i + 2;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
    if (end >= lines.length) throw new Error(`README line ${i + 2}: unterminated code block`);
    out.push({ kind: m[1] === "gateway" ? "gateway" : "run", line: start + 1, code: lines.slice(start, end).join("\n") });
    i = end;
  }
  return out;
}

/** The configuration file a gateway block starts with (`npm start -- --config FILE`), or undefined for the defaults. */
export function gatewayConfigOf(block: QuickstartBlock): string | undefined {
  const last = block.code.trim().split("\n").pop() ?? "";
  const m = /(?:^|&&\s*)npm start(?:\s+--\s+--config\s+(\S+))?\s*$/.exec(last);
  if (!m) throw new Error(`README line ${block.line}: a quickstart:gateway block must end with \`npm start\` or \`npm start -- --config FILE\`, not: ${last}`);
  return m[1];
}

/**
 * The script: helper functions, then each block in order. Run blocks are pasted as they are; each gateway block
 * becomes `start_gateway [FILE]`. The environment provides GW, GW_HTTP and LAB_PORT (the blocks' own defaults
 * give way to them) and QS_* (how to run the gateway).
 */
export function quickstartScript(blocks: QuickstartBlock[]): string {
  const parts = [
    "set -euo pipefail",
    `GATEWAY_PID=
stop_gateway() {
  if [ -n "$GATEWAY_PID" ]; then kill -TERM "$GATEWAY_PID" 2>/dev/null || true; wait "$GATEWAY_PID" || true; GATEWAY_PID=; fi
}
trap stop_gateway EXIT
# start_gateway [CONFIG]: the same file with the test's ports (written next to it, so relative paths resolve alike).
start_gateway() {
  stop_gateway
  local cfg
  cfg=$("$QS_NODE" "$QS_OVERLAY" "\${1:-}")
  (cd "$QS_ROOT" && exec "$QS_NODE" --import tsx src/cli/main.ts serve --config "$cfg") >>"$QS_LOG" 2>&1 &
  GATEWAY_PID=$!
  echo "$GATEWAY_PID" >"$QS_PIDFILE"
  local i
  for i in $(seq 1 600); do
    if curl -sf -o /dev/null "$GW_HTTP/healthz" && curl -sf -o /dev/null --cacert data/cas/dev-root/cert.pem "$GW/healthz"; then
      echo "[quickstart] gateway up (config: \${1:-defaults})"
      return 0
    fi
    if ! kill -0 "$GATEWAY_PID" 2>/dev/null; then echo "[quickstart] the gateway exited; its log:" >&2; tail -n 40 "$QS_LOG" >&2; return 1; fi
    sleep 0.2
  done
  echo "[quickstart] the gateway did not answer /healthz" >&2
  return 1
}`,
  ];
  for (const b of blocks) {
    parts.push(`echo "[quickstart] README line ${b.line}"`);
    if (b.kind === "gateway") {
      const cfg = gatewayConfigOf(b);
      parts.push(cfg ? `start_gateway ${JSON.stringify(cfg)}` : "start_gateway");
    } else {
      parts.push(b.code);
    }
  }
  return `${parts.join("\n")}\n`;
}

/**
 * A small Node script (run by the quick start's bash) that writes `<dir>/.quickstart-<name>` from a configuration
 * file (or none) with `listen` set to the test's ports on the default host, and prints its path.
 */
export function overlayScript(root: string, httpsPort: number, httpPort: number): string {
  return `import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
const { parse, stringify } = createRequire(${JSON.stringify(`${root}/package.json`)})("yaml");
const source = process.argv[2];
const config = source ? parse(readFileSync(source, "utf8")) ?? {} : {};
config.listen = { https: { host: "0.0.0.0", port: ${httpsPort} }, http: { host: "0.0.0.0", port: ${httpPort} } };
const out = join(source ? dirname(resolve(source)) : process.cwd(), ".quickstart-" + (source ? basename(source) : "defaults.yaml"));
writeFileSync(out, stringify(config));
console.log(out);
`;
}
