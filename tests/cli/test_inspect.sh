#!/bin/bash
# qcal inspect: the table lists every tensor of a real calibration (fmnist, 50 images) with its
# encodings and the few-samples warning; synthetic models and .npy data trigger each warning
# (Concat of x*640 with sigmoid(y), a 1e4 outlier among N(0,1) values, a NaN, a constant input)
# and nothing else; --json parses, holds every tensor's clipped fractions, and their exact bounds
# contain the clipped count numpy computes from the raw data; --tensor filters; error paths.
set -u
Q=${1:?usage: test_inspect.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=$HERE/data/fmnist
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
PRE=(--channels gray --mean 0.2860 --std 0.3530)

# 1. fmnist on 50 images, plus a second (percentile) encoding set copied in with h5py.
fmnist_two_sets "$W/fm.h5"
if "$Q" inspect "$W/fm.h5" >"$W/fm.txt" 2>"$W/fm.err"; then ok; else bad "inspect fmnist: $(cat "$W/fm.err")"; fi
$PY - "$W/fm.h5" "$W/fm.txt" <<'PY' && ok || bad "fmnist table"
import sys, h5py
f = h5py.File(sys.argv[1], 'r'); txt = open(sys.argv[2]).read(); lines = txt.splitlines()
names = [n.decode() for n in f['activations/name'][:]]
wnames = [n.decode() for n in f['weights/name'][:]]
errs = []
for n in names + wnames:
    if not any(l.split()[:1] == [n] for l in lines):
        errs.append('no row for ' + n)
# Every activation row is followed by one line per encoding set ([1] and [2]).
for i, l in enumerate(lines):
    if l.split()[:1] and l.split()[0] in names:
        nxt = lines[i + 1:i + 3]
        if not (nxt[0].lstrip().startswith('[1]') and nxt[1].lstrip().startswith('[2]')
                and all('clipped' in x for x in nxt)):
            errs.append('encoding lines of %s: %r' % (l.split()[0], nxt))
for want in ('samples   50', 'bins 4096', 'ranks 1', 'fmnist_cnn.onnx', 'minmax-a8-w8',
             'percentile-a8-w8', 'fewer than 100'):
    if want not in txt:
        errs.append('missing ' + repr(want))
# fmnist has no NaN, no constant tensor and no Concat.
for unwanted in ('NaN, ', 'constant', 'Concat', 'long tail'):
    if 'warning: ' in txt and unwanted in txt.split('warnings (')[1]:
        errs.append('unexpected warning ' + unwanted)
errs and print('\n'.join(errs)); sys.exit(1 if errs else 0)
PY

# 2. Synthetic model: boxes = x * 640, scores = sigmoid(y), Concat -> boxes_scores; relu_out.
$PY - "$W/syn.onnx" <<'PY' || bad "making the synthetic model"
import sys, numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
N = 1000
io = lambda n, s: helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
nodes = [
    helper.make_node("Mul", ["x", "k640"], ["boxes"], name="scale_boxes"),
    helper.make_node("Sigmoid", ["y"], ["scores"], name="sig"),
    helper.make_node("Concat", ["boxes", "scores"], ["boxes_scores"], name="cat_out", axis=1),
    helper.make_node("Relu", ["x"], ["relu_out"], name="relu"),
]
g = helper.make_graph(nodes, "syn", [io("x", [1, N]), io("y", [1, N])],
                      [io("boxes_scores", [1, 2 * N]), io("relu_out", [1, N])],
                      initializer=[numpy_helper.from_array(np.array([640.0], np.float32), "k640")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 8
onnx.checker.check_model(m)
onnx.save(m, sys.argv[1])
PY
# Datasets: u (x uniform [0,1)), o (x ~ N(0,1) with one 1e4), n (a NaN in y), c (y all zero).
$PY - "$W" <<'PY' || bad "making the .npy datasets"
import sys, os, numpy as np
w = sys.argv[1]; rng = np.random.default_rng(7)
for ds in "uonc":
    for inp in "xy":
        os.makedirs("%s/%s/%s" % (w, ds, inp))
for i in range(20):
    save = lambda ds, inp, a: np.save("%s/%s/%s/%03d.npy" % (w, ds, inp, i), a.astype(np.float32).reshape(1, -1))
    save("u", "x", rng.random(1000)); save("u", "y", rng.standard_normal(1000))
    x = rng.standard_normal(1000)
    if i == 7:
        x[123] = 1e4
    save("o", "x", x); save("o", "y", rng.standard_normal(1000))
    y = rng.standard_normal(1000)
    if i == 3:
        y[5] = np.nan
    save("n", "x", rng.random(1000)); save("n", "y", y)
    save("c", "x", rng.random(1000)); save("c", "y", np.zeros(1000))
PY
for ds in u o n c; do
    "$Q" calibrate --model "$W/syn.onnx" --data "x=$W/$ds/x" --data "y=$W/$ds/y" -o "$W/$ds.h5" \
        --quiet >"$W/cal.log" 2>&1 || bad "calibrate $ds: $(tail -n 1 "$W/cal.log")"
    "$Q" inspect "$W/$ds.h5" >"$W/$ds.txt" 2>&1 || bad "inspect $ds: $(tail -n 1 "$W/$ds.txt")"
done
# Warning lines by kind, as "kind subject" pairs from --json, compared with what each set must give.
check_warnings() { # check_warnings DS "kind subject" ...
    local ds=$1; shift
    "$Q" inspect "$W/$ds.h5" --json >"$W/$ds.json" 2>&1 || { bad "inspect --json $ds"; return; }
    if $PY - "$W/$ds.json" "$W/$ds.txt" "$@" <<'PY'; then ok; else bad "warnings of dataset $ds"; fi
import sys, json
doc = json.load(open(sys.argv[1])); txt = open(sys.argv[2]).read()
got = sorted("%s %s" % (w["kind"], w["subject"]) for w in doc["warnings"])
want = sorted(sys.argv[3:])
text_ok = all(("warning: " + w["message"]) in txt for w in doc["warnings"])
if got != want or not text_ok:
    print("got", got, "\nwant", want, "\ntext lists every JSON warning:", text_ok)
    sys.exit(1)
PY
}
check_warnings u "few_samples " "concat_ranges cat_out"
grep -q "Concat node 'cat_out' (output 'boxes_scores'): input ranges differ by .*'boxes' .*'scores'.*separate graph outputs" "$W/u.txt" \
    && ok || bad "Concat warning text: $(grep Concat "$W/u.txt")"
check_warnings o "few_samples " "concat_ranges cat_out" "long_tail x" "long_tail boxes" \
    "long_tail relu_out" "long_tail boxes_scores"
grep -q "tensor 'x': long tail: the min/max range \[.*, 10000\] is .*x the 99.99 % percentile range" "$W/o.txt" \
    && ok || bad "long-tail warning text: $(grep "'x'" "$W/o.txt")"
check_warnings n "few_samples " "concat_ranges cat_out" "nonfinite y" "nonfinite scores" \
    "nonfinite boxes_scores"
grep -q "tensor 'y': 1 NaN, 0 +Inf, 0 -Inf" "$W/n.txt" && ok || bad "NaN warning text"
grep -q "^y .* 19999 *1/0/0$" "$W/n.txt" && ok || bad "NaN count column: $(grep '^y ' "$W/n.txt")"
check_warnings c "few_samples " "constant y" "constant scores"

# 3. --json: the clipped fractions of a percentile set (p = 99, 256 bins, so the thresholds fall
# inside well-filled bins) bound the exact clipped counts of x, y, boxes and relu_out, which numpy
# computes from the .npy files; a minmax set (copied in) clips nothing, here and for fmnist.
"$Q" calibrate --model "$W/syn.onnx" --data "x=$W/u/x" --data "y=$W/u/y" -o "$W/up.h5" --bins 256 \
    --method percentile --percentile 99 --quiet >"$W/cal.log" 2>&1 || bad "calibrate u percentile"
$PY -c "
import h5py
a = h5py.File('$W/up.h5', 'r+'); b = h5py.File('$W/u.h5', 'r')
b.copy(b['encodings/minmax-a8-w8'], a['encodings'])" || bad "h5py copy"
"$Q" inspect "$W/up.h5" --json >"$W/up.json" 2>"$W/up.err" || bad "inspect --json: $(cat "$W/up.err")"
"$Q" inspect "$W/fm.h5" --json >"$W/fm.json" 2>"$W/fm.err" || bad "inspect fmnist --json: $(cat "$W/fm.err")"
$PY - "$W/up.json" "$W/u" "$W/up.h5" "$W/fm.json" <<'PY' && ok || bad "clipped fractions"
import sys, json, glob, h5py, numpy as np
doc = json.load(open(sys.argv[1]))
load = lambda i: np.concatenate([np.load(f).reshape(-1) for f in sorted(glob.glob(sys.argv[2] + "/%s/*.npy" % i))])
xs, ys = load("x"), load("y")
exact = {"x": xs, "y": ys, "boxes": xs * np.float32(640), "relu_out": np.maximum(xs, np.float32(0))}
f = h5py.File(sys.argv[3], "r")
names = [n.decode() for n in f["activations/name"][:]]
acts = {a["name"]: a for a in doc["activations"]}
errs = []
if sorted(acts) != sorted(names):
    errs.append("tensors: %s" % sorted(acts))
for a in acts.values():
    if sorted(a["encodings"]) != ["minmax-a8-w8", "percentile-a8-w8"]:
        errs.append("%s: sets %s" % (a["name"], sorted(a["encodings"])))
    for label, e in a["encodings"].items():
        c = e["clipped"]
        if not (0 <= c["fraction_lower"] <= c["fraction"] <= c["fraction_upper"] <= 1):
            errs.append("%s %s: bounds out of order %s" % (a["name"], label, c))
        if label.startswith("minmax") and c["fraction_upper"] != 0:
            errs.append("%s: minmax clips %s" % (a["name"], c))
inexact = 0
for name, v in exact.items():
    e = acts[name]["encodings"]["percentile-a8-w8"]
    v = v.astype(np.float64); s = np.float64(e["scale"])
    # Saturation: x < min - s/2 or x > max + s/2 (qcal inspect --help).
    n = int(np.sum(v < e["min"] - s / 2)) + int(np.sum(v > e["max"] + s / 2))
    T = acts[name]["count"]; c = e["clipped"]
    lo, hi, est = c["fraction_lower"] * T, c["fraction_upper"] * T, c["fraction"] * T
    hist = f["activations/hist"][names.index(name)]
    print("%-9s exact %4d clipped of %d; inspect: %.1f in [%.0f, %.0f]" % (name, n, T, est, lo, hi))
    if T != v.size or not (lo - 1e-6 <= n <= hi + 1e-6):
        errs.append("%s: exact count outside the bounds" % name)
    # Per side: exact bounds, and an estimate (straddling bins spread uniformly) near the exact
    # count for smooth data.
    for side, ns in (("below", int(np.sum(v < e["min"] - s / 2))), ("above", int(np.sum(v > e["max"] + s / 2)))):
        sl, su, se = c[side + "_lower"] * T, c[side + "_upper"] * T, c[side] * T
        if not (sl - 1e-6 <= ns <= su + 1e-6) or abs(se - ns) > max(2.0, 0.3 * (su - sl)):
            errs.append("%s %s: exact %d, inspect %.1f in [%.0f, %.0f]" % (name, side, ns, se, sl, su))
    # Only the two bins holding the thresholds are uncertain.
    if hi - lo > 2 * hist.max() + 1e-6 or n == 0:
        errs.append("%s: bounds too loose, or nothing clipped (a void check)" % name)
    inexact += hi - lo > 0.5
if inexact == 0:
    errs.append("every bound is exact: the straddling-bin logic is not exercised")
for a in json.load(open(sys.argv[4]))["activations"]:
    if a["encodings"]["minmax-a8-w8"]["clipped"]["fraction_upper"] != 0:
        errs.append("fmnist %s: minmax clips" % a["name"])
    if not 0 <= a["encodings"]["percentile-a8-w8"]["clipped"]["fraction"] < 0.001:
        errs.append("fmnist %s: percentile 99.99 clips %g" % (a["name"], a["encodings"]["percentile-a8-w8"]["clipped"]["fraction"]))
errs and print("\n".join(errs)); sys.exit(1 if errs else 0)
PY

# 4. --tensor filters the table, the JSON and the warnings.
"$Q" inspect "$W/o.h5" --tensor '^box' >"$W/f.txt" 2>&1 || bad "inspect --tensor"
grep -q "^boxes " "$W/f.txt" && grep -q "^boxes_scores " "$W/f.txt" && ! grep -q "^relu_out " "$W/f.txt" &&
    ! grep -q "^x " "$W/f.txt" && grep -q "activations (2 of 6)" "$W/f.txt" &&
    ! grep -q "tensor 'x'" "$W/f.txt" && grep -q "Concat node 'cat_out'" "$W/f.txt" &&
    ok || bad "--tensor text: $(cat "$W/f.txt")"
"$Q" inspect "$W/o.h5" --tensor 'relu' --json >"$W/f.json" 2>&1 || bad "inspect --tensor --json"
$PY -c "
import json, sys
d = json.load(open('$W/f.json'))
sys.exit(0 if [a['name'] for a in d['activations']] == ['relu_out'] and d['weights'] == [] and
         sorted(w['kind'] + ' ' + w['subject'] for w in d['warnings']) == ['few_samples ', 'long_tail relu_out'] else 1)" \
    && ok || bad "--tensor --json: $(head -c 300 "$W/f.json")"

# 5. Error paths: exit status and one line naming the culprit.
expect_err() { # expect_err CODE PATTERN -- args...
    local code=$1 pat=$2; shift 3
    "$Q" "$@" >"$W/e.out" 2>"$W/e.err"
    local rc=$?
    if [ "$rc" -ne "$code" ]; then bad "qcal $* exited $rc, expected $code: $(cat "$W/e.err")"; return; fi
    if ! grep -q "^qcal: error: .*$pat" "$W/e.err" || [ "$(wc -l <"$W/e.err")" -ne 1 ] || [ -s "$W/e.out" ]; then
        bad "qcal $*: message '$(cat "$W/e.err")' lacks '$pat', is not one line, or stdout is not empty"; return; fi
    ok
}
printf 'not hdf5' >"$W/bad.h5"
expect_err 3 "nope.h5" -- inspect "$W/nope.h5"
expect_err 4 "bad.h5" -- inspect "$W/bad.h5"
expect_err 1 "no tensor matches --tensor 'zzz'" -- inspect "$W/u.h5" --tensor zzz
expect_err 1 "--tensor '(':" -- inspect "$W/u.h5" --tensor '('
expect_err 1 "expected one stats file" -- inspect
expect_err 1 "expected one stats file" -- inspect "$W/u.h5" "$W/o.h5"
expect_err 1 "unknown option" -- inspect "$W/u.h5" --bogus
"$Q" inspect --help | grep -q -- "--tensor REGEX" && ok || bad "inspect --help"

report
