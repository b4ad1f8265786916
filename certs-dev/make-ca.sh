#!/usr/bin/env bash
# Creates a root and an issuing CA for development, in software or inside a SoftHSM2 token.
#   bash certs-dev/make-ca.sh [software|softhsm] [DATA_DIR] [KEY]
# KEY: ec-p256 (default) | ec-p384 | rsa-2048 | rsa-3072 | rsa-4096
# The keys stay in DATA_DIR (software, mode 0600) or in the token (non-extractable); nothing here is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-software}
data=${2:-./data}
key=${3:-ec-p256}
case "$mode" in
  software)
    npx tsx src/cli/main.ts ca init --data-dir "$data" --key "$key" --root-name root --issuing-name issuing
    ;;
  softhsm)
    eval "$(bash certs-dev/softhsm-init.sh "$data/softhsm")"
    npx tsx src/cli/main.ts ca init --data-dir "$data" --key "$key" --root-name root --issuing-name issuing \
      --pkcs11 --module /usr/lib/softhsm/libsofthsm2.so --token gateway-ca --pin-file "$data/softhsm/user-pin"
    echo "export SOFTHSM2_CONF=$SOFTHSM2_CONF   # the gateway needs it at run time too"
    ;;
  *) echo "usage: $0 [software|softhsm] [DATA_DIR] [KEY]" >&2; exit 2 ;;
esac
