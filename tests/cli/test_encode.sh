#!/bin/bash
# qcal encode (DESIGN.md "Command line"): encodings from a stats file alone.
# - 'encode --method minmax' reproduces calibrate's --encodings file byte for byte;
# - every method at 4, 8 and 16 bits writes JSON that parses, with the requested bitwidths, and
#   stores /encodings/<label> in the stats file (checked with h5py) without touching the
#   statistics; a second encode with the same label replaces the set;
# - --per-channel gives one entry per output channel (counts from /weights), per tensor gives
#   one; --override, aimet1/qnn/trt/qdq formats;
# - errors (missing file, non-HDF5 file, HDF5 file of another kind, bad method/format/option,
#   -o naming the stats file, bad label): one 'qcal: error:' line, the documented exit status,
#   stats file unchanged (sha256 before/after), no output or temporary file;
# - the same under mpirun -n 2 (one summary, same bytes; an error printed once).
# Prints calibrate and encode wall times for comparison.
set -u
Q=${1:?usage: test_encode.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=$HERE/data/fmnist
M=$D/fmnist_cnn.onnx
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
PRE=(--channels gray --mean 0.2860 --std 0.3530)
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }

# ~100 calibration images: the first 100 fmnist calib images, as a directory of symlinks.
mkdir -p "$W/img"
for i in $(seq 0 99); do
    f=$(printf 'calib_%05d.png' "$i")
    ln -s "$D/calib/$f" "$W/img/$f"
done
S=$W/s.h5

t0=$(now)
if "$Q" calibrate --model "$M" --data "$W/img" "${PRE[@]}" -o "$S" --encodings "$W/cal.json" \
    >"$W/cal.log" 2>&1; then
    ok
else
    bad "calibrate failed: $(tail -n 5 "$W/cal.log")"
    report
    exit 1
fi
T_CAL=$(since "$t0")

# A copy of the file as calibrate wrote it, to show encode never changes anything but
# /encodings (h5same: every other dataset, attribute and link exactly).
cp "$S" "$W/s0.h5"

# 1. minmax from the file == what calibrate exported.
t0=$(now)
if "$Q" encode "$S" --method minmax -o "$W/enc.json" 2>"$W/enc.log"; then
    T_ENC=$(since "$t0")
    if cmp -s "$W/enc.json" "$W/cal.json"; then ok; else bad "encode minmax differs from calibrate --encodings"; fi
    if [ "$(wc -l <"$W/enc.log")" -eq 1 ] && grep -q '^qcal: encode: minmax-a8-w8: ' "$W/enc.log"; then
        ok
    else
        bad "encode summary is not one line: $(cat "$W/enc.log")"
    fi
else
    T_ENC=nan
    bad "encode minmax failed: $(cat "$W/enc.log")"
fi
echo "timing: calibrate (100 images) ${T_CAL} s wall, its own timer: $(sed -n 's/^qcal: done: .* in \([0-9.]*\) s .*/\1/p' "$W/cal.log") s;" \
    "encode minmax ${T_ENC} s wall, its own timer: $(grep -o 'in [0-9.]* s (read.*)' "$W/enc.log")" \
    "(both walls include MPI_Init)"

# check.py STATS JSON LABEL METHOD ABITS PBITS PERCH: the JSON parses; its entries have the
# bitwidths; the stats file has /encodings/LABEL with the method and the same tensors.
cat >"$W/check.py" <<'PY'
import sys, json, h5py
stats, path, label, method, abits, pbits, perch = sys.argv[1:8]
abits, pbits, perch = int(abits), int(pbits), perch == "1"
j = json.load(open(path))
f = h5py.File(stats, "r")
errs = []
if label not in f["encodings"]:
    errs.append("no /encodings/%s (has %s)" % (label, list(f["encodings"])))
else:
    g = f["encodings"][label]
    if g.attrs["method"] != method:
        errs.append("method %r" % g.attrs["method"])
    names = [n.decode() for n in g["act_name"][()]]
    if sorted(names) != sorted(j["activation_encodings"]):
        errs.append("act names differ between file and JSON")
    if any(int(b) != abits for b in g["act_bitwidth"][()]):
        errs.append("act_bitwidth %s" % set(g["act_bitwidth"][()].tolist()))
    if any(int(b) != pbits for b in g["param_bitwidth"][()]):
        errs.append("param_bitwidth")
    pn = [n.decode() for n in g["param_name"][()]]
    if sorted(pn) != sorted(j["param_encodings"]):
        errs.append("param names differ between file and JSON")
    wn = [n.decode() for n in f["weights/name"][()]]
    chc = dict(zip(wn, f["weights/ch_count"][()].tolist()))
    for name, lst in j["param_encodings"].items():
        want = chc[name] if perch and chc[name] > 0 else 1
        if len(lst) != want:
            errs.append("%s: %d entries, want %d" % (name, len(lst), want))
    if perch and not any(len(l) > 1 for l in j["param_encodings"].values()):
        errs.append("--per-channel gave no per-channel list")
for name, lst in j["activation_encodings"].items():
    for e in lst:
        if e["bitwidth"] != abits or e["dtype"] != "int" or not (e["scale"] > 0):
            errs.append("%s: %r" % (name, e))
for name, lst in j["param_encodings"].items():
    for e in lst:
        if e["bitwidth"] != pbits or not (e["scale"] > 0):
            errs.append("%s: %r" % (name, e))
if len(j["activation_encodings"]) < 10 or len(j["param_encodings"]) < 4:
    errs.append("too few entries")
print("; ".join(errs[:5]))
sys.exit(1 if errs else 0)
PY

# 2. Every method at 4, 8 and 16 bits, per tensor and (8 bits) per channel.
for meth in minmax percentile entropy mse enhanced; do
    for b in 4 8 16; do
        out=$W/$meth-$b.json
        if ! "$Q" encode "$S" --method "$meth" --act-bitwidth "$b" --param-bitwidth "$b" \
            -o "$out" 2>"$W/e.log"; then
            bad "encode $meth $b-bit: $(cat "$W/e.log")"
        elif [ "$b" = 8 ] && ! echo "timing: encode $meth 8-bit $(grep -o 'in [0-9.]* s (.*)' "$W/e.log")"; then
            bad "echo"
        elif msg=$($PY "$W/check.py" "$S" "$out" "$meth-a$b-w$b" "$meth" "$b" "$b" 0); then
            ok
        else
            bad "encode $meth $b-bit: $msg"
        fi
    done
    out=$W/$meth-pc.json
    if ! "$Q" encode "$S" --method "$meth" --per-channel --label "$meth-pc" -o "$out" \
        2>"$W/e.log"; then
        bad "encode $meth --per-channel: $(cat "$W/e.log")"
    elif msg=$($PY "$W/check.py" "$S" "$out" "$meth-pc" "$meth" 8 8 1); then
        ok
    else
        bad "encode $meth --per-channel: $msg"
    fi
done
# The per-tensor lists have one entry per weight (checked above with PERCH=0); the per-channel
# conv1 weight has as many entries as output channels, read from the model by onnx.
if $PY - "$M" "$W/minmax-pc.json" <<'PY'; then ok; else bad "per-channel count vs model"; fi
import sys, json, onnx
m = onnx.load(sys.argv[1])
j = json.load(open(sys.argv[2]))["param_encodings"]
conv_w = {n.input[1] for n in m.graph.node if n.op_type == "Conv"}
dims = {i.name: list(i.dims) for i in m.graph.initializer}
bad = [w for w in conv_w if w in j and len(j[w]) != dims[w][0]]
print("conv weights per channel:", {w: len(j[w]) for w in sorted(conv_w) if w in j})
sys.exit(1 if bad or not conv_w else 0)
PY
if h5same "$W/s0.h5" "$S" --ignore /encodings >"$W/same.log"; then ok; else
    bad "encode changed the statistics: $(cat "$W/same.log")"; fi

# 3. Same label again: replaced, not duplicated; the method follows the last run.
"$Q" encode "$S" --method entropy --label minmax-a8-w8 -o "$W/r.json" 2>/dev/null
if $PY - "$S" <<'PY'; then ok; else bad "label minmax-a8-w8 not replaced"; fi
import sys, h5py
f = h5py.File(sys.argv[1], "r")
labels = list(f["encodings"])
sys.exit(0 if labels.count("minmax-a8-w8") == 1 and
         f["encodings/minmax-a8-w8"].attrs["method"] == "entropy" else 1)
PY

# 4. Overrides and the other formats.
if "$Q" encode "$S" --method minmax --override 'logits$=float' --override '^/conv1/=16' \
    --label ov -o "$W/ov.json" 2>"$W/e.log" && $PY - "$W/ov.json" <<'PY'; then ok; else bad "--override: $(cat "$W/e.log")"; fi
import sys, json
a = json.load(open(sys.argv[1]))["activation_encodings"]
assert a["logits"] == [{"bitwidth": 16, "dtype": "float"}], a["logits"]
assert a["/conv1/Conv_output_0"][0]["bitwidth"] == 16
assert a["input"][0]["bitwidth"] == 8
PY
if "$Q" encode "$S" --method percentile --format aimet1 -o "$W/a1.json" 2>"$W/e.log" &&
    $PY -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["version"]=="1.0.0" and j["quantizer_args"]["quant_scheme"]=="post_training_percentile"' "$W/a1.json"; then
    ok
else
    bad "--format aimet1: $(cat "$W/e.log")"
fi
if "$Q" encode "$S" --method minmax --format qnn -o "$W/qnn.json" 2>/dev/null &&
    cmp -s "$W/qnn.json" "$W/cal.json"; then ok; else bad "--format qnn differs from aimet"; fi
if "$Q" encode "$S" --method entropy --format trt --trt-version 100900 -o "$W/c.trt" 2>"$W/e.log" &&
    [ "$(head -n 1 "$W/c.trt")" = "TRT-100900-EntropyCalibration2" ] &&
    grep -q '^logits: [0-9a-f]*$' "$W/c.trt"; then
    ok
else
    bad "--format trt: $(cat "$W/e.log") $(head -n 2 "$W/c.trt" 2>/dev/null)"
fi
if "$Q" encode "$S" --method minmax --format qdq --model "$M" -o "$W/q.onnx" 2>"$W/e.log"; then
    if $PY -c 'import onnx,sys; m=onnx.load(sys.argv[1]); onnx.checker.check_model(m); assert any(n.op_type=="QuantizeLinear" for n in m.graph.node)' "$W/q.onnx"; then
        ok
    else
        bad "--format qdq wrote a model onnx.checker rejects"
    fi
elif grep -q 'qdq export not available in this build' "$W/e.log"; then
    echo "note: this build has no qdq export"
    ok
else
    bad "--format qdq: $(cat "$W/e.log")"
fi

# A tensor without a finite value (all NaN): a warning names it, it gets no entry, exit 0.
cp "$S" "$W/nan.h5"
$PY - "$W/nan.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r+")
a = f["activations"]
i = [n.decode() for n in a["name"][()]].index("logits")
n = int(a["count"][i])
a["min"][i] = np.float32("nan"); a["max"][i] = np.float32("nan")
a["count"][i] = 0; a["hist_e"][i] = 0; a["hist_k0"][i] = 0
a["hist"][i, :] = 0
a["nonfinite"][i] = [n, 0, 0]
PY
if "$Q" encode "$W/nan.h5" --method entropy -o "$W/nan.json" 2>"$W/e.log" &&
    grep -q '^qcal: warning: .*logits' "$W/e.log" && grep -q '^qcal: encode: .* 1 warning,' "$W/e.log" &&
    $PY -c 'import json,sys; a=json.load(open(sys.argv[1]))["activation_encodings"]; assert "logits" not in a and len(a) == 11' "$W/nan.json"; then
    ok
    echo "ok: no finite value -> $(grep "^qcal: warning" "$W/e.log")"
else
    bad "tensor without finite values: $(cat "$W/e.log")"
fi

# 5. Errors: exit status, one line, stats file unchanged, nothing written.
printf 'not hdf5\n' >"$W/text.h5"
$PY -c 'import h5py,sys; h5py.File(sys.argv[1], "w").attrs["format"] = "other"' "$W/other.h5"
expect_err() { # expect_err CODE PATTERN WHAT -- qcal-args...
    local code=$1 pat=$2 what=$3 sum0 sum1
    shift 4
    sum0=$(sha256sum "$S" "$W/text.h5" "$W/other.h5")
    rm -f "$W/x.out"
    "$Q" "$@" >"$W/e.out" 2>"$W/e.err"
    local rc=$?
    sum1=$(sha256sum "$S" "$W/text.h5" "$W/other.h5")
    if [ "$rc" -ne "$code" ]; then
        bad "$what: exited $rc, expected $code: $(head -n 3 "$W/e.err")"
    elif [ "$(wc -l <"$W/e.err")" -ne 1 ] || ! grep -q '^qcal: error: ' "$W/e.err"; then
        bad "$what: stderr is not one 'qcal: error:' line: $(head -n 5 "$W/e.err")"
    elif ! grep -qF -- "$pat" "$W/e.err"; then
        bad "$what: message lacks '$pat': $(cat "$W/e.err")"
    elif [ "$sum0" != "$sum1" ]; then
        bad "$what: an input file changed"
    elif [ -e "$W/x.out" ] || [ -n "$(find "$W" -name '*.tmp*' -o -name '*.encode.*')" ]; then
        bad "$what: output or temporary file left behind"
    else
        ok
        echo "ok: $what -> $(cat "$W/e.err")"
    fi
}
expect_err 3 "$W/missing.h5: No such file" "missing stats file" -- encode "$W/missing.h5" --method minmax -o "$W/x.out"
expect_err 4 "not an HDF5 file" "non-HDF5 stats file" -- encode "$W/text.h5" --method minmax -o "$W/x.out"
expect_err 4 "other.h5" "HDF5 file that is not qcal-stats" -- encode "$W/other.h5" --method minmax -o "$W/x.out"
expect_err 1 "unknown method 'maxmin'" "bad method" -- encode "$S" --method maxmin -o "$W/x.out"
expect_err 1 "--format json" "bad format" -- encode "$S" --method minmax --format json -o "$W/x.out"
expect_err 1 "--method and -o are required" "no --method" -- encode "$S" -o "$W/x.out"
expect_err 1 "--act-bitwidth 1" "bitwidth out of range" -- encode "$S" --method minmax --act-bitwidth 1 -o "$W/x.out"
expect_err 1 "--percentile 40" "percentile out of range" -- encode "$S" --method percentile --percentile 40 -o "$W/x.out"
expect_err 1 "override" "bad override regex" -- encode "$S" --method minmax --override '(=8' -o "$W/x.out"
expect_err 1 "--format qdq needs --model" "qdq without --model" -- encode "$S" --method minmax --format qdq -o "$W/x.out"
expect_err 1 "would overwrite the stats file" "-o is the stats file" -- encode "$S" --method minmax -o "$S"
expect_err 1 "bad encoding label 'a/b'" "label with a slash" -- encode "$S" --method minmax --label a/b -o "$W/x.out"
expect_err 5 "TensorRT" "trt with 16-bit activations" -- encode "$S" --method minmax --act-bitwidth 16 --format trt -o "$W/x.out"
expect_err 3 "$W/nodir/x.json" "output in a missing directory" -- encode "$S" --method minmax -o "$W/nodir/x.json"

# 6. Under mpirun -n 2: rank 0 does the work once; same bytes; an error printed once.
if command -v mpirun >/dev/null; then
    t0=$(now)
    if timeout 120 mpirun -n 2 --oversubscribe "$Q" encode "$S" --method enhanced \
        -o "$W/mpi.json" >"$W/mpi.out" 2>"$W/mpi.err"; then
        echo "timing: mpirun -n 2 encode enhanced $(since "$t0") s wall"
        if [ "$(grep -c '^qcal: encode: ' "$W/mpi.err")" -eq 1 ] &&
            cmp -s "$W/mpi.json" "$W/enhanced-8.json"; then
            ok
        else
            bad "mpirun -n 2 encode: $(cat "$W/mpi.err")"
        fi
    else
        bad "mpirun -n 2 encode failed: $(cat "$W/mpi.err")"
    fi
    sum0=$(sha256sum "$S")
    timeout 120 mpirun -n 2 --oversubscribe "$Q" encode "$W/text.h5" --method minmax \
        -o "$W/x.out" >"$W/mpi.out" 2>"$W/mpi.err"
    rc=$?
    if [ "$rc" -ne 0 ] && [ "$(grep -c '^qcal: error: ' "$W/mpi.err")" -eq 1 ] &&
        grep -q '^qcal: error: \[rank 0\] .*not an HDF5 file' "$W/mpi.err" && [ ! -e "$W/x.out" ] &&
        [ "$sum0" = "$(sha256sum "$S")" ]; then
        ok
    else
        bad "mpirun -n 2 encode error: rc $rc: $(cat "$W/mpi.err")"
    fi
fi

# Several encodes of one stats file at once (a Slurm array job sharing it): each stores its set;
# none is lost to another's read-modify-rename.
cp "$S" "$W/par.h5"
for b in 4 5 6 7 8 9; do
    "$Q" encode "$W/par.h5" --method minmax --act-bitwidth "$b" --label "par-$b" \
        -o "$W/par-$b.json" >/dev/null 2>&1 &
done
wait
n=$($PY -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); print(sum(k.startswith('par-') for k in f['encodings']))" "$W/par.h5")
[ "$n" = 6 ] && ok || bad "6 parallel encodes stored $n sets"

# The checkers must be able to fail: a JSON with a wrong bitwidth, a changed statistic.
if $PY "$W/check.py" "$S" "$W/minmax-8.json" minmax-a8-w8 minmax 16 8 0 >/dev/null 2>&1; then
    bad "check.py accepts wrong bitwidths"
else
    ok
fi
cp "$S" "$W/t.h5"
h5_edit "$W/t.h5" 'f["activations/hist"][0, 0] += 1'
h5same "$W/s0.h5" "$W/t.h5" --ignore /encodings >/dev/null
[ $? -eq 1 ] && ok || bad "the comparison misses a change"

report
