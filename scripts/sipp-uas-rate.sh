#!/usr/bin/env bash
# The other direction of scripts/sipp-rate.sh: Kuulo's UAC (examples/uac.rs)
# places calls at a rate against sipp's built-in UAS on loopback. Each step
# runs RATE calls/s for SECS seconds (calls hung up at once); it stops at
# the first rate with a failed call. Prints per step: calls, answered,
# failed, setup p50/p99, the UAC's CPU and peak RSS, and sipp's counters.
# Usage: scripts/sipp-uas-rate.sh "2000 4000 6000" [SECS]
set -euo pipefail
cd "$(dirname "$0")/.."
rates="${1:-1000 2000 4000 6000 8000 10000 12000}"
secs="${2:-5}"
bash scripts/install-deps.sh sip-tester libopus-dev pkg-config
cargo build --release --example uac >/dev/null 2>&1
out=$(mktemp -d)
port=5400
for rate in $rates; do
  port=$((port + 2))
  calls=$((rate * secs))
  # sipp ends by itself after the last call (-m) or the timeout.
  (cd "$out" && exec sipp -sn uas -i 127.0.0.1 -mi 127.0.0.1 -p "$port" -m "$calls" \
      -buff_size 4194304 -nostdin -timeout $((secs * 4 + 30))s -timeout_error \
      -trace_stat -stf "$out/uas-$rate.csv" > "$out/sipp-$rate.txt" 2>&1) &
  sipp=$!
  sleep 0.3
  set +e
  /usr/bin/time -f "uac_cpu_s=%U+%S uac_max_rss_kib=%M" -o "$out/time-$rate.txt" \
    target/release/examples/uac --target "sip:survey@127.0.0.1:$port" --calls "$calls" \
    --rate "$rate" --hold-secs 0 --ring-secs 10 > "$out/uac-$rate.txt" 2>&1
  code=$?
  wait "$sipp"
  sipp_code=$?
  set -e
  last=$(tail -1 "$out/uas-$rate.csv")
  sipp_ok=$(echo "$last" | awk -F';' '{print $16}')
  sipp_failed=$(echo "$last" | awk -F';' '{print $18}')
  cpu=$(sed -n 's/.*uac_cpu_s=\([0-9.]*\)+\([0-9.]*\).*/\1 \2/p' "$out/time-$rate.txt" | awk '{printf "%.2f", $1 + $2}')
  rss=$(sed -n 's/.*uac_max_rss_kib=\([0-9]*\).*/\1/p' "$out/time-$rate.txt")
  summary=$(grep 'uac summary' "$out/uac-$rate.txt" | sed 's/uac summary: //')
  per_call=$(awk -v c="$cpu" -v n="$calls" 'BEGIN {printf "%.0f", c / n * 1e6}')
  echo "rate=$rate calls=$calls uac_exit=$code $summary uac_cpu_s=$cpu cpu_per_call_us=$per_call uac_peak_rss_kib=$rss sipp_exit=$sipp_code sipp_successful=$sipp_ok sipp_failed=$sipp_failed"
  if [ "$code" -ne 0 ] || [ "$sipp_code" -ne 0 ]; then
    echo "logs in $out"
    break
  fi
done
