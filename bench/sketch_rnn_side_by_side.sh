#!/usr/bin/env bash
# recur sketch-rnn and the PyTorch port (bench/sketch_rnn_pytorch.py) trained at the same time
# for the same wall time on the same data, each pinned to its own core with one thread and
# under the same nice, then scored on the same held-out drawings in Magenta's convention.
#
#   bench/sketch_rnn_side_by_side.sh DATA.npz MODE OUT_DIR [MINUTES] [HELD_OUT_SPLIT]
#
# MODE: unconditional | vae | class. HELD_OUT_SPLIT: the split both sides score (test if the
# file has one, else valid; the port picks the same way). Both sides use recur's default sizes:
# Magenta's get_default_hparams scaled down (decoder LSTM 256, encoder 128 per direction, z 64,
# 20 mixtures, batch 100, no recurrent dropout) and the data's N_max.
#
# Environment: RECUR (default target/release/recur), PYTHON (default python3), CORES ("0 1":
# recur's core, then the port's), NICE (10), RECUR_ARGS and PORT_ARGS (more flags for each
# side, e.g. RECUR_ARGS="--precision bf16" PORT_ARGS="--bf16" for both in mixed precision). Writes into OUT_DIR: recur/ (the model), recur.log,
# recur_eval.json, port.log, port.json (the port's last line: its held-out scores and rate),
# recur.time and port.time (each side's CPU seconds, user and system, and wall seconds: on a
# shared machine the CPU each side got is part of the comparison) and load.log (uptime every
# minute while they train).
set -euo pipefail

if [ $# -lt 3 ]; then
    echo "usage: $0 DATA.npz MODE OUT_DIR [MINUTES] [HELD_OUT_SPLIT]" >&2
    exit 2
fi
data=$1 mode=$2 out=$3 minutes=${4:-20} split=${5:-test}
recur=${RECUR:-target/release/recur}
python=${PYTHON:-python3}
read -r recur_core port_core <<<"${CORES:-0 1}"
nice_level=${NICE:-10}
here=$(cd "$(dirname "$0")" && pwd)

if [ -e "$out/recur" ]; then
    echo "error: $out/recur already exists (choose another OUT_DIR)" >&2
    exit 2
fi
mkdir -p "$out"

# recur starts no epoch (50 steps) after its limit, so it stops up to one epoch late; the port
# stops at its limit. recur's limit is set short by 40 s so that both train about as long;
# each side's own training time is in its log and in the table.
recur_minutes=$(awk -v m="$minutes" 'BEGIN { printf "%.3f", m - 40 / 60 }')

( while :; do echo "$(date +%T) $(uptime)"; sleep 60; done ) >"$out/load.log" &
load_pid=$!
trap 'kill "$load_pid" 2>/dev/null || true' EXIT

cpu_time=(/usr/bin/time -f "%U user %S system %e wall seconds")
taskset -c "$recur_core" nice -n "$nice_level" "${cpu_time[@]}" -o "$out/recur.time" "$recur" sketch-rnn train --data "$data" \
    --out "$out/recur" --mode "$mode" --max-minutes "$recur_minutes" --threads 1 ${RECUR_ARGS:-} \
    2>"$out/recur.log" &
recur_pid=$!
OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 taskset -c "$port_core" nice -n "$nice_level" \
    "${cpu_time[@]}" -o "$out/port.time" "$python" "$here/sketch_rnn_pytorch.py" --data "$data" --mode "$mode" --minutes "$minutes" \
    --threads 1 --enc 128 --dec 256 --nz 64 --mixtures 20 --batch 100 ${PORT_ARGS:-} \
    >"$out/port.json" 2>"$out/port.log" &
port_pid=$!
wait "$recur_pid"
wait "$port_pid"

taskset -c "$recur_core" "$recur" sketch-rnn eval --model "$out/recur" --data "$data" \
    --split "$split" --threads 1 --json >"$out/recur_eval.json"
echo "recur: $(cat "$out/recur_eval.json")"
echo "port:  $(tail -n 1 "$out/port.json")"
