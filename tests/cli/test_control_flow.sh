#!/bin/bash
# Control flow in calibration: a model with If and Loop (tests/data/control/make_control.py)
# calibrated on 6 samples; every float tensor of the branches and of the loop body is a row of the
# stats file, with the exact min/max and element count numpy computes independently (a Loop body
# tensor counts once per iteration, an If branch only when taken), its shape "?" (known per sample
# only), and the producer of a body input is the Loop; the same on 2 ranks, bit for bit.
set -u
Q=${1:?usage: test_control_flow.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"

if ! $PY "$HERE/data/control/make_control.py" "$W" >"$W/make.log" 2>&1; then
    bad "make_control.py: $(tail -n 1 "$W/make.log")"; report; exit 1
fi
if "$Q" calibrate --model "$W/control.onnx" --data "$W/data" -o "$W/s1.h5" --quiet \
    >"$W/cal.log" 2>&1; then ok; else bad "calibrate: $(tail -n 1 "$W/cal.log")"; report; exit 1; fi

if $PY - "$W/s1.h5" "$W/expected.json" <<'PY'
import json, sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r"); exp = json.load(open(sys.argv[2]))
a = f["activations"]
names = [n.decode() if isinstance(n, bytes) else n for n in a["name"][:]]
get = lambda col, i: (lambda v: v.decode() if isinstance(v, bytes) else v)(a[col][i])
bad = 0
for name, (lo, hi, cnt) in exp.items():
    if name not in names:
        print("FAIL: no row for", name); bad += 1; continue
    i = names.index(name)
    mn, mx, c = float(a["min"][i]), float(a["max"][i]), int(a["count"][i])
    if np.float32(mn) != np.float32(lo) or np.float32(mx) != np.float32(hi) or c != cnt:
        print("FAIL: %s: min %r max %r count %d, numpy %r %r %d" % (name, mn, mx, c, lo, hi, cnt)); bad += 1
for name in ("then_y", "else_y", "v_in", "v1", "v2", "sc", "f", "b", "scans", "y", "r"):
    if name in names and get("shape", names.index(name)) != "?":
        print("FAIL: %s: shape %r, expected '?'" % (name, get("shape", names.index(name)))); bad += 1
if get("shape", names.index("x")) != "1x4" or get("shape", names.index("s")) != "":
    print("FAIL: static shapes", get("shape", names.index("x")), get("shape", names.index("s"))); bad += 1
if get("producer", names.index("v_in")) != "Loop_3" or get("op", names.index("v_in")) != "Loop":
    print("FAIL: v_in producer", get("producer", names.index("v_in"))); bad += 1
extra = set(names) - set(exp)
if extra:
    print("FAIL: unexpected rows", sorted(extra)); bad += 1
sys.exit(1 if bad else 0)
PY
then ok; else bad "stats of the subgraph tensors"; fi

# 2 ranks: the same file (rank-count independent even with per-sample shapes).
if command -v mpirun >/dev/null; then
    if mpirun -n 2 "$Q" calibrate --model "$W/control.onnx" --data "$W/data" -o "$W/s2.h5" \
        --quiet >"$W/cal2.log" 2>&1; then ok; else bad "mpirun -n 2: $(tail -n 1 "$W/cal2.log")"; fi
    if h5same "$W/s1.h5" "$W/s2.h5" "${RUN_ATTRS[@]}"; then ok; else bad "1 rank vs 2 ranks differ"; fi
fi

# qcal run: the outputs against numpy for one sample (Loop scan output shape 3x1x4).
if "$Q" run --model "$W/control.onnx" --input "$W/data/s01.npy" -o "$W/out" >"$W/run.log" 2>&1 &&
    $PY - "$W" <<'PY'
import sys, numpy as np
w = sys.argv[1]; x = np.load(w + "/data/s01.npy")
b = x * np.float32(2) if x.sum(dtype=np.float64) > 0 else x - np.float32(1)
v, sc = b, []
for i in range(3):
    v = v * np.float32(0.5) + np.float32(i); sc.append(v * x)
y, r = np.load(w + "/out/y.npy"), np.load(w + "/out/r.npy")
assert r.shape == (3, 1, 4), r.shape
assert np.array_equal(y, v) and np.array_equal(r, np.maximum(np.stack(sc), 0)), (y, v)
PY
then ok; else bad "qcal run outputs: $(tail -n 2 "$W/run.log")"; fi

# ONNX Runtime (tests/qdq's onnxruntime-node, when installed) agrees on output y of every sample.
if command -v node >/dev/null && [ -d "$HERE/qdq/node_modules/onnxruntime-node" ]; then
    ls "$W"/data/*.npy >"$W/list.txt"
    : >"$W/qcal.raw"
    for f in $(cat "$W/list.txt"); do
        "$Q" run --model "$W/control.onnx" --input "$f" -o "$W/o1" >/dev/null 2>&1 &&
            $PY -c "import numpy as np,sys; np.load(sys.argv[1]).astype('<f4').tofile(open(sys.argv[2],'ab'))" \
                "$W/o1/y.npy" "$W/qcal.raw"
    done
    if node "$HERE/qdq/ort_run.js" --model "$W/control.onnx" --list "$W/list.txt" \
        --out "$W/ort.raw" >"$W/ort.log" 2>&1 &&
        $PY -c "import numpy as np,sys; a=np.fromfile(sys.argv[1],'<f4'); b=np.fromfile(sys.argv[2],'<f4'); sys.exit(0 if a.size==24 and np.allclose(a,b,rtol=1e-6,atol=1e-6) else 1)" \
            "$W/qcal.raw" "$W/ort.raw"; then ok; else bad "ONNX Runtime disagrees: $(tail -n 1 "$W/ort.log")"; fi
else
    echo "note: onnxruntime-node not installed (tests/qdq), ONNX Runtime check skipped"
fi
report
