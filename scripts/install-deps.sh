#!/usr/bin/env bash
# Installs the Debian packages given as arguments, if any is missing
# (`apt-get update` once, then `apt-get install -y`). Used by .ci/run and
# the demo scripts so a fresh machine needs nothing but the repository.
set -euo pipefail
missing=()
for p in "$@"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
