#!/bin/bash
# A small 2-rank calibration, quick enough for the sanitizer build (scripts/test.sh runs it
# against build-asan): 25 fmnist images (an odd count, so the shards differ) calibrated under
# mpirun -n 2 give the same stats file as one process (h5same with the run attributes ignored),
# rank_samples [13, 12] and every image listed in order; a 2-rank run with a missing model fails
# on both ranks with exactly one error line and writes nothing. The comparison is shown to fail
# on a perturbed copy.
set -u
Q=${1:?usage: test_two_ranks.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=$HERE/data/fmnist
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
PRE=(--channels gray --mean 0.2860 --std 0.3530 --bins 256)
N=25

for i in $(seq 0 $((N - 1))); do
    printf '%s/calib/calib_%05d.png\n' "$D" $((37 * i))
done >"$W/list.txt"

if timeout 300 "$Q" calibrate --model "$D/fmnist_cnn.onnx" --data "$W/list.txt" "${PRE[@]}" \
    -o "$W/one.h5" --quiet >"$W/one.log" 2>&1; then ok; else
    bad "1-process calibrate: $(tail -n 5 "$W/one.log")"; fi
if timeout 300 mpirun -n 2 --oversubscribe "$Q" calibrate --model "$D/fmnist_cnn.onnx" \
    --data "$W/list.txt" "${PRE[@]}" -o "$W/two.h5" --quiet >"$W/two.log" 2>&1; then ok; else
    bad "mpirun -n 2 calibrate: $(tail -n 5 "$W/two.log")"; fi
if [ "$fail" -ne 0 ]; then
    report
    exit 1
fi

if h5same "$W/one.h5" "$W/two.h5" "${RUN_ATTRS[@]}" --require /activations /weights /graph \
    /samples /encodings >"$W/same.log" 2>&1; then ok; else
    bad "2 ranks differ from 1: $(head -n 5 "$W/same.log")"; fi
if $PY - "$W/two.h5" "$W/list.txt" <<'PY'; then ok; else bad "rank accounting"; fi
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
rs = [int(r) for r in np.asarray(f.attrs["rank_samples"]).reshape(-1)]
paths = [p.decode() if isinstance(p, bytes) else p for p in f["samples/path"][()]]
ok = int(f.attrs["ranks"]) == 2 and rs == [13, 12] and int(f.attrs["samples"]) == 25 and \
    paths == open(sys.argv[2]).read().split()
if not ok:
    print("ranks", f.attrs["ranks"], "rank_samples", rs, "samples", f.attrs["samples"])
sys.exit(0 if ok else 1)
PY

# The checker can fail: one histogram count moved to the next bin.
cp "$W/two.h5" "$W/bad.h5"
h5_edit "$W/bad.h5" '
c = f["activations/hist"]; row = c[0]; i = int(np.nonzero(row)[0][0])
row[i] -= 1; row[i + 1 if i + 1 < row.size else i - 1] += 1; c[0] = row'
if h5same "$W/one.h5" "$W/bad.h5" "${RUN_ATTRS[@]}" >/dev/null 2>&1; then
    bad "h5same did not see a moved count"; else ok; fi

# A 2-rank failure: one error line (rank 0 reports), exit status E_IO (3), no output file.
timeout 300 mpirun -n 2 --oversubscribe "$Q" calibrate --model "$W/missing.onnx" \
    --data "$W/list.txt" "${PRE[@]}" -o "$W/err.h5" --quiet >"$W/err.out" 2>"$W/err.log"
rc=$?
if [ "$rc" -ne 0 ] && [ "$(grep -c '^qcal: error: ' "$W/err.log")" -eq 1 ] &&
    grep -q 'missing.onnx' "$W/err.log" && [ ! -e "$W/err.h5" ] &&
    ! grep -qE 'Sanitizer|runtime error' "$W/err.log"; then ok; else
    bad "2-rank missing model: exit $rc: $(head -n 5 "$W/err.log")"; fi
report
