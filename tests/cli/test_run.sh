#!/bin/bash
# qcal run on the Fashion-MNIST model: logits of 300 eval images against the reference logits
# (made by an independent PyTorch evaluator, tests/data/fmnist/README.md) within 1e-4, top-1
# accuracy equal to the reference's, and every error path (exit code, one-line message naming the
# file, no output left behind).
set -u
Q=${1:?usage: test_run.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=$HERE/data/fmnist
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
PRE=(--channels gray --mean 0.2860 --std 0.3530)

# 1. Logits of 300 images, written with -o, against ref_logits.txt.
for i in $(seq 0 299); do
    f=$(printf 'eval_%05d' "$i")
    if ! "$Q" run --model "$D/fmnist_cnn.onnx" --input "$D/eval/$f.png" "${PRE[@]}" \
        -o "$W/out/$f" >"$W/run.log" 2>&1; then
        bad "run $f: $(tail -n 1 "$W/run.log")"
        break
    fi
done
if $PY - "$W/out" "$D" <<'PY'
import sys, numpy as np
out, d = sys.argv[1], sys.argv[2]
ref = np.loadtxt(d + "/ref_logits.txt", dtype=np.float32)
labels = np.loadtxt(d + "/eval/labels.txt", dtype=int)
got = np.stack([np.load("%s/eval_%05d/logits.npy" % (out, i)).reshape(-1) for i in range(len(ref))])
diff = np.abs(got - ref).max()
acc, racc = (got.argmax(1) == labels).mean(), (ref.argmax(1) == labels).mean()
print("logits: max |qcal - ref| = %.3g over %d images; top-1 %.4f (ref %.4f)" % (diff, len(ref), acc, racc))
sys.exit(0 if diff <= 1e-4 and (got.argmax(1) == ref.argmax(1)).all() else 1)
PY
then ok; else bad "logits differ from the reference"; fi

# 2. The printed line names the output and its argmax.
"$Q" run --model "$D/fmnist_cnn.onnx" --input "$D/eval/eval_00000.png" "${PRE[@]}" >"$W/p.txt" 2>&1
grep -q "^logits  float32 \[1x10\]:.*argmax 9" "$W/p.txt" && ok || bad "printed output: $(cat "$W/p.txt")"

# 3. --all-tensors writes every computed tensor (input + 11 node outputs).
"$Q" run --model "$D/fmnist_cnn.onnx" --input "$D/eval/eval_00000.png" "${PRE[@]}" \
    -o "$W/all" --all-tensors >/dev/null 2>&1
n=$(ls "$W/all" | wc -l)
[ "$n" -eq 12 ] && [ -f "$W/all/_conv1_Conv_output_0.npy" ] && ok || bad "--all-tensors wrote $n files"

# 4. Symbolic batch: the dynbatch model with a .npy input of batch 1 gives the same logits.
$PY -c "
import numpy as np, sys
np.save('$W/x.npy', np.load('$W/all/input.npy'))"
"$Q" run --model "$D/fmnist_cnn_dynbatch.onnx" --input "$W/x.npy" -o "$W/dyn" >/dev/null 2>&1 &&
    cmp -s "$W/dyn/logits.npy" "$W/out/eval_00000/logits.npy" && ok || bad "dynbatch .npy run differs"

# 5. Error paths: exit status, one line naming the culprit, no output file.
expect_err() { # expect_err CODE PATTERN -- args...
    local code=$1 pat=$2; shift 3
    "$Q" "$@" >"$W/e.out" 2>"$W/e.err"
    local rc=$?
    if [ "$rc" -ne "$code" ]; then bad "qcal $* exited $rc, expected $code: $(cat "$W/e.err")"; return; fi
    if ! grep -q "^qcal: error: .*$pat" "$W/e.err" || [ "$(wc -l <"$W/e.err")" -ne 1 ]; then
        bad "qcal $*: message '$(cat "$W/e.err")' lacks '$pat' or is not one line"; return; fi
    ok
}
printf 'this is not protobuf' >"$W/bad.onnx"
head -c 300 "$D/eval/eval_00001.png" >"$W/trunc.png"
mkdir -p "$W/ro"
expect_err 3 "nope.onnx" -- run --model "$W/nope.onnx" --input "$D/eval/eval_00000.png"
expect_err 4 "bad.onnx" -- run --model "$W/bad.onnx" --input "$D/eval/eval_00000.png"
expect_err 3 "missing.png" -- run --model "$D/fmnist_cnn.onnx" --input "$W/missing.png" -o "$W/ro/a"
expect_err 4 "trunc.png" -- run --model "$D/fmnist_cnn.onnx" --input "$W/trunc.png" -o "$W/ro/b"
expect_err 1 "1 inputs, 2" -- run --model "$D/fmnist_cnn.onnx" --input "$D/eval/eval_00000.png" --input "$D/eval/eval_00001.png"
$PY -c "import numpy as np; np.save('$W/wrong.npy', np.zeros((1,1,27,28), np.float32))"
expect_err 6 "wrong.npy" -- run --model "$D/fmnist_cnn.onnx" --input "$W/wrong.npy" -o "$W/ro/c"
$PY - "$W/uns.onnx" <<'PY'
import sys, onnx
from onnx import helper, TensorProto
n1 = helper.make_node("RandomNormalLike", ["x"], ["y"])
n2 = helper.make_node("FancyOp", ["y"], ["z"], domain="com.example")
g = helper.make_graph([n1, n2], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                      [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.example", 1)])
onnx.save(m, sys.argv[1])
PY
expect_err 5 "RandomNormalLike (opset 13), FancyOp (domain com.example, opset 1)" -- run --model "$W/uns.onnx" --input "$W/x.npy"
[ -z "$(ls -A "$W/ro")" ] && ok || bad "files left behind after errors: $(ls -A "$W/ro")"
"$Q" run --help | grep -q -- "--all-tensors" && ok || bad "run --help"

report
