#!/bin/bash
# qcal calibrate's error paths (DESIGN.md "Command line", "MPI behaviour"): for a missing model,
# a corrupt model, a truncated PNG on one of two ranks, an output path in a missing directory and
# a model with an unsupported op, the command must print one line "qcal: error: ..." naming the
# culprit (once under MPI, with "[rank R]" of the rank that read the bad file), exit with the
# documented status, end every rank, and leave no output or temporary file. With --skip-bad the
# truncated PNG is skipped and recorded in /samples/skipped. --help exits 0.
set -u
Q=${1:?usage: test_calibrate_errors.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=$HERE/data/fmnist
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
PRE=(--channels gray --mean 0.2860 --std 0.3530)
M=$D/fmnist_cnn.onnx

# Data: 12 good images (symlinks), and the same set with calib_00005.png truncated to 300 bytes.
# Sample 5 goes to rank 5 mod 2 = 1.
NS=12
BADI=5
mkdir -p "$W/good" "$W/bad" "$W/out"
for i in $(seq 0 $((NS - 1))); do
    f=$(printf 'calib_%05d.png' "$i")
    ln -s "$D/calib/$f" "$W/good/$f"
    [ "$i" -eq "$BADI" ] || ln -s "$D/calib/$f" "$W/bad/$f"
done
BADF=$W/bad/$(printf 'calib_%05d.png' "$BADI")
head -c 300 "$D/calib/$(printf 'calib_%05d.png' "$BADI")" >"$BADF"
printf 'this is not protobuf' >"$W/bad.onnx"
head -c 2000 "$M" >"$W/truncated.onnx"
$PY - "$W/random.onnx" <<'PY'
import sys, onnx
from onnx import helper, TensorProto
n = helper.make_node("RandomNormalLike", ["input"], ["y"], name="the_random")
g = helper.make_graph([n], "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 28, 28])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 28, 28])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 7
onnx.checker.check_model(m)
onnx.save(m, sys.argv[1])
PY

# No output and no temporary file anywhere in $W/out (and no *.tmp* anywhere in $W).
no_leftovers() { # no_leftovers WHAT
    local left
    left=$(ls -A "$W/out"; find "$W" -name '*.tmp*' -print)
    if [ -n "$left" ]; then
        bad "$1: files left behind: $left"
        rm -rf "$W/out" && mkdir -p "$W/out"
        find "$W" -name '*.tmp*' -exec rm -rf {} +
        return 1
    fi
    return 0
}

# expect_err CODE PATTERN WHAT -- qcal-args...: one process, exact exit status, stderr exactly one
# line "qcal: error: ..." containing PATTERN (a fixed string), nothing left in $W/out.
expect_err() {
    local code=$1 pat=$2 what=$3
    shift 4
    timeout 120 "$Q" "$@" >"$W/e.out" 2>"$W/e.err"
    local rc=$?
    if [ "$rc" -ne "$code" ]; then
        bad "$what: exited $rc, expected $code: $(head -n 3 "$W/e.err")"
    elif [ "$(wc -l <"$W/e.err")" -ne 1 ] || ! grep -q "^qcal: error: " "$W/e.err"; then
        bad "$what: stderr is not one 'qcal: error:' line: $(head -n 5 "$W/e.err")"
    elif ! grep -qF -- "$pat" "$W/e.err"; then
        bad "$what: message does not name '$pat': $(cat "$W/e.err")"
    else
        no_leftovers "$what" && ok
        echo "ok: $what -> $(cat "$W/e.err")"
        return
    fi
    no_leftovers "$what"
}

# 1. Single-process errors (exit status = qcal_status: 3 I/O, 4 corrupt, 5 unsupported).
expect_err 3 "$W/nope.onnx" "missing model" -- calibrate --model "$W/nope.onnx" \
    --data "$W/good" "${PRE[@]}" -o "$W/out/s.h5" --quiet
expect_err 4 "bad.onnx" "corrupt model" -- calibrate --model "$W/bad.onnx" \
    --data "$W/good" "${PRE[@]}" -o "$W/out/s.h5" --quiet
expect_err 4 "truncated.onnx" "truncated model" -- calibrate --model "$W/truncated.onnx" \
    --data "$W/good" "${PRE[@]}" -o "$W/out/s.h5" --quiet
expect_err 5 "RandomNormalLike" "unsupported op" -- calibrate --model "$W/random.onnx" \
    --data "$W/good" "${PRE[@]}" -o "$W/out/s.h5" --quiet
expect_err 4 "calib_00005.png" "truncated PNG, one process" -- calibrate --model "$M" \
    --data "$W/bad" "${PRE[@]}" -o "$W/out/s.h5" --quiet
# (with --encodings in an existing folder: that file must not be left behind either)
expect_err 3 "$W/out/missing/sub" "output in a missing directory" -- calibrate --model "$M" \
    --data "$W/good" "${PRE[@]}" -o "$W/out/missing/sub/s.h5" --encodings "$W/out/e.json" --quiet
expect_err 3 "$W/out/missing/e.json" "encodings in a missing directory" -- calibrate --model "$M" \
    --data "$W/good" "${PRE[@]}" -o "$W/out/s.h5" --encodings "$W/out/missing/e.json" --quiet
expect_err 1 "--bins 3" "invalid --bins" -- calibrate --model "$M" \
    --data "$W/good" "${PRE[@]}" -o "$W/out/s.h5" --bins 3 --quiet
expect_err 3 "$W/nodata" "missing data directory" -- calibrate --model "$M" \
    --data "$W/nodata" "${PRE[@]}" -o "$W/out/s.h5" --quiet

# expect_mpi_err RANK PATTERN WHAT -- qcal-args...: under mpirun -n 2 within 60 s, non-zero
# exit, exactly one "qcal: error:" line (mpirun may add its own lines), from rank RANK ("any":
# some rank), naming PATTERN; no qcal process of this test left; nothing in $W/out.
expect_mpi_err() {
    local rank=$1 pat=$2 what=$3
    shift 4
    local t0=$SECONDS
    timeout 60 mpirun -n 2 --oversubscribe "$Q" "$@" >"$W/e.out" 2>"$W/e.err"
    local rc=$?
    local n
    n=$(grep -c "qcal: error: " "$W/e.err")
    sleep 1
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        bad "$what: mpirun did not end within 60 s (a rank hangs): $(head -n 3 "$W/e.err")"
    elif [ "$rc" -eq 0 ]; then
        bad "$what: exit status 0"
    elif [ "$n" -ne 1 ]; then
        bad "$what: $n 'qcal: error:' lines, expected 1: $(head -n 6 "$W/e.err")"
    elif grep -v "qcal: error: " "$W/e.err" | grep -q "^qcal"; then
        bad "$what: other qcal lines on stderr: $(grep "^qcal" "$W/e.err" | head -n 4)"
    elif ! grep "qcal: error: " "$W/e.err" | grep -qF -- "$pat"; then
        bad "$what: message does not name '$pat': $(grep "qcal: error: " "$W/e.err")"
    elif [ "$rank" != any ] && ! grep "qcal: error: " "$W/e.err" | grep -qF "[rank $rank]"; then
        bad "$what: message does not say [rank $rank]: $(grep "qcal: error: " "$W/e.err")"
    elif pgrep -f -- "$W/" >/dev/null; then
        bad "$what: qcal processes still running: $(pgrep -af -- "$W/" | head -n 3)"
    else
        no_leftovers "$what" && ok
        echo "ok: $what (exit $rc, $((SECONDS - t0)) s) -> $(grep "qcal: error: " "$W/e.err")"
        return
    fi
    no_leftovers "$what"
}

# 2. Under MPI: the truncated PNG is on rank 1 only; both ranks fail on a missing model.
expect_mpi_err $((BADI % 2)) "$BADF" "truncated PNG on rank $((BADI % 2)) of 2" -- calibrate \
    --model "$M" --data "$W/bad" "${PRE[@]}" -o "$W/out/s.h5" --quiet
expect_mpi_err any "$W/nope.onnx" "missing model, 2 ranks" -- calibrate \
    --model "$W/nope.onnx" --data "$W/good" "${PRE[@]}" -o "$W/out/s.h5" --quiet
# An option error is found by every rank alike; it must still be printed once.
expect_mpi_err any "--bins 3" "invalid --bins, 2 ranks" -- calibrate \
    --model "$M" --data "$W/good" "${PRE[@]}" -o "$W/out/s.h5" --bins 3 --quiet
# The bad file on rank 0 instead (sample 4 of the same data, renamed into place).
mkdir -p "$W/bad0"
for i in $(seq 0 $((NS - 1))); do
    f=$(printf 'calib_%05d.png' "$i")
    [ "$i" -eq 4 ] || ln -s "$D/calib/$f" "$W/bad0/$f"
done
cp "$BADF" "$W/bad0/calib_00004.png"
expect_mpi_err 0 "$W/bad0/calib_00004.png" "truncated PNG on rank 0 of 2" -- calibrate \
    --model "$M" --data "$W/bad0" "${PRE[@]}" -o "$W/out/s.h5" --quiet

# 3. --skip-bad: the run succeeds without the truncated file and records it.
if timeout 60 mpirun -n 2 --oversubscribe "$Q" calibrate --model "$M" --data "$W/bad" "${PRE[@]}" \
    -o "$W/skip.h5" --skip-bad --quiet >"$W/skip.out" 2>"$W/skip.err"; then
    if $PY - "$W/skip.h5" "$BADF" "$NS" <<'PY'
import sys, h5py, numpy as np
path, badf, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
errs = []
s = lambda x: x.decode("utf-8") if isinstance(x, bytes) else str(x)
with h5py.File(path, "r") as f:
    sk = [s(x) for x in f["samples/skipped"][()]] if "skipped" in f["samples"] else None
    if sk != [badf]:
        errs.append("/samples/skipped = %s, expected [%s]" % (sk, badf))
    if int(f.attrs["samples"]) != n - 1:
        errs.append("root attr samples = %d, expected %d" % (int(f.attrs["samples"]), n - 1))
    rs = [int(x) for x in np.asarray(f.attrs["rank_samples"]).reshape(-1)]
    if sum(rs) != n - 1:
        errs.append("rank_samples %s does not sum to %d" % (rs, n - 1))
    a = f["activations"]
    names = [s(x) for x in a["name"][()]]
    j = names.index("input") if "input" in names else -1
    if j < 0 or int(a["count"][j]) != (n - 1) * 784:
        errs.append("input count %s, expected %d" % (None if j < 0 else int(a["count"][j]), (n - 1) * 784))
for e in errs:
    print("  " + e)
sys.exit(1 if errs else 0)
PY
    then ok; else bad "--skip-bad: the stats file does not record the skipped file as expected"; fi
else
    bad "--skip-bad run failed (exit $?): $(head -n 5 "$W/skip.err")"
fi

# 4. --help.
"$Q" calibrate --help >"$W/help.txt" 2>&1 && grep -q -- "--data" "$W/help.txt" && ok ||
    bad "calibrate --help: exit status or text: $(head -n 3 "$W/help.txt")"

report
