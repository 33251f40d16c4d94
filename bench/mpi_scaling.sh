#!/usr/bin/env bash
# Data-parallel scaling of the sketch model (docs/distributed.md): time per global batch of
# `recur bench --scaling` for one process with 2 threads, two 1-thread ranks over shared memory
# (vader) and over TCP loopback, interleaved ROUNDS times so load on a shared machine hits all
# alike; prints each configuration's median over the rounds and the all-reduce times.
#
#   cargo build --release -p recur --features mpi
#   bench/mpi_scaling.sh            # RECUR=path/to/recur ROUNDS=5 STEPS=20 BATCH=64 to change
set -euo pipefail
RECUR=${RECUR:-target/release/recur}
ROUNDS=${ROUNDS:-5}
STEPS=${STEPS:-20}
BATCH=${BATCH:-64}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
common=(bench --scaling --json --steps "$STEPS" --batch "$BATCH")
# Ranks poll for messages; yielding keeps a waiting rank off a core another process needs.
mpi=(mpirun --timeout 600 --bind-to none --mca mpi_yield_when_idle 1 -np 2)
declare -A runs=(
    [1x1]="$RECUR ${common[*]} --threads 1"
    [1x2]="$RECUR ${common[*]} --threads 2"
    [2x1-shm]="${mpi[*]} --mca btl vader,self $RECUR ${common[*]} --threads 1"
    [2x1-tcp]="${mpi[*]} --mca btl tcp,self $RECUR ${common[*]} --threads 1"
)
order=(1x1 1x2 2x1-shm 2x1-tcp)
out=$(mktemp)
for round in $(seq "$ROUNDS"); do
    for name in "${order[@]}"; do
        echo "$name $(${runs[$name]})" >>"$out"
    done
    echo "round $round of $ROUNDS done" >&2
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, _, js = line.partition(" ")
    rows.setdefault(name, []).append(json.loads(js))
base = statistics.median(r["ms_per_batch"] for r in rows["1x2"])
print("| run | ms per global batch (median) | all-reduce ms | efficiency vs 1 process × 2 threads |")
print("|---|---|---|---|")
for name, rs in rows.items():
    ms = statistics.median(r["ms_per_batch"] for r in rs)
    red = [r["allreduce_ms"] for r in rs if r["allreduce_ms"] is not None]
    red_s = f"{statistics.median(red):.3f}" if red else "–"
    print(f"| {name} | {ms:.1f} | {red_s} | {base / ms:.0%} |")
print(f"({len(rows['1x2'])} rounds, batch {rs[0]['batch']} × {rs[0]['length']} steps, {rs[0]['params']} parameters)")
PY
rm -f "$out"
