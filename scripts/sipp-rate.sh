#!/usr/bin/env bash
# Finds the highest call rate at which sipp's built-in UAC completes every
# call against the example UAS on loopback. Each step runs RATE calls/s for
# SECS seconds; it stops at the first rate with a failed call.
# Usage: scripts/sipp-rate.sh "2000 4000 6000" [SECS]
set -euo pipefail
cd "$(dirname "$0")/.."
rates="${1:-1000 2000 4000 6000 8000 10000 12000}"
secs="${2:-5}"
bash scripts/install-deps.sh sip-tester libopus-dev pkg-config
cargo build --release --example uas >/dev/null 2>&1
port=5300
for rate in $rates; do
  port=$((port + 2))
  calls=$((rate * secs))
  target/release/examples/uas --bind "127.0.0.1:$port" --hold-secs 0 --max-calls "$calls" --run-secs $((secs * 4 + 30)) > /tmp/kuulo-rate-uas.txt 2>&1 &
  uas=$!
  sleep 0.3
  start=$(date +%s.%N)
  set +e
  (cd /tmp && sipp -sn uac "127.0.0.1:$port" -i 127.0.0.1 -mi 127.0.0.1 -p $((port + 1)) \
      -r "$rate" -rp 1000 -m "$calls" -l 100000 -buff_size 4194304 -nostdin \
      -timeout $((secs * 4 + 20))s -timeout_error -trace_stat -stf /tmp/kuulo-rate.csv > /tmp/kuulo-rate-sipp.txt 2>&1)
  code=$?
  set -e
  end=$(date +%s.%N)
  cpu=$(ps -o cputime= -p "$uas" 2>/dev/null || echo "?")
  wait "$uas" || true
  last=$(tail -1 /tmp/kuulo-rate.csv)
  ok=$(echo "$last" | awk -F';' '{print $16}')
  failed=$(echo "$last" | awk -F';' '{print $18}')
  echo "rate=$rate calls=$calls sipp_exit=$code successful=$ok failed=$failed wall_s=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.2f", b - a}') uas_cpu=$cpu $(grep 'uas summary' /tmp/kuulo-rate-uas.txt | sed 's/uas summary: //')"
  if [ "$code" -ne 0 ]; then break; fi
done
