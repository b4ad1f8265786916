#!/usr/bin/env bash
# The whole test suite: installs the Debian packages the tests need when missing,
# type-checks, runs every test (unit, HTTP, OpenSSL, SoftHSM2, ACME, EST, SCEP and CMP client interop, a software TPM) and
# prints "N passed, N failed" last.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v openssl >/dev/null || need+=(openssl)
{ command -v softhsm2-util >/dev/null && [ -e /usr/lib/softhsm/libsofthsm2.so ]; } || need+=(softhsm2)
command -v pkcs11-tool >/dev/null || need+=(opensc)
command -v certbot >/dev/null || need+=(certbot)
command -v lego >/dev/null || need+=(lego)
command -v uacme >/dev/null || need+=(uacme)
command -v pebble-challtestsrv >/dev/null || need+=(pebble)
command -v curl >/dev/null || need+=(curl)
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
[ -d node_modules ] || npm ci --no-audit --no-fund

npm run -s typecheck
mkdir -p test-output
status=0
npx vitest run --config test/vitest.config.ts --reporter=default --reporter=json --outputFile.json=test-output/vitest.json || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync("test-output/vitest.json", "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
'
exit $status
