#!/bin/bash
# Peak memory must not grow with the number of samples (DESIGN.md: memory bounded by the model):
# the peak RSS (VmHWM, printed by rank 0 in the final summary) of a 10,000-sample run (the 1,000
# calibration images listed ten times) must be within 5 % of a 1,000-sample run, after allowing
# 256 bytes per extra sample for the sample list itself (the one O(N) structure: the listed paths,
# their copy in the stats file's /samples/path and HDF5's conversion buffer when writing it).
set -u
Q=${1:?usage: test_memory.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=$HERE/data/fmnist
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
ls "$D"/calib/*.png >"$W/l1k.txt"
for i in $(seq 10); do cat "$W/l1k.txt"; done >"$W/l10k.txt"
PRE=(--channels gray --mean 0.2860 --std 0.3530)
peak() { sed -n 's/.*peak RSS rank 0 \([0-9.]*\) MiB.*/\1/p' "$1"; }
for n in 1k 10k; do
    if ! "$Q" calibrate --model "$D/fmnist_cnn.onnx" --data "$W/l$n.txt" "${PRE[@]}" \
        -o "$W/$n.h5" 2>"$W/$n.log" >/dev/null; then
        cat "$W/$n.log"
        bad "calibrate of the $n-sample list failed"
        report
        exit 1
    fi
done
a=$(peak "$W/1k.log") b=$(peak "$W/10k.log")
echo "peak RSS: 1k samples $a MiB, 10k samples $b MiB"
list=$(awk 'BEGIN { printf "%.3f", 9000 * 256 / 1048576 }')
echo "allowance for the sample list: $list MiB"
if awk -v a="$a" -v b="$b" -v l="$list" 'BEGIN { exit !(a > 0 && b > 0 && b - l < a * 1.05) }'; then
    ok
else
    bad "peak RSS grew by more than 5 %"
fi
report
