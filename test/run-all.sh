#!/usr/bin/env bash
# The whole test suite: installs the Debian packages the tests need when missing, runs on Node.js 24 (fetched from
# the npm registry when the system node is older: test/tools/node24.sh), runs `npm ci` when node_modules is not
# current, type-checks, runs every test (unit, HTTP, OpenSSL, SoftHSM2, ACME, EST, SCEP and CMP client interop, a software TPM) and
# prints "N passed, N failed" last. Arguments are passed to vitest (`npm test -- test/cli` runs one directory).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# Native modules (better-sqlite3, pkcs11js) compile from source when no prebuilt binary can be downloaded.
command -v python3 >/dev/null || need+=(python3)
command -v make >/dev/null || need+=(make)
command -v g++ >/dev/null || need+=(g++)
command -v openssl >/dev/null || need+=(openssl)
{ command -v softhsm2-util >/dev/null && [ -e /usr/lib/softhsm/libsofthsm2.so ]; } || need+=(softhsm2)
command -v pkcs11-tool >/dev/null || need+=(opensc)
command -v certbot >/dev/null || need+=(certbot)
command -v lego >/dev/null || need+=(lego)
command -v uacme >/dev/null || need+=(uacme)
command -v pebble-challtestsrv >/dev/null || need+=(pebble)
command -v curl >/dev/null || need+=(curl)
# The docs tests: the quick start pipes JSON through jq; the systemd unit in docs/operations.md is checked with systemd-analyze.
command -v jq >/dev/null || need+=(jq)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v chromium >/dev/null || need+=(chromium)
command -v pki >/dev/null || need+=(strongswan-pki)
command -v scepclient >/dev/null || need+=(scep)
command -v swtpm >/dev/null || need+=(swtpm)
command -v tpm2_certify >/dev/null || need+=(tpm2-tools)
# The PostgreSQL store's tests start a throw-away cluster from Debian's server binaries (>= 15, test/helpers/postgres.ts).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
# strongSwan's pki fetches CRLs while checking chains through the curl plugin (extra plugins package).
[ -e /usr/lib/ipsec/plugins/libstrongswan-curl.so ] || need+=(libstrongswan-extra-plugins)
# pki's RSA, X.509 and 3DES come from the openssl plugin (standard plugins package, only recommended by libstrongswan).
[ -e /usr/lib/ipsec/plugins/libstrongswan-openssl.so ] || need+=(libstrongswan-standard-plugins)
if ((${#need[@]})); then
  echo "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
# shellcheck source=tools/node24.sh
source test/tools/node24.sh
use_node24
ensure_deps

npm run -s typecheck
mkdir -p test-output
status=0
npx vitest run --config test/vitest.config.ts --reporter=default --reporter=json --outputFile.json=test-output/vitest.json "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync("test-output/vitest.json", "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
'
exit $status
