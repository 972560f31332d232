#!/bin/bash
# qcal merge (DESIGN.md: "exact: same as one run over the union"). 200 fmnist calib images are
# split into the even and the odd ones (two list files); each half is calibrated on its own (the
# odd half under mpirun -n 2), the halves are merged, and the union is calibrated in one run
# over the list "even half, then odd half". Required: /activations/* (min, max, count,
# nonfinite, hist_e, hist_k0, hist and the name columns), /weights/*, /graph/* and /samples/*
# bit-identical to the one-run file, the same samples count and list_sha256, rank counts summed,
# and the default encoding set equal to the one-run file's. Merging in the other order swaps the
# sample list only. Refused, with one 'qcal: error:' line naming both files and no output file:
# another model file (fmnist_cnn_dynbatch.onnx: same graph, other bytes), other --bins, other
# preprocessing, overlapping samples, a non-HDF5 or missing input, a single input.
set -u
Q=${1:?usage: test_merge.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=$HERE/data/fmnist
M=$D/fmnist_cnn.onnx
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
PRE=(--channels gray --mean 0.2860 --std 0.3530)
HAVE_MPI=0
command -v mpirun >/dev/null && HAVE_MPI=1

for i in $(seq 0 199); do
    printf '%s/calib/calib_%05d.png\n' "$D" "$i"
done >"$W/all.txt"
awk 'NR % 2 == 1' "$W/all.txt" >"$W/A.txt"   # calib_00000, 00002, ...
awk 'NR % 2 == 0' "$W/all.txt" >"$W/B.txt"   # calib_00001, 00003, ...
cat "$W/A.txt" "$W/B.txt" >"$W/U.txt"
head -n 7 "$W/B.txt" >"$W/B7.txt"

# cal OUT LIST NP [extra args]: calibrate LIST into OUT with NP ranks (1: no mpirun).
cal() {
    local out=$1 list=$2 np=$3
    shift 3
    local run=("$Q")
    [ "$np" -gt 1 ] && [ "$HAVE_MPI" = 1 ] && run=(timeout 300 mpirun -n "$np" --oversubscribe "$Q")
    if "${run[@]}" calibrate --model "$M" --data "$list" "${PRE[@]}" -o "$out" --quiet "$@" \
        >"$W/cal.log" 2>&1; then
        ok
    else
        bad "calibrate $out: $(tail -n 5 "$W/cal.log")"
    fi
}
cal "$W/a.h5" "$W/A.txt" 1
cal "$W/b.h5" "$W/B.txt" 2
cal "$W/u.h5" "$W/U.txt" 1

# compare MERGED UNION [--swapped]: every difference printed, non-zero if there is one. The
# merged file must equal the one-run file exactly (h5same) but for the run attributes, the
# dataset description and, swapped, the sample paths; merged.py checks what those must be.
compare() {
    local ign=(--ignore /@dataset)
    [ "${3:-}" = --swapped ] && ign+=(/samples/path)
    h5same "$1" "$2" "${RUN_ATTRS[@]}" "${ign[@]}" --require /activations /weights /graph \
        /samples /encodings/minmax-a8-w8 && $PY "$W/merged.py" "$@"
}
cat >"$W/merged.py" <<'PY'
import sys, json, h5py
m, u = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
swapped = len(sys.argv) > 3
errs = []
if swapped:
    half = len(u["samples/path"]) // 2
    p = u["samples/path"][()].tolist()
    if m["samples/path"][()].tolist() != p[half:] + p[:half]:
        errs.append("samples/path is not b's then a's")
dm, du = json.loads(m.attrs["dataset"]), json.loads(u.attrs["dataset"])
if dm["count"] != du["count"] or dm["inputs"] != du["inputs"] or dm["kind"] != "merged" or \
        len(dm["parts"]) != 2 or sum(p["count"] for p in dm["parts"]) != du["count"]:
    errs.append("dataset %r vs %r" % (dm, du))
if not swapped and dm["list_sha256"] != du["list_sha256"]:
    errs.append("list_sha256 %s vs %s" % (dm["list_sha256"], du["list_sha256"]))
if int(m.attrs["ranks"]) != 3 or sorted(m.attrs["rank_samples"].tolist()) != [50, 50, 100]:
    errs.append("ranks %r %r" % (m.attrs["ranks"], m.attrs["rank_samples"]))
if list(m["encodings"]) != ["minmax-a8-w8"]:
    errs.append("encodings %s" % list(m["encodings"]))
for e in errs[:10]:
    print("  " + e)
sys.exit(1 if errs else 0)
PY

# 1. a + b == the union, bit for bit.
t0=$(date +%s.%N)
if "$Q" merge "$W/a.h5" "$W/b.h5" -o "$W/m.h5" 2>"$W/m.log"; then
    echo "timing: merge of 2 files $(echo "$(date +%s.%N) - $t0" | bc) s wall; $(cat "$W/m.log")"
    if [ "$(wc -l <"$W/m.log")" -eq 1 ] && out=$(compare "$W/m.h5" "$W/u.h5"); then
        ok
    else
        bad "merged file differs from the one-run file: $out $(cat "$W/m.log")"
    fi
else
    bad "merge failed: $(cat "$W/m.log")"
fi
# 2. b + a: the same statistics, the sample list in the other order.
if "$Q" merge "$W/b.h5" "$W/a.h5" -o "$W/ba.h5" 2>"$W/m.log" &&
    out=$(compare "$W/ba.h5" "$W/u.h5" --swapped); then
    ok
else
    bad "merge b a: $out $(cat "$W/m.log")"
fi
# 3. Under mpirun -n 2: one summary line, the same file (up to the created times).
if [ "$HAVE_MPI" = 1 ]; then
    if timeout 120 mpirun -n 2 --oversubscribe "$Q" merge "$W/a.h5" "$W/b.h5" -o "$W/mp.h5" \
        >"$W/mp.out" 2>"$W/mp.err" && [ "$(grep -c '^qcal: merge: ' "$W/mp.err")" -eq 1 ] &&
        out=$(compare "$W/mp.h5" "$W/u.h5"); then
        ok
    else
        bad "mpirun -n 2 merge: $out $(cat "$W/mp.err")"
    fi
fi
# 4. Three files: (half of a) + (other half of a) + b == the union too.
head -n 50 "$W/A.txt" >"$W/A1.txt"
tail -n 50 "$W/A.txt" >"$W/A2.txt"
cal "$W/a1.h5" "$W/A1.txt" 1
cal "$W/a2.h5" "$W/A2.txt" 1
if "$Q" merge "$W/a1.h5" "$W/a2.h5" "$W/b.h5" -o "$W/m3.h5" 2>"$W/m.log" &&
    h5same "$W/m3.h5" "$W/m.h5" "${RUN_ATTRS[@]}" --ignore /@dataset >>"$W/m.log" &&
    $PY - "$W/m3.h5" "$W/m.h5" <<'PY'; then ok; else bad "3-way merge: $(cat "$W/m.log")"; fi
import sys, json, h5py
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
d = json.loads(a.attrs["dataset"])
assert [p["count"] for p in d["parts"]] == [50, 50, 100], d
assert d["list_sha256"] == json.loads(b.attrs["dataset"])["list_sha256"]
assert a.attrs["rank_samples"].tolist() == [50, 50, 50, 50], a.attrs["rank_samples"]
PY

# 5. Refusals.
cal "$W/dyn.h5" "$W/B7.txt" 1 --model "$D/fmnist_cnn_dynbatch.onnx"
cal "$W/bins.h5" "$W/B7.txt" 1 --bins 2048
cal "$W/pre.h5" "$W/B7.txt" 1 --mean 0.3
cal "$W/b7.h5" "$W/B7.txt" 1
printf 'not hdf5\n' >"$W/text.h5"
expect_err() { # expect_err CODE PATTERN WHAT -- qcal-args...: one line, code, no output
    local code=$1 pat=$2 what=$3
    shift 4
    rm -f "$W/x.h5"
    "$Q" "$@" >"$W/e.out" 2>"$W/e.err"
    local rc=$?
    if [ "$rc" -ne "$code" ]; then
        bad "$what: exited $rc, expected $code: $(head -n 3 "$W/e.err")"
    elif [ "$(wc -l <"$W/e.err")" -ne 1 ] || ! grep -q '^qcal: error: ' "$W/e.err"; then
        bad "$what: stderr is not one 'qcal: error:' line: $(head -n 5 "$W/e.err")"
    elif ! grep -qF -- "$pat" "$W/e.err"; then
        bad "$what: message lacks '$pat': $(cat "$W/e.err")"
    elif [ -e "$W/x.h5" ] || [ -n "$(find "$W" -name '*.tmp*')" ]; then
        bad "$what: output or temporary file left behind"
    else
        ok
        echo "ok: $what -> $(cat "$W/e.err")"
    fi
}
expect_err 1 "cannot merge $W/a.h5 and $W/dyn.h5: different model files" "other model file" \
    -- merge "$W/a.h5" "$W/dyn.h5" -o "$W/x.h5"
expect_err 1 "cannot merge $W/a.h5 and $W/bins.h5: histogram bins differ: 4096 vs 2048" \
    "other --bins" -- merge "$W/a.h5" "$W/bins.h5" -o "$W/x.h5"
expect_err 1 "cannot merge $W/a.h5 and $W/pre.h5: preprocess differs" "other --mean" \
    -- merge "$W/a.h5" "$W/pre.h5" -o "$W/x.h5"
expect_err 1 "cannot merge $W/b.h5 and $W/b7.h5: sample '$D/calib/calib_00001.png' is in both" \
    "overlapping samples" -- merge "$W/b.h5" "$W/b7.h5" -o "$W/x.h5"
expect_err 1 "is in both" "a file with itself" -- merge "$W/a.h5" "$W/a.h5" -o "$W/x.h5"
expect_err 1 "cannot merge $W/a1.h5 and $W/a.h5" "third file overlaps" \
    -- merge "$W/a1.h5" "$W/b.h5" "$W/a.h5" -o "$W/x.h5"
expect_err 4 "$W/text.h5: not an HDF5 file" "non-HDF5 input" -- merge "$W/a.h5" "$W/text.h5" -o "$W/x.h5"
expect_err 3 "$W/none.h5: No such file" "missing input" -- merge "$W/a.h5" "$W/none.h5" -o "$W/x.h5"
expect_err 1 "needs two or more stats files" "one input" -- merge "$W/a.h5" -o "$W/x.h5"
expect_err 1 "needs two or more stats files" "no -o" -- merge "$W/a.h5" "$W/b.h5"
if [ "$HAVE_MPI" = 1 ]; then
    timeout 120 mpirun -n 2 --oversubscribe "$Q" merge "$W/a.h5" "$W/dyn.h5" -o "$W/x.h5" \
        >"$W/e.out" 2>"$W/e.err"
    rc=$?
    if [ "$rc" -ne 0 ] && [ "$(grep -c '^qcal: error: ' "$W/e.err")" -eq 1 ] &&
        grep -q '^qcal: error: \[rank 0\] cannot merge .*different model files' "$W/e.err" &&
        [ ! -e "$W/x.h5" ]; then
        ok
    else
        bad "mpirun -n 2 refused merge: rc $rc: $(cat "$W/e.err")"
    fi
fi

# The comparison must be able to fail: one histogram count, one weight bit, one sample path.
for poke in 'f["activations/hist"][3, 100] += 1' 'f["weights/ch_max"][0] = np.nextafter(f["weights/ch_max"][0], np.float32(9))' \
    'f["samples/path"][0] = b"x.png"'; do
    cp "$W/m.h5" "$W/p.h5"
    h5_edit "$W/p.h5" "$poke" || bad "could not apply: $poke"
    if compare "$W/p.h5" "$W/u.h5" >/dev/null; then
        bad "the comparison misses: $poke"
    else
        ok
    fi
done

report
