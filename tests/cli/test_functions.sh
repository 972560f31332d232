#!/bin/bash
# Model-local functions (ModelProto.functions) are inlined at load: models built by
# tests/data/functions/make_functions.py (python3-onnx) with nested functions, ref_attr_name
# attributes given by the call or defaulted by the function (attribute_proto), an omitted call
# output and a name clash with an inlined name. Checks: the output is bit-identical to the same
# model inlined by hand, and matches ONNX Runtime (npm onnxruntime-node, when installed) within
# 1e-6; recursion, exponential expansion and a body reading outside its scope are refused with
# one line naming the function.
set -u
Q=${1:?usage: test_functions.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
ORT_VERSION=1.30.0

$PY "$HERE/data/functions/make_functions.py" "$W" || { bad "make_functions.py"; report; exit 1; }

for m in fn fn_inlined; do
    "$Q" run --model "$W/$m.onnx" --input "$W/x.npy" -o "$W/out_$m" >"$W/$m.log" 2>&1 && ok ||
        bad "run $m: $(tail -n 1 "$W/$m.log")"
done
$PY - "$W" <<'PY' && ok || bad "inlined at load differs from inlined by hand"
import sys, numpy as np
w = sys.argv[1]
a, b = np.load(w + "/out_fn/blk1_mm.npy"), np.load(w + "/out_fn_inlined/blk1_mm.npy")
print("functions: output", a.ravel(), "hand-inlined", b.ravel())
sys.exit(0 if a.shape == (1, 3) and a.tobytes() == b.tobytes() else 1)
PY
# The hand-inlined model computes what numpy says, so the check above cannot pass vacuously.
$PY - "$W" <<'PY' && ok || bad "hand-inlined model vs numpy"
import sys, numpy as np, onnx
from onnx import numpy_helper
w = sys.argv[1]
m = onnx.load(w + "/fn_inlined.onnx")
p = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
h = np.load(w + "/x.npy")
for wk, bk, alpha in (("W1", "B1", 2.0), ("W2", "B2", 0.5)):
    h = np.tanh((h @ p[wk]) * np.float32(alpha) + p[bk])
got = np.load(w + "/out_fn_inlined/blk1_mm.npy")
sys.exit(0 if np.abs(got - h).max() <= 1e-5 else 1)
PY

# ONNX Runtime runs the model with its functions.
ORT_DIR=$HERE/qdq
have=$(cd "$ORT_DIR" && node -p "try { require('./node_modules/onnxruntime-node/package.json').version }
                                 catch (e) { '' }" 2>/dev/null || true)
if ! command -v node >/dev/null || [ "$have" != "$ORT_VERSION" ]; then
    echo "SKIP: ONNX Runtime check: onnxruntime-node $ORT_VERSION is not installed in tests/qdq"
else
    echo "$W/x.npy" >"$W/inputs.txt"
    if node "$ORT_DIR/ort_run.js" --model "$W/fn.onnx" --list "$W/inputs.txt" --out "$W/ort.raw" \
        >"$W/ort.log" 2>&1; then
        $PY - "$W" <<'PY' && ok || bad "qcal vs ONNX Runtime"
import sys, numpy as np
w = sys.argv[1]
ort = np.fromfile(w + "/ort.raw", dtype="<f4")
got = np.load(w + "/out_fn/blk1_mm.npy").ravel()
print("ORT", ort, "max |qcal - ort| = %.3g" % np.abs(got - ort).max())
sys.exit(0 if ort.shape == got.shape and np.abs(got - ort).max() <= 1e-6 else 1)
PY
    else
        bad "ort: $(tail -n 1 "$W/ort.log")"
    fi
fi

# Refused models: exit status and the one-line reason.
expect_error() { # model status pattern
    "$Q" run --model "$W/$1.onnx" --input "$W/x.npy" >"$W/e.log" 2>&1
    local rc=$?
    if [ "$rc" -eq "$2" ] && [ "$(wc -l <"$W/e.log")" -eq 1 ] && grep -q "$3" "$W/e.log"; then
        ok
    else
        bad "$1: exit $rc, expected $2 and '$3': $(cat "$W/e.log")"
    fi
}
expect_error fn_recursive 4 "local function 'R' calls itself"
expect_error fn_explode 5 "more than 1048576 nodes after inlining local functions"
expect_error fn_outer 4 "function 'G': node 'G_0/MatMul_0' reads 'W1', which is neither"
report
