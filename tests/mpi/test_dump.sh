#!/bin/bash
# qcal calibrate --dump (DESIGN.md: HDF5 stats file, intermediate-tensor dumps): the dump file is
# written collectively by all ranks with parallel HDF5. Under mpirun -n 3 over 12 fmnist images,
# --dump 'conv|input' --dump-samples 5 must give <out>.dumps.h5 with format "qcal-dumps" v1,
# sample_index [0..4], one float32 dataset [5, ...shape] per matching activation (the input and
# the three Conv outputs; attribute `name` = the exact tensor name; one sample per chunk), whose
# rows are bit-identical to what `qcal run --all-tensors` writes for each image; and the stats
# file's /dumps external link must resolve to it. Also: the same content under 1 and 2 ranks,
# --dump-out, clamping of --dump-samples, a sample skipped with --skip-bad (NaN rows), and the
# error paths (bad regex, no match, missing folder, failing rename: one error line, nothing left
# behind).
# The checker is shown to fail on perturbed copies.
set -u
Q=${1:?usage: test_dump.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=$HERE/data/fmnist
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
PRE=(--channels gray --mean 0.2860 --std 0.3530)
MODEL=$D/fmnist_cnn.onnx
run_mpi() { # run_mpi P LOG ARGS...: qcal calibrate under mpirun -n P, output in LOG
    local p=$1 log=$2
    shift 2
    timeout 300 mpirun -n "$p" --oversubscribe "$Q" calibrate --model "$MODEL" "${PRE[@]}" \
        "$@" >"$log" 2>&1
}
# Files other than the expected ones in a directory (temporary files left behind).
leftovers() { find "$1" -maxdepth 1 -name '*.tmp.*' | head -n 3; }

# 12 calibration images (byte-wise sorted = global order) and the reference tensors of the
# first 12 of them from the single-sample executor.
mkdir -p "$W/img" "$W/ref"
for i in $(seq 0 11); do
    f=$(printf 'calib_%05d.png' "$i")
    cp "$D/calib/$f" "$W/img/$f"
    if ! "$Q" run --model "$MODEL" --input "$W/img/$f" "${PRE[@]}" -o "$W/ref/$i" --all-tensors \
        >"$W/run.log" 2>&1; then
        bad "qcal run on $f failed: $(tail -n 3 "$W/run.log")"
    fi
done

# check.py DUMP N REFDIR SKIPPED NAME...: the dump holds exactly the tensors NAME... for samples
# 0..N-1, equal bit for bit to REFDIR/<i>/<sanitized name>.npy (rows of the samples in the
# comma-separated list SKIPPED, possibly empty, must be all NaN). Prints every problem; exit 1.
cat >"$W/check.py" <<'PY'
import re, sys, h5py, numpy as np

path, n, refdir, skipped = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
names = sys.argv[5:]
skipped = {int(s) for s in skipped.split(",") if s}
problems = []
def bad(msg):
    problems.append(msg)

def sanitize(s):
    return re.sub(r"[^A-Za-z0-9._-]", "_", s)

def text(v):
    return v.decode("utf-8") if isinstance(v, bytes) else v

with h5py.File(path, "r") as f:
    if text(f.attrs.get("format")) != "qcal-dumps":
        bad("format attribute is %r" % f.attrs.get("format"))
    if f.attrs.get("version") != 1:
        bad("version attribute is %r" % f.attrs.get("version"))
    si = f["sample_index"]
    if si.dtype != np.uint64 or si.shape != (n,) or not np.array_equal(si[()], np.arange(n)):
        bad("sample_index is %s %s %s" % (si.dtype, si.shape, si[()]))
    seen = {}
    for key, ds in f.items():
        if key == "sample_index":
            continue
        if not isinstance(ds, h5py.Dataset) or "name" not in ds.attrs:
            bad("object %s is not a dataset with a name attribute" % key)
            continue
        seen[text(ds.attrs["name"])] = ds
    if sorted(seen) != sorted(names):
        bad("dumped tensors %s, expected %s" % (sorted(seen), sorted(names)))
    for name in sorted(set(seen) & set(names)):
        ds = seen[name]
        if ds.dtype != np.float32:
            bad("%s: dtype %s" % (name, ds.dtype))
            continue
        a = ds[()]
        for i in range(n):
            ref = np.load("%s/%d/%s.npy" % (refdir, i, sanitize(name)))
            if a.shape != (n,) + ref.shape:
                bad("%s: shape %s, expected %s" % (name, a.shape, (n,) + ref.shape))
                break
            if ds.chunks != (1,) + ref.shape:
                bad("%s: chunks %s, expected one sample %s" % (name, ds.chunks, (1,) + ref.shape))
            if i in skipped:
                if not np.all(np.isnan(a[i])):
                    bad("%s: row %d of a skipped sample is not NaN" % (name, i))
            elif a[i].tobytes() != ref.astype(np.float32).tobytes():
                d = np.count_nonzero(a[i].view(np.uint32) != ref.view(np.uint32))
                bad("%s: row %d differs from the qcal run output in %d values" % (name, i, d))
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PY

# The /dumps external link of the stats file resolves to the dump file.
cat >"$W/link.py" <<'PY'
import os, sys, h5py, numpy as np
stats, dump, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with h5py.File(stats, "r") as f:
    link = f.get("dumps", getlink=True)
    if not isinstance(link, h5py.ExternalLink):
        sys.exit("/dumps is %r, not an external link" % (link,))
    # A relative target is looked up next to the stats file (and in the working directory).
    target = os.path.join(os.path.dirname(stats), link.filename)
    if not os.path.exists(target) or not os.path.samefile(target, dump):
        sys.exit("/dumps -> %s: not %s (seen from %s)" % (link.filename, dump, os.getcwd()))
    try:
        si = f["dumps/sample_index"][()]
    except KeyError as e:
        sys.exit("/dumps -> %s does not resolve: %s" % (link.filename, e))
    if not np.array_equal(si, np.arange(n)):
        sys.exit("/dumps/sample_index through the link is %s" % si)
PY

NAMES=(input /conv1/Conv_output_0 /conv2/Conv_output_0 /conv3/Conv_output_0)

# 1. Three ranks, the default dump path, given relative (-o p3/s.h5 from inside $W): the link
#    must resolve from any working directory (HDF5 looks for a relative target next to the
#    stats file), here from /.
mkdir -p "$W/p3"
if (cd "$W" && run_mpi 3 "$W/p3.log" --data img -o p3/s.h5 --dump 'conv|input' \
    --dump-samples 5) && [ -f "$W/p3/s.h5" ] && [ -f "$W/p3/s.h5.dumps.h5" ]; then
    ok
    $PY "$W/check.py" "$W/p3/s.h5.dumps.h5" 5 "$W/ref" "" "${NAMES[@]}" && ok ||
        bad "3-rank dump content"
    (cd / && $PY "$W/link.py" "$W/p3/s.h5" "$W/p3/s.h5.dumps.h5" 5) && ok ||
        bad "/dumps link (3 ranks, relative -o)"
    [ -z "$(leftovers "$W/p3")" ] && ok || bad "files left behind: $(leftovers "$W/p3")"
else
    bad "mpirun -n 3 calibrate --dump failed: $(tail -n 5 "$W/p3.log")"
fi

# 2. One and two ranks give the same datasets; --dump-out puts the file elsewhere (and the link
#    follows it); --dump-samples beyond the sample count is clamped to 12.
for P in 1 2; do
    mkdir -p "$W/p$P" "$W/p$P/d"
    if run_mpi "$P" "$W/p$P.log" --data "$W/img" -o "$W/p$P/s.h5" --dump 'conv|input' \
        --dump-samples 5 --dump-out "$W/p$P/d/x.h5" && [ -f "$W/p$P/d/x.h5" ]; then
        ok
        $PY "$W/check.py" "$W/p$P/d/x.h5" 5 "$W/ref" "" "${NAMES[@]}" && ok ||
            bad "$P-rank dump content"
        [ ! -e "$W/p$P/s.h5.dumps.h5" ] && ok || bad "--dump-out also wrote the default file"
        $PY "$W/link.py" "$W/p$P/s.h5" "$W/p$P/d/x.h5" 5 && ok || bad "/dumps link ($P ranks)"
    else
        bad "mpirun -n $P calibrate --dump failed: $(tail -n 5 "$W/p$P.log")"
    fi
done
mkdir -p "$W/all"
if run_mpi 2 "$W/all.log" --data "$W/img" -o "$W/all/s.h5" --dump '^input$|relu3' \
    --dump-samples 20; then
    $PY "$W/check.py" "$W/all/s.h5.dumps.h5" 12 "$W/ref" "" input /relu3/Relu_output_0 && ok ||
        bad "--dump-samples 20 of 12 samples (clamped)"
else
    bad "mpirun -n 2 calibrate --dump-samples 20 failed: $(tail -n 5 "$W/all.log")"
fi

# 3. A corrupt image as sample 2 with --skip-bad: its rows are NaN, the others exact.
mkdir -p "$W/bad" "$W/skip"
cp "$W"/img/*.png "$W/bad/"
printf 'not a png' >"$W/bad/calib_00002.png"
if run_mpi 3 "$W/skip.log" --data "$W/bad" -o "$W/skip/s.h5" --skip-bad --dump 'conv|input' \
    --dump-samples 5; then
    $PY "$W/check.py" "$W/skip/s.h5.dumps.h5" 5 "$W/ref" 2 "${NAMES[@]}" && ok ||
        bad "dump with a skipped sample"
else
    bad "mpirun -n 3 calibrate --skip-bad --dump failed: $(tail -n 5 "$W/skip.log")"
fi

# 4. Errors: exit status non-zero, one "qcal: error:" line naming the problem, no stats file,
#    no dump file, no temporary file. The dump path being a directory fails only at the final
#    rename, after the collective write: the temporary file must be gone.
expect_error() { # expect_error WHAT PATTERN ARGS... (the folder $W/err holds only adir/ after)
    local what=$1 pat=$2 dir=$W/err
    shift 2
    rm -rf "$dir"
    mkdir -p "$dir/adir/sub"
    if run_mpi 3 "$W/err.log" --data "$W/img" -o "$dir/s.h5" "$@"; then
        bad "$what: exit status 0"
        return
    fi
    local n
    n=$(grep -c '^qcal: error:' "$W/err.log")
    [ "$n" -eq 1 ] && ok || bad "$what: $n error lines: $(cat "$W/err.log")"
    grep -q -- "$pat" "$W/err.log" && ok || bad "$what: message lacks '$pat': $(cat "$W/err.log")"
    [ "$(ls -A "$dir")" = adir ] && [ "$(ls -A "$dir/adir")" = sub ] && ok ||
        bad "$what: files left behind: $(ls -A "$dir" "$dir/adir")"
}
expect_error "invalid regex" "regular expression" --dump 'conv(' --dump-samples 5
expect_error "regex without match" "matches no" --dump 'no_such_tensor' --dump-samples 5
expect_error "missing dump folder" "$W/err/missing" --dump conv --dump-samples 5 \
    --dump-out "$W/err/missing/x.h5"
expect_error "dump path is a folder" "$W/err/adir" --dump conv --dump-samples 5 \
    --dump-out "$W/err/adir"

# 5. The checker must fail on perturbed copies of the 3-rank file.
perturb() { # perturb WHAT PYTHON-STATEMENTS (f is the open file)
    cp "$W/p3/s.h5.dumps.h5" "$W/pert.h5"
    h5_edit "$W/pert.h5" "$2" || { bad "could not perturb $1"; return; }
    if $PY "$W/check.py" "$W/pert.h5" 5 "$W/ref" "" "${NAMES[@]}" >/dev/null; then
        bad "check.py did not notice a perturbed $1"
    else
        ok
    fi
}
if [ -f "$W/p3/s.h5.dumps.h5" ]; then
    perturb "value (one ulp)" "ds = [d for d in f.values() if d.attrs.get('name') == '/conv2/Conv_output_0'][0]; v = ds[3]; v.flat[100] = np.nextafter(v.flat[100], np.float32(np.inf)); ds[3] = v"
    perturb "row order" "ds = f['input']; a = ds[1]; b = ds[2]; ds[1] = b; ds[2] = a"
    perturb "sample_index" "s = f['sample_index']; v = s[()]; v[4] = 5; s[...] = v"
    perturb "name attribute" "ds = f['input']; ds.attrs['name'] = 'input2'"
    perturb "missing dataset" "del f['_conv3_Conv_output_0']"
    perturb "format attribute" "f.attrs['format'] = 'qcal-stats'"
fi

report
