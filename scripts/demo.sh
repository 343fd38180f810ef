#!/usr/bin/env bash
# The main job: `kuulo demo`. A thousand simulated residents answer on
# loopback; Kuulo imports a generated contact list, calls them with the
# digital-services survey, prints the report and writes report.html here.
# Installs what it needs from Debian first: espeak-ng speaks the prompts,
# sox resamples them, libopus-dev and pkg-config build kuulo-media.
# Extra arguments go to `kuulo demo` (see `--help`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/install-deps.sh" espeak-ng sox libopus-dev pkg-config
exec cargo run --release --quiet --manifest-path "$root/Cargo.toml" --bin kuulo -- demo "$@"
