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
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
ls "$D"/calib/*.png >"$W/l1k.txt"
for i in $(seq 10); do cat "$W/l1k.txt"; done >"$W/l10k.txt"
PRE=(--channels gray --mean 0.2860 --std 0.3530)
peak() { sed -n 's/.*peak RSS rank 0 \([0-9.]*\) MiB.*/\1/p' "$1"; }
"$Q" calibrate --model "$D/fmnist_cnn.onnx" --data "$W/l1k.txt" "${PRE[@]}" -o "$W/a.h5" 2>"$W/a.log" >/dev/null || { cat "$W/a.log"; echo "0 passed, 1 failed"; exit 1; }
"$Q" calibrate --model "$D/fmnist_cnn.onnx" --data "$W/l10k.txt" "${PRE[@]}" -o "$W/b.h5" 2>"$W/b.log" >/dev/null || { cat "$W/b.log"; echo "0 passed, 1 failed"; exit 1; }
a=$(peak "$W/a.log") b=$(peak "$W/b.log")
echo "peak RSS: 1k samples $a MiB, 10k samples $b MiB"
list=$(awk 'BEGIN { printf "%.3f", 9000 * 256 / 1048576 }')
echo "allowance for the sample list: $list MiB"
if awk -v a="$a" -v b="$b" -v l="$list" 'BEGIN { exit !(a > 0 && b > 0 && b - l < a * 1.05) }'; then
    echo "1 passed, 0 failed"
else
    echo "FAIL: peak RSS grew by more than 5 %"
    echo "0 passed, 1 failed"
    exit 1
fi
