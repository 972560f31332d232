#!/bin/bash
# A model of today's format: the fmnist model re-saved as IR 10 / opset 21
# (tests/data/fmnist/fmnist_cnn_ir10.onnx, made by tests/data/fmnist/make_ir10.py) calibrated on
# 2 ranks gives a stats file bit-identical to the original IR 7 / opset 13 model's on 1 rank:
# every dataset and attribute, except the run attributes (ranks, rank_samples, created) and the
# model's path and SHA-256, which name a different file. The comparison is shown to fail on a
# perturbed copy.
set -u
Q=${1:?usage: test_ir10.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=$HERE/data/fmnist
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
PRE=(--channels gray --mean 0.2860 --std 0.3530)

$PY - "$D/fmnist_cnn_ir10.onnx" <<'PY' && ok || bad "fmnist_cnn_ir10.onnx is not IR 10 / opset 21"
import sys, onnx
m = onnx.load(sys.argv[1])
sys.exit(0 if m.ir_version == 10 and [o.version for o in m.opset_import] == [21] else 1)
PY
for i in $(seq 0 3 299); do printf '%s/calib/calib_%05d.png\n' "$D" "$i"; done >"$W/list.txt"

"$Q" calibrate --model "$D/fmnist_cnn.onnx" --data "$W/list.txt" "${PRE[@]}" -o "$W/ir7.h5" \
    --quiet >"$W/a.log" 2>&1 && ok || bad "calibrate IR 7: $(tail -n 1 "$W/a.log")"
timeout 300 mpirun -n 2 --oversubscribe "$Q" calibrate --model "$D/fmnist_cnn_ir10.onnx" \
    --data "$W/list.txt" "${PRE[@]}" -o "$W/ir10.h5" --quiet >"$W/b.log" 2>&1 && ok ||
    bad "calibrate IR 10 on 2 ranks: $(tail -n 1 "$W/b.log")"
IGN=("${RUN_ATTRS[@]}" --ignore /@model_path /@model_sha256)
h5same "$W/ir7.h5" "$W/ir10.h5" "${IGN[@]}" --require /activations/hist --require /weights/ch_min \
    && ok || bad "IR 10 / opset 21 stats differ from the original model's"
$PY - "$W/ir10.h5" <<'PY' && ok || bad "ir10.h5 is not a 2-rank run"
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    sys.exit(0 if int(f.attrs["ranks"]) == 2 and list(f.attrs["rank_samples"]) == [50, 50] else 1)
PY
cp "$W/ir10.h5" "$W/bad.h5"
h5_edit "$W/bad.h5" 'h = f["activations/max"]; v = h[()]; v[3] = v[3] * 2; h[...] = v'
h5same "$W/ir7.h5" "$W/bad.h5" "${IGN[@]}" >/dev/null && bad "h5same missed a changed max" || ok
report
