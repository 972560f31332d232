#!/bin/bash
# Inputs define symbolic dimensions (DESIGN.md: symbolic dimensions take the value of the actual
# input): a model whose input is [N, C, H, W] with all four symbolic (built by
# tests/data/symbolic/make_symbolic.py with python3-onnx) runs and calibrates from .npy samples
# of shape 1x3x12x20 without --size/--channels; outputs and the stored ranges are checked against
# numpy. A dataset whose samples disagree on the shape fails naming the first that differs;
# images still need --size when the model leaves H/W open.
set -u
Q=${1:?usage: test_symbolic.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"

$PY "$HERE/data/symbolic/make_symbolic.py" "$W" || { bad "make_symbolic.py"; report; exit 1; }
M=$W/sym.onnx

# 1. run: every sample's output against numpy (float64 reference, float32 tolerance).
for i in 0 1 2 3 4 5; do
    "$Q" run --model "$M" --input "$W/data/s$i.npy" -o "$W/run$i" >"$W/run.log" 2>&1 ||
        bad "run s$i: $(tail -n 1 "$W/run.log")"
done
$PY - "$W" <<'PY' && ok || bad "run outputs vs numpy"
import sys, numpy as np
w = sys.argv[1]
ref = np.load(w + "/ref_y.npy")
got = np.stack([np.load("%s/run%d/y.npy" % (w, i)).reshape(-1) for i in range(6)])
d = np.abs(got - ref).max()
print("run: max |qcal - numpy| = %.3g" % d)
sys.exit(0 if got.shape == (6, 4) and d <= 1e-5 else 1)
PY

# 2. calibrate a folder of .npy, no --size: input shape 1x3x12x20, exact input min/max, Relu
#    range within float32 rounding of numpy's.
"$Q" calibrate --model "$M" --data "$W/data" -o "$W/s.h5" --quiet >"$W/cal.log" 2>&1 && ok ||
    bad "calibrate: $(tail -n 1 "$W/cal.log")"
$PY - "$W" <<'PY' && ok || bad "calibrated statistics vs numpy"
import sys, glob, h5py, numpy as np
w = sys.argv[1]
xs = np.stack([np.load(f) for f in sorted(glob.glob(w + "/data/*.npy"))])
lo, hi = np.load(w + "/ref_relu.npy")
with h5py.File(w + "/s.h5", "r") as f:
    a = f["activations"]
    names = [n.decode() if isinstance(n, bytes) else n for n in a["name"][()]]
    shapes = [s.decode() if isinstance(s, bytes) else s for s in a["shape"][()]]
    i, r = names.index("x"), names.index("relu")
    good = shapes[i] == "1x3x12x20" and shapes[r] == "1x4x12x20"
    good = good and a["min"][i] == xs.min() and a["max"][i] == xs.max()
    good = good and abs(a["min"][r] - lo) <= 1e-5 and abs(a["max"][r] - hi) <= 1e-5 * hi
    good = good and int(f.attrs["samples"]) == 6
    print("calibrate: x %s [%g, %g], relu %s [%g, %g] (numpy [%g, %g])" % (
        shapes[i], a["min"][i], a["max"][i], shapes[r], a["min"][r], a["max"][r], lo, hi))
sys.exit(0 if good else 1)
PY

# 3. Samples that disagree: the first that differs (s3b.npy, after s0..s3) is named; exit 6.
"$Q" calibrate --model "$M" --data "$W/bad" -o "$W/b.h5" --quiet >"$W/bad.log" 2>&1
rc=$?
if [ "$rc" -eq 6 ] && grep -q "s3b.npy: array shape 1x3x12x21 does not match the input shape \
1x3x12x20" "$W/bad.log" && [ ! -e "$W/b.h5" ]; then ok; else
    bad "mismatching sample: exit $rc: $(cat "$W/bad.log")"
fi

# 4. A first sample that does not fit the model's rank is refused before any run.
mkdir -p "$W/rank5"
$PY -c "import sys, numpy as np; np.save(sys.argv[1], np.zeros((2, 3, 12, 20, 5), np.float32))" \
    "$W/rank5/r5.npy"
"$Q" calibrate --model "$M" --data "$W/rank5" -o "$W/r.h5" --quiet >"$W/r.log" 2>&1
rc=$?
[ "$rc" -eq 6 ] && grep -q "r5.npy: array shape \[2x3x12x20x5\] does not fit model input 'x'" \
    "$W/r.log" && ok || bad "rank-5 sample: exit $rc: $(cat "$W/r.log")"

# 5. Images: C/H/W are open, so --size (and --channels) are still required.
mkdir -p "$W/img" && cp "$HERE/data/img/rgb8.png" "$W/img/"
"$Q" calibrate --model "$M" --data "$W/img" -o "$W/i.h5" --quiet >"$W/i.log" 2>&1
rc=$?
[ "$rc" -eq 6 ] && grep -q "need --channels/--size" "$W/i.log" && ok ||
    bad "image without --size: exit $rc: $(cat "$W/i.log")"
"$Q" calibrate --model "$M" --data "$W/img" --size 20x12 --channels rgb -o "$W/i.h5" --quiet >"$W/i.log" 2>&1 &&
    ok || bad "image with --size: $(tail -n 1 "$W/i.log")"
report
