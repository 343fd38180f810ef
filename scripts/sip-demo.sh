#!/usr/bin/env bash
# Runs the two SIP examples against each other on loopback: the example UAS
# answers, the example UAC places 200 calls at 50 calls/s, and both print a
# summary. This is the main-job command until `kuulo demo` exists.
set -euo pipefail
cd "$(dirname "$0")/.."
# Building kuulo-media links Debian's libopus.
bash scripts/install-deps.sh libopus-dev pkg-config
cargo build --release --example uas --example uac
port="${KUULO_DEMO_PORT:-5080}"
target/release/examples/uas --bind "127.0.0.1:$port" --hold-secs 2 --max-calls 200 --run-secs 60 &
uas_pid=$!
trap 'kill "$uas_pid" 2>/dev/null || true' EXIT
sleep 0.5
target/release/examples/uac --target "sip:survey@127.0.0.1:$port" --calls 200 --rate 50 --hold-secs 1
wait "$uas_pid"
