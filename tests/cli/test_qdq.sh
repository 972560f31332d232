#!/bin/bash
# QDQ export on the Fashion-MNIST model: calibrate, write QDQ models of two encoding sets (the
# calibrate default, minmax per-tensor asymmetric activations; and a per-channel set with
# unsigned-symmetric activations and strict weights), then
#  (a) check their structure against the stored encodings (tests/qdq/check_qdq.py: h5py + onnx,
#      onnx.checker), and show that check fails on perturbed models;
#  (b) run them with qcal's executor on the 300 eval images: top-1 accuracy within 1% of the
#      float model's, and outputs that differ from it;
#  (c) run them with ONNX Runtime (npm onnxruntime-node 1.30.0, tests/qdq/ort_run.js) on the same
#      preprocessed inputs: with graph optimizations disabled within one step of the output
#      encoding of qcal's outputs, with 'all' (ORT's integer kernels) top-1 agreement >= 99%.
# The QDQ models are written by build/tests/test_qdq (driver mode of the unit test), which calls
# qcal_export_qdq; when 'qcal encode --format qdq' is available its output must be identical.
set -u
Q=${1:?usage: test_qdq.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=$HERE/data/fmnist
M=$D/fmnist_cnn.onnx
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
DRV=$(cd "$(dirname "$Q")" && pwd)/tests/test_qdq
ORT_VERSION=1.30.0
N=300
PRE=(--channels gray --mean 0.2860 --std 0.3530)

if [ ! -x "$DRV" ]; then
    bad "driver $DRV missing (build the test_qdq target)"
    report
    exit 1
fi

# 1. Statistics and the two QDQ models.
if "$Q" calibrate --model "$M" --data "$D/calib" "${PRE[@]}" -o "$W/s.h5" --quiet \
    >"$W/cal.log" 2>&1; then ok; else bad "calibrate: $(tail -n 1 "$W/cal.log")"; report; exit 1; fi
"$DRV" --add-set "$W/s.h5" "$W/sb.h5" pc-usym per-channel act=unsigned param=strict \
    >"$W/add.log" 2>&1 && ok || bad "add set: $(tail -n 1 "$W/add.log")"
"$DRV" "$W/s.h5" "$M" "$W/a.onnx" >"$W/a.log" 2>&1 && ok || bad "export a: $(tail -n 1 "$W/a.log")"
"$DRV" "$W/sb.h5" "$M" "$W/b.onnx" pc-usym >"$W/b.log" 2>&1 && ok ||
    bad "export b: $(tail -n 1 "$W/b.log")"
LABEL_A=$(sed -n "s/^.*: set '\(.*\)' (.*$/\1/p" "$W/a.log")
LABEL_B=pc-usym
if [ ! -f "$W/a.onnx" ] || [ ! -f "$W/b.onnx" ]; then report; exit 1; fi
[ -z "$(ls "$W" | grep '\.tmp\.')" ] && ok || bad "temporary files left: $(ls "$W")"

# 'qcal encode --format qdq' (when built) writes the same bytes as the driver for set B.
if "$Q" encode --help 2>&1 | grep -q 'qdq'; then
    cp "$W/sb.h5" "$W/se.h5"
    if "$Q" encode "$W/se.h5" --method minmax --per-channel --act-symmetric unsigned \
        --param-symmetric strict --label "$LABEL_B" --format qdq --model "$M" -o "$W/e.onnx" \
        >"$W/e.log" 2>&1; then
        cmp -s "$W/e.onnx" "$W/b.onnx" && ok || bad "qcal encode --format qdq differs from the driver"
    elif grep -q 'not available\|not implemented' "$W/e.log"; then
        echo "SKIP: qcal encode --format qdq: $(tail -n 1 "$W/e.log")"
    else
        bad "qcal encode --format qdq: $(tail -n 1 "$W/e.log")"
    fi
else
    echo "SKIP: qcal encode has no --format qdq in this build"
fi

# 2a. Structure against the stored encodings.
$PY "$HERE/qdq/check_qdq.py" "$W/a.onnx" "$M" "$W/s.h5" "$LABEL_A" && ok || bad "check a.onnx"
$PY "$HERE/qdq/check_qdq.py" "$W/b.onnx" "$M" "$W/sb.h5" "$LABEL_B" && ok || bad "check b.onnx"
# The checker must notice a wrong zero point, a missing pair, a float weight left in place and
# a bias code off by one.
$PY - "$W/b.onnx" "$W/p" <<'PY'
import sys, onnx
from onnx import numpy_helper as nh
src, out = sys.argv[1], sys.argv[2]
def save(m, k):
    onnx.save(m, "%s%d.onnx" % (out, k))
m = onnx.load(src)
t = [t for t in m.graph.initializer if t.name == "/relu2/Relu_output_0_zero_point"][0]
t.CopyFrom(nh.from_array(nh.to_array(t) + 1, t.name)); save(m, 1)
m = onnx.load(src)
q = [n for n in m.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == "/pool1/MaxPool_output_0"][0]
dq = [n for n in m.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == q.output[0]][0]
for n in m.graph.node:
    for i, x in enumerate(n.input):
        if x == dq.output[0]:
            n.input[i] = q.input[0]
m.graph.node.remove(q); m.graph.node.remove(dq); save(m, 2)
m = onnx.load(src)
t = [t for t in m.graph.initializer if t.name == "onnx::Conv_36_scale"][0]
t.CopyFrom(nh.from_array(nh.to_array(t) * 1.5, t.name)); save(m, 3)
m = onnx.load(src)
t = [t for t in m.graph.initializer if t.name == "conv3.bias_quantized"][0]
a = nh.to_array(t).copy(); a[5] += 1; t.CopyFrom(nh.from_array(a, t.name)); save(m, 4)
PY
for k in 1 2 3 4; do
    if $PY "$HERE/qdq/check_qdq.py" "$W/p$k.onnx" "$M" "$W/sb.h5" "$LABEL_B" >"$W/p.log" 2>&1; then
        bad "check_qdq.py accepted perturbed model $k"
    else ok; fi
done

# 2b. qcal's executor on the eval images: float (with the preprocessed input dumped), a, b.
mkdir -p "$W/f" "$W/a" "$W/b"
for i in $(seq 0 $((N - 1))); do
    f=$(printf 'eval_%05d' "$i")
    img=$D/eval/$f.png
    if ! "$Q" run --model "$M" --input "$img" "${PRE[@]}" -o "$W/f/$f" --all-tensors \
            >"$W/run.log" 2>&1 ||
        ! "$Q" run --model "$W/a.onnx" --input "$img" "${PRE[@]}" -o "$W/a/$f" >"$W/run.log" 2>&1 ||
        ! "$Q" run --model "$W/b.onnx" --input "$img" "${PRE[@]}" -o "$W/b/$f" >"$W/run.log" 2>&1
    then
        bad "qcal run $f: $(tail -n 1 "$W/run.log")"
        report
        exit 1
    fi
    echo "$W/f/$f/input.npy" >>"$W/inputs.txt"
done
$PY - "$W" "$D" "$N" <<'PY' && ok || bad "qcal QDQ accuracy"
import sys, numpy as np
w, d, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ref = np.loadtxt(d + "/ref_logits.txt", dtype=np.float32)[:n]
lab = np.loadtxt(d + "/eval/labels.txt", dtype=int)[:n]
def logits(k):
    return np.stack([np.load("%s/%s/eval_%05d/logits.npy" % (w, k, i)).reshape(-1) for i in range(n)])
fl = logits("f")
acc_f = (ref.argmax(1) == lab).mean()
good = abs((fl.argmax(1) == lab).mean() - acc_f) == 0
for k in ("a", "b"):
    q = logits(k)
    acc = (q.argmax(1) == lab).mean()
    diff = np.abs(q - ref).max()
    print("qcal %s.onnx: top-1 %.4f (float %.4f, drop %+.4f), max |qdq - float| = %.3g, "
          "top-1 agreement with float %.4f" % (k, acc, acc_f, acc_f - acc, diff,
                                                (q.argmax(1) == ref.argmax(1)).mean()))
    good = good and acc_f - acc <= 0.01 + 1e-9 and diff > 1e-3
np.save(w + "/qa.npy", logits("a")); np.save(w + "/qb.npy", logits("b"))
sys.exit(0 if good else 1)
PY

# 2c. ONNX Runtime on the same inputs.
ORT_DIR=$HERE/qdq
have=$(cd "$ORT_DIR" && node -p "try { require('./node_modules/onnxruntime-node/package.json').version }
                                 catch (e) { '' }" 2>/dev/null || true)
skip=
if ! command -v node >/dev/null; then
    skip="node is not installed"
elif [ "$have" != "$ORT_VERSION" ]; then
    if ! (cd "$ORT_DIR" && npm install --ignore-scripts --no-save --no-package-lock --no-audit \
            --no-fund "onnxruntime-node@$ORT_VERSION") >"$W/npm.log" 2>&1; then
        skip="npm install onnxruntime-node@$ORT_VERSION failed: $(grep -m1 -i 'err' "$W/npm.log")"
    fi
fi
if [ -n "$skip" ]; then
    echo "SKIP: ONNX Runtime checks: $skip"
else
    for k in a b; do
        for lvl in disabled all; do
            node "$ORT_DIR/ort_run.js" --model "$W/$k.onnx" --list "$W/inputs.txt" \
                --out "$W/ort_${k}_$lvl.raw" --level "$lvl" >"$W/ort.log" 2>&1 && ok ||
                bad "ort $k $lvl: $(tail -n 1 "$W/ort.log")"
        done
    done
    $PY - "$W" "$N" "$LABEL_A" "$LABEL_B" <<'PY' && ok || bad "qcal vs ONNX Runtime"
import sys, h5py, numpy as np
w, n, la, lb = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
good = True
for k, stats, label in (("a", "s.h5", la), ("b", "sb.h5", lb)):
    with h5py.File("%s/%s" % (w, stats), "r") as f:
        g = f["encodings"][label]
        names = [x.decode() for x in g["act_name"][:]]
        scale = float(g["act_scale"][names.index("logits")])
    q = np.load("%s/q%s.npy" % (w, k))
    dis = np.fromfile("%s/ort_%s_disabled.raw" % (w, k), dtype="<f4").reshape(n, -1)
    opt = np.fromfile("%s/ort_%s_all.raw" % (w, k), dtype="<f4").reshape(n, -1)
    steps = np.abs(dis - q).max() / scale
    n_off = int((np.abs(dis - q) > 1e-6 * scale).sum())
    agree = (opt.argmax(1) == q.argmax(1)).mean()
    steps_all = np.abs(opt - q).max() / scale
    print("ort %s.onnx: disabled: max |ort - qcal| = %.3f steps of %.6g (%d of %d values "
          "differ); all: top-1 agreement %.4f, max diff %.1f steps"
          % (k, steps, scale, n_off, dis.size, agree, steps_all))
    good = good and steps <= 1.0 + 1e-6 and agree >= 0.99
sys.exit(0 if good else 1)
PY
fi

report
