#!/bin/bash
# Weight axes come from the consumer's attributes (ALGORITHMS.md 2.3): a Gemm with a square
# weight and transB=0 has its output channels on axis 1 (columns), one with transB=1 on axis 0,
# a MatMul weight on its last axis. qcal calibrate on tests/data/weight_axis/make_gemm.py's model;
# the stored axis and per-channel ch_min/ch_max (CSR rows of /weights) against numpy's, exactly.
set -u
Q=${1:?usage: test_weight_axis.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"

$PY "$HERE/data/weight_axis/make_gemm.py" "$W" || { bad "make_gemm.py"; report; exit 1; }
"$Q" calibrate --model "$W/gemm.onnx" --data "$W/data" -o "$W/s.h5" --quiet >"$W/cal.log" 2>&1 &&
    ok || { bad "calibrate: $(tail -n 1 "$W/cal.log")"; report; exit 1; }
$PY - "$W" <<'PY' && ok || bad "weight channel ranges vs numpy"
import sys, h5py, numpy as np, onnx
from onnx import numpy_helper
w = sys.argv[1]
m = onnx.load(w + "/gemm.onnx")
p = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
want = {"B0": (1, p["B0"].min(axis=0), p["B0"].max(axis=0)),   # transB=0: [K, N]
        "B1": (0, p["B1"].min(axis=1), p["B1"].max(axis=1)),   # transB=1: [N, K]
        "M": (1, p["M"].min(axis=0), p["M"].max(axis=0))}      # MatMul [K, N]
good = True
with h5py.File(w + "/s.h5", "r") as f:
    g = f["weights"]
    names = [n.decode() if isinstance(n, bytes) else n for n in g["name"][()]]
    for name, (axis, lo, hi) in want.items():
        r = names.index(name)
        s, c = int(g["ch_start"][r]), int(g["ch_count"][r])
        cmin, cmax = g["ch_min"][s:s + c], g["ch_max"][s:s + c]
        ok = int(g["axis"][r]) == axis and c == len(lo) and (cmin == lo).all() and \
            (cmax == hi).all()
        print("%s: axis %d (want %d), %d channels, ranges %s" % (
            name, int(g["axis"][r]), axis, c, "equal numpy's" if ok else "DIFFER"))
        good = good and ok
sys.exit(0 if good else 1)
PY
report
