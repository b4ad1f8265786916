# Sourced by test/run-all.sh (bash). Two functions:
#   use_node24     puts Node.js >= 24 first on PATH: the system node when it is new enough, else the npm registry's
#                  binary package (node-<os>-<arch>@24, what the `node` package installs) plus npm@11, kept in a cache
#                  outside the repository. The registry is the only download source.
#   ensure_deps    runs `npm ci` only when node_modules is not current: a stamp (sha256 of package-lock.json, the
#                  Node ABI and major) is written after a successful `npm ci` and compared on the next run.

NODE24_MAJOR=24
NODE24_NPM=11

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# node-gyp builds against the running node's own headers (its install prefix has include/node: the official tarball,
# distribution packages and the registry package alike), never a nodedir from ~/.npmrc meant for another version.
use_own_headers() {
  local prefix
  prefix="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
  if [ -e "$prefix/include/node/common.gypi" ]; then export npm_config_nodedir="$prefix"; fi
}

use_node24() {
  if command -v node >/dev/null && (($(node_major) >= NODE24_MAJOR)); then
    use_own_headers
    return 0
  fi
  local os arch
  case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) echo "no Node $NODE24_MAJOR package for $(uname -s)" >&2; return 1 ;; esac
  case "$(uname -m)" in x86_64 | amd64) arch=x64 ;; aarch64 | arm64) arch=arm64 ;; *) echo "no Node $NODE24_MAJOR package for $(uname -m)" >&2; return 1 ;; esac
  local pkg="node-$os-$arch"
  local dir="${GATEWAY_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/enrollment-gateway}/node-$NODE24_MAJOR-$os-$arch"
  if ! [ -x "$dir/node_modules/.bin/node" ] || ! [ -e "$dir/node_modules/npm/bin/npm-cli.js" ]; then
    command -v npm >/dev/null || { echo "npm is needed once to fetch Node $NODE24_MAJOR from the npm registry" >&2; return 1; }
    echo "Node $(node -v 2>/dev/null || echo "(none)") is older than $NODE24_MAJOR: installing $pkg@$NODE24_MAJOR and npm@$NODE24_NPM from the npm registry into $dir"
    mkdir -p "$(dirname "$dir")"
    local tmp
    tmp="$(mktemp -d "$dir.tmp.XXXXXX")"
    # A directory of its own (not node_modules): the project's own install never touches it. Filled aside, then
    # renamed, so an interrupted download is never taken for a cache. The bin links are relative: the rename keeps them.
    echo '{"private":true}' >"$tmp/package.json"
    if ! npm install --prefix "$tmp" --no-audit --no-fund --no-package-lock --loglevel=error "$pkg@$NODE24_MAJOR" "npm@$NODE24_NPM"; then
      rm -rf "$tmp"
      return 1
    fi
    rm -rf "$dir"
    mv "$tmp" "$dir"
  fi
  export PATH="$dir/node_modules/.bin:$PATH"
  hash -r
  # Native modules (better-sqlite3, pkcs11js) build from source for this ABI when their prebuilt download (from
  # GitHub) is out of reach: with the headers shipped in the package.
  use_own_headers
  # Set by an outer `npm test` for its own npm and node: the inner npm must use its own node-gyp and paths.
  unset npm_config_node_gyp npm_execpath npm_node_execpath NODE npm_config_prefix npm_config_global_prefix
  echo "using Node $(node -v) ($(command -v node)), npm $(npm -v)"
}

deps_stamp() {
  node -e '
    const { createHash } = require("node:crypto");
    const lock = require("node:fs").readFileSync("package-lock.json");
    const major = process.versions.node.split(".")[0];
    console.log(`lock=${createHash("sha256").update(lock).digest("hex")} abi=${process.versions.modules} node=${major}`);
  '
}

ensure_deps() {
  local want stamp=node_modules/.gateway-install-stamp
  want="$(deps_stamp)"
  if [ -d node_modules ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "node_modules is current ($want): no npm ci"
    return 0
  fi
  echo "npm ci ($want)"
  npm ci --no-audit --no-fund
  echo "$want" >"$stamp"
}
