#!/bin/bash
# float16 models run in float32 (DESIGN.md "Executor"): tests/data/fmnist/make_fp16.py converts
# the fmnist model as float16 converters do (float16 initializers, Cast to float16 after the
# input, Cast back to float32 at the output). Its logits on 100 eval images must match the
# float32 model's reference logits within float16 tolerance (|d| <= 4e-3 |ref| + 2e-2: float16's
# relative precision is 2^-11 ~ 4.9e-4; the bound allows about 8 of those) with the same top-1,
# yet differ from them (the rounding happened); calibrate records source_dtype and qcal inspect
# says the model was float16, in text and JSON; a float32 model's file has no such attribute.
set -u
Q=${1:?usage: test_fp16.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=$HERE/data/fmnist
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
PRE=(--channels gray --mean 0.2860 --std 0.3530)

$PY "$D/make_fp16.py" "$D/fmnist_cnn.onnx" "$W/fp16.onnx" || { bad "make_fp16.py"; report; exit 1; }
$PY - "$W/fp16.onnx" <<'PY' && ok || bad "the converted model is not float16"
import sys, onnx
m = onnx.load(sys.argv[1])
sys.exit(0 if all(t.data_type == onnx.TensorProto.FLOAT16 for t in m.graph.initializer) else 1)
PY

for i in $(seq 0 99); do
    f=$(printf 'eval_%05d' "$i")
    if ! "$Q" run --model "$W/fp16.onnx" --input "$D/eval/$f.png" "${PRE[@]}" -o "$W/out/$f" \
        >"$W/run.log" 2>&1; then
        bad "run $f: $(tail -n 1 "$W/run.log")"
        break
    fi
done
$PY - "$W/out" "$D" <<'PY' && ok || bad "float16 logits vs the float32 reference"
import sys, numpy as np
out, d = sys.argv[1], sys.argv[2]
ref = np.loadtxt(d + "/ref_logits.txt", dtype=np.float32)[:100]
got = np.stack([np.load("%s/eval_%05d/logits.npy" % (out, i)).reshape(-1) for i in range(100)])
diff = np.abs(got - ref)
tol = 4e-3 * np.abs(ref) + 2e-2
print("float16 model: max |qcal - float32 ref| = %.3g (worst ratio to tolerance %.2f), "
      "top-1 agreement %.2f" % (diff.max(), (diff / tol).max(),
                                (got.argmax(1) == ref.argmax(1)).mean()))
sys.exit(0 if (diff <= tol).all() and diff.max() > 1e-4 and
         (got.argmax(1) == ref.argmax(1)).all() else 1)
PY

ls "$D/calib" | head -n 20 | sed "s|^|$D/calib/|" >"$W/list.txt"
for m in fp16 fp32; do
    model=$W/fp16.onnx
    [ $m = fp32 ] && model=$D/fmnist_cnn.onnx
    "$Q" calibrate --model "$model" --data "$W/list.txt" "${PRE[@]}" -o "$W/$m.h5" --quiet \
        >"$W/cal.log" 2>&1 && ok || bad "calibrate $m: $(tail -n 1 "$W/cal.log")"
    "$Q" inspect "$W/$m.h5" >"$W/$m.txt" 2>&1 || bad "inspect $m"
    "$Q" inspect --json "$W/$m.h5" >"$W/$m.json" 2>&1 || bad "inspect --json $m"
done
grep -q "^  source    a float16 model, run in float32" "$W/fp16.txt" && ok ||
    bad "inspect does not note float16: $(head -n 4 "$W/fp16.txt")"
grep -q "float16" "$W/fp32.txt" && bad "inspect of the float32 model mentions float16" || ok
$PY - "$W" <<'PY' && ok || bad "source_dtype attribute / JSON"
import sys, json, h5py
w = sys.argv[1]
with h5py.File(w + "/fp16.h5", "r") as f16, h5py.File(w + "/fp32.h5", "r") as f32:
    a = f16.attrs.get("source_dtype")
    a = a.decode() if isinstance(a, bytes) else a
    good = a == "float16" and "source_dtype" not in f32.attrs
good = good and json.load(open(w + "/fp16.json"))["source_dtype"] == "float16"
good = good and json.load(open(w + "/fp32.json"))["source_dtype"] == "float32"
sys.exit(0 if good else 1)
PY
report
