#!/bin/bash
# What checkpoints cost: 'qcal calibrate' on 5000 fmnist samples (the 1000 images of
# tests/data/fmnist/calib, listed 5 times) without checkpoints and with --checkpoint-every 100
# and 500, with 1 and 2 ranks (mpirun), REPS runs each (interleaved, so that the machine's
# load drifts over all configurations alike). Prints per configuration the median and best wall
# time that qcal reports ("done: ... in X s": inference, statistics, checkpoints and the final
# write; not the launcher's start), the checkpoint writes per rank, the overhead in % of the run
# without checkpoints and per checkpoint write (ms), from the medians and from the best runs,
# and the size of one checkpoint file. On a busy machine the medians jump by more than the
# checkpoints cost: raise REPS and read the best-run columns (idle-core estimates).
#
#   bench/bench_checkpoint.sh [path/to/qcal]       (default: build/qcal)
# Environment: REPS (3), SAMPLES (5000, a multiple of 1000), EVERY ("100 500"), RANKS ("1 2"),
# BENCH_DIR (where the stats file and its checkpoints go; default a new folder in /var/tmp, a
# real disk: /tmp may be a tmpfs, where fsync costs nothing).
set -eu
cd "$(dirname "$0")/.."
Q=${1:-build/qcal}
REPS=${REPS:-3}
SAMPLES=${SAMPLES:-5000}
EVERY=${EVERY:-100 500}
RANKS=${RANKS:-1 2}
D=tests/data/fmnist
[ -x "$Q" ] || { echo "bench_checkpoint.sh: no qcal binary at $Q (build it first)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
W=${BENCH_DIR:-$(mktemp -d /var/tmp/qcal-bench-ckpt.XXXXXX)}
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT INT TERM

ls "$PWD/$D"/calib/*.png >"$W/l1k.txt"
for _ in $(seq $((SAMPLES / 1000))); do cat "$W/l1k.txt"; done >"$W/list.txt"
N=$(wc -l <"$W/list.txt")
echo "qcal $Q: $N samples, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), folder $W ($(df -T "$W" | awk 'NR == 2 {print $2}'))"

# one NP EVERY REP: one run; appends "np every seconds" to $W/times.
one() {
    local np=$1 every=$2 args=() t
    [ "$every" != 0 ] && args=(--checkpoint-every "$every")
    rm -rf "$W/s.h5" "$W/s.h5.ckpt"
    local run=("$Q")
    [ "$np" -gt 1 ] && run=(mpirun -n "$np" "$Q")
    "${run[@]}" calibrate --model "$D/fmnist_cnn.onnx" --data "$W/list.txt" --channels gray \
        --mean 0.2860 --std 0.3530 -o "$W/s.h5" "${args[@]}" >"$W/run.log" 2>&1 ||
        { echo "run failed (np $np, every $every):"; tail -n 5 "$W/run.log"; exit 1; }
    t=$(sed -n 's/.*done: .* in \([0-9.]*\) s .*/\1/p' "$W/run.log")
    [ -n "$t" ] || { echo "no 'done: ... in X s' line:"; tail -n 3 "$W/run.log"; exit 1; }
    echo "$np $every $t" >>"$W/times"
}

: >"$W/times"
for rep in $(seq "$REPS"); do
    for np in $RANKS; do
        for every in 0 $EVERY; do
            one "$np" "$every"
        done
    done
    echo "round $rep of $REPS done"
done

# The size of one checkpoint file (rank 0): a run with checkpoints, stopped once one exists
# (files appear by rename, so an existing one is complete).
"$Q" calibrate --model "$D/fmnist_cnn.onnx" --data "$W/list.txt" --channels gray --mean 0.2860 \
    --std 0.3530 -o "$W/size.h5" --checkpoint-every 1000 >/dev/null 2>&1 &
pid=$!
size=?
for _ in $(seq 1000); do
    if [ -f "$W/size.h5.ckpt/gen0/rank0.h5" ]; then
        size=$(stat -c %s "$W/size.h5.ckpt/gen0/rank0.h5")
        break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
done
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true

echo
echo "checkpoint file: ${size} bytes per rank per write (fmnist: 12 activations x 4096 bins)"
printf '%-6s %-6s %-9s %-9s %-12s %-10s %-9s %-10s %-9s\n' ranks every median_s best_s writes/rank overhead ms/write "ovh(best)" "ms(best)"
awk -v N="$N" -v every_list="0 $EVERY" -v ranks="$RANKS" '
    { k = $1 " " $2; n[k]++; t[k, n[k]] = $3 }
    function median(k,    i, j, a, m, x) {
        m = n[k]
        for (i = 1; i <= m; i++) a[i] = t[k, i]
        for (i = 2; i <= m; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
        return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
    }
    function best(k,    i, b) { b = t[k, 1]; for (i = 2; i <= n[k]; i++) if (t[k, i] < b) b = t[k, i]; return b }
    END {
        nr = split(ranks, R, " "); ne = split(every_list, E, " ")
        for (i = 1; i <= nr; i++) {
            base = median(R[i] " 0"); bbase = best(R[i] " 0")
            for (j = 1; j <= ne; j++) {
                k = R[i] " " E[j]; med = median(k)
                per_rank = int((N + R[i] - 1) / R[i])
                w = E[j] == 0 ? 0 : int(per_rank / E[j])
                ov = E[j] == 0 ? "-" : sprintf("%+.1f%%", 100 * (med - base) / base)
                ms = w == 0 ? "-" : sprintf("%.1f", 1000 * (med - base) / w)
                b = best(k)
                bov = E[j] == 0 ? "-" : sprintf("%+.1f%%", 100 * (b - bbase) / bbase)
                bms = w == 0 ? "-" : sprintf("%.1f", 1000 * (b - bbase) / w)
                printf "%-6s %-6s %-9.3f %-9.3f %-12d %-10s %-9s %-10s %-9s\n", R[i], (E[j] == 0 ? "none" : E[j]), med, b, w, ov, ms, bov, bms
            }
        }
    }' "$W/times"
