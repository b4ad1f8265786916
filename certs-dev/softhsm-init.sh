#!/usr/bin/env bash
# Creates a SoftHSM2 token for development and prints the line that points PKCS#11 users at it:
#   eval "$(bash certs-dev/softhsm-init.sh [DIR])"        # DIR defaults to ./data/softhsm
# Layout: DIR/softhsm2.conf, DIR/tokens/, DIR/user-pin and DIR/so-pin (mode 0600).
# Env: USER_PIN, SO_PIN (random when unset), TOKEN_LABEL (default gateway-ca).
# Only stdout carries the export line, so it can be eval'd; progress goes to stderr.
# Keys are NOT generated here: `gateway ca init --pkcs11 --token gateway-ca --pin-file DIR/user-pin ...`
# creates them inside the token as non-extractable keys.
# Running it again keeps an existing token and its PIN files.
set -euo pipefail
umask 077

dir=${1:-./data/softhsm}
label=${TOKEN_LABEL:-gateway-ca}

command -v softhsm2-util >/dev/null || { echo "softhsm2-util not found; apt-get install softhsm2" >&2; exit 1; }
[ -r /usr/lib/softhsm/libsofthsm2.so ] || { echo "/usr/lib/softhsm/libsofthsm2.so missing; apt-get install softhsm2" >&2; exit 1; }

mkdir -p "$dir/tokens"
dir=$(cd "$dir" && pwd)
conf="$dir/softhsm2.conf"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$dir/tokens" > "$conf"
export SOFTHSM2_CONF="$conf"

random_pin() { od -An -tx1 -N12 /dev/urandom | tr -d ' \n'; }

if softhsm2-util --show-slots 2>/dev/null | grep -Eq "^[[:space:]]*Label:[[:space:]]+${label}[[:space:]]*$"; then
  echo "token \"$label\" already exists in $dir/tokens; leaving it and its PIN files alone" >&2
else
  user_pin=${USER_PIN:-$(random_pin)}
  so_pin=${SO_PIN:-$(random_pin)}
  # PINs go to files before the token exists, so a failure never leaves a token with an unknown PIN.
  printf '%s\n' "$user_pin" > "$dir/user-pin"
  printf '%s\n' "$so_pin" > "$dir/so-pin"
  chmod 600 "$dir/user-pin" "$dir/so-pin"
  # softhsm2-util takes PINs as arguments (briefly visible in ps): fine for a development token.
  softhsm2-util --init-token --free --label "$label" --so-pin "$so_pin" --pin "$user_pin" >&2
  echo "initialised token \"$label\"; user PIN in $dir/user-pin, SO PIN in $dir/so-pin" >&2
fi

printf 'export SOFTHSM2_CONF=%q\n' "$conf"
