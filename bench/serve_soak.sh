#!/usr/bin/env bash
# Soak test of `recur serve`: full load for a fixed time, with the server's resident memory
# read at the start, in the middle and at the end, and the load test's errors.
#
#   bench/serve_soak.sh MODEL_DIR DRAWINGS.ndjson [SECONDS=600] [CLIENTS=8]
#
# Needs a built `target/release/recur` and Python 3 (bench/serve_load.py uses only the
# standard library).
set -euo pipefail
model=$1 data=$2 seconds=${3:-600} clients=${4:-8}
cd "$(dirname "$0")/.."
log=$(mktemp)
target/release/recur serve --model "soak=$model" --port 0 2>"$log" &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q 'listening on' "$log" && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$log")
rss() { awk '/^VmRSS/ {print $2}' "/proc/$server/status"; }
echo "{\"rss_kib_start\": $(rss)}"
python3 bench/serve_load.py --url "$url" --model soak --data "$data" --clients "$clients" --seconds 30 >/dev/null
echo "{\"rss_kib_after_warmup\": $(rss)}"
python3 bench/serve_load.py --url "$url" --model soak --data "$data" --clients "$clients" --seconds "$seconds"
echo "{\"rss_kib_end\": $(rss)}"
