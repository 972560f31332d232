#!/bin/bash
# qcal calibrate JOB.yaml [--set key=value ...] (src/cli/job.c):
# - a demo-style job (relative paths, resolved against the job file's folder; preprocessing as a
#   mapping with a list; two encoding sets: minmax exported as AIMET, percentile 99.99 as
#   aimet1) gives a stats file bit-identical to the command-line calibrate with the same options
#   followed by 'qcal encode' of the second set (only the root attributes created/ranks/
#   rank_samples and the encodings' created may differ), with both sets under /encodings, and
#   export files byte-identical to the command line's; the comparison is shown to catch a
#   difference (a file with one set less, and one with other bins);
# - the same job under mpirun -n 2 gives the same stats file;
# - --set out=... (relative to the current folder), bins, encodings.N.path, null values;
# - jobs/demo.yaml and jobs/template-imagenet.yaml are accepted (the template run on fmnist with
#   --set for its model-specific values);
# - errors (unknown key, wrong type, missing model file, YAML syntax error, missing required key,
#   bad --set, ...): non-zero exit with the documented status, exactly one line
#   'qcal: error: FILE:LINE: key ...' naming the key, no output file; once under mpirun -n 2.
set -u
Q=${1:?usage: test_jobs.sh path/to/qcal}
Q=$(cd "$(dirname "$Q")" && pwd)/$(basename "$Q")
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=$HERE/data/fmnist
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1}
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}

# The job folder: the model through a symlink, a list file of 100 images (relative entries:
# relative to the list) and the job file, all given relative to the job's folder.
J=$W/job
mkdir -p "$J" "$W/out" "$W/cli" "$W/set" "$W/mpi"
ln -s "$D" "$J/fmnist"
for i in $(seq 0 99); do printf 'fmnist/calib/calib_%05d.png\n' "$i"; done >"$J/list.txt"
cat >"$J/demo.yaml" <<'EOF'
# A demo-style job: every path is relative to this file's folder.
model: fmnist/fmnist_cnn.onnx
data: list.txt
out: ../out/stats.h5
quiet: true
preprocess:
  channels: gray
  mean: [0.2860]
  std: 0.3530
encodings:
  - method: minmax
    format: aimet
    path: ../out/enc.json
  - method: percentile
    percentile: 99.99
    format: aimet1
    path: ../out/enc-p.json
EOF

# The same calibration from the command line (same path strings), then the second set added by
# qcal encode.
if "$Q" calibrate --model "$J/fmnist/fmnist_cnn.onnx" --data "$J/list.txt" --channels gray \
    --mean 0.2860 --std 0.3530 -o "$W/cli/stats.h5" --encodings "$W/cli/enc.json" --quiet \
    >"$W/cli.log" 2>&1 && cp "$W/cli/stats.h5" "$W/cli/one-set.h5" &&
    "$Q" encode "$W/cli/stats.h5" --method percentile --percentile 99.99 --format aimet1 \
    -o "$W/cli/enc-p.json" >>"$W/cli.log" 2>&1; then
    ok
else
    bad "command-line calibrate/encode failed: $(tail -n 5 "$W/cli.log")"
    report
    exit 1
fi
"$Q" calibrate --model "$J/fmnist/fmnist_cnn.onnx" --data "$J/list.txt" --channels gray \
    --mean 0.2860 --std 0.3530 -o "$W/cli/bins.h5" --bins 2048 --quiet >/dev/null 2>&1

# Stats files are compared with h5same (tests/lib/h5same.py: every dataset, attribute and link
# exactly) but for the attributes DESIGN.md lets differ between runs (RUN_ATTRS).
same() { h5same "$1" "$2" "${RUN_ATTRS[@]}"; }
# enc_sets FILE: the labels of the file's encoding sets, sorted, joined by ", ".
enc_sets() {
    $PY -c 'import sys, h5py; print(", ".join(sorted(h5py.File(sys.argv[1], "r")["encodings"])))' "$1"
}

# The job (by its absolute path: model_path and the data path are stored as resolved, so the
# command line above gave the same strings; the --set test below runs it by a relative path).
if (cd "$W" && "$Q" calibrate "$J/demo.yaml") >"$W/job.log" 2>&1; then
    ok
else
    bad "job failed: $(tail -n 5 "$W/job.log")"
fi
if same "$W/out/stats.h5" "$W/cli/stats.h5" >"$W/cmp.log" 2>&1; then
    ok
else
    bad "job stats != command line: $(cat "$W/cmp.log")"
fi
# Both sets are there, under their default labels.
sets=$(enc_sets "$W/out/stats.h5")
if [ "$sets" = "minmax-a8-w8, percentile-a8-w8" ]; then ok; else bad "encoding sets: $sets"; fi
# The comparison can fail: one set less, other bins.
for other in one-set bins; do
    same "$W/out/stats.h5" "$W/cli/$other.h5" >/dev/null 2>&1
    [ $? -eq 1 ] && ok || bad "the comparison found no difference with $other.h5"
done
# The exports exist, parse, have the requested layout and equal the command line's.
for f in enc enc-p; do
    if cmp -s "$W/out/$f.json" "$W/cli/$f.json"; then ok; else
        bad "$f.json differs from the command line's (or is missing)"; fi
done
if $PY - "$W/out/enc.json" "$W/out/enc-p.json" <<'PY'; then ok; else bad "exports do not parse"; fi
import json, sys
a, p = (json.load(open(f)) for f in sys.argv[1:3])
assert "activation_encodings" in a and "param_encodings" in a
# AIMET 0.6.1: a mapping by tensor name; AIMET 1.0.0: a list of entries with a name.
assert isinstance(a["activation_encodings"], dict) and a["activation_encodings"]
assert isinstance(p["activation_encodings"], list) and p["activation_encodings"]
assert all("name" in e for e in p["activation_encodings"])
PY

# Under mpirun -n 2: the same stats file (the exports moved to another folder with --set).
if timeout 300 mpirun -n 2 --oversubscribe "$Q" calibrate "$J/demo.yaml" \
    --set out="$W/mpi/stats.h5" --set encodings.0.path="$W/mpi/enc.json" \
    --set encodings.1.path="$W/mpi/enc-p.json" >"$W/mpi.log" 2>&1 &&
    same "$W/mpi/stats.h5" "$W/cli/stats.h5" >>"$W/mpi.log" 2>&1 &&
    $PY -c "import h5py,sys; sys.exit(int(h5py.File(sys.argv[1]).attrs['ranks']) != 2)" \
    "$W/mpi/stats.h5" &&
    cmp -s "$W/mpi/enc.json" "$W/cli/enc.json" && cmp -s "$W/mpi/enc-p.json" "$W/cli/enc-p.json"
then
    ok
else
    bad "mpirun -n 2 job: $(tail -n 5 "$W/mpi.log")"
fi

# --set: out relative to the current folder (not the job's), bins, no second export (null).
rm -f "$W/out/enc-p.json"
if (cd "$W/set" && "$Q" calibrate ../job/demo.yaml --set out=s.h5 --set bins=2048 \
    --set encodings.0.path=e.json --set encodings.1.path=null) >"$W/set.log" 2>&1 &&
    [ -f "$W/set/s.h5" ] && [ -f "$W/set/e.json" ] && [ ! -e "$W/job/s.h5" ] &&
    [ ! -e "$W/out/enc-p.json" ]; then
    ok
else
    bad "--set out/bins/paths: $(tail -n 3 "$W/set.log"; ls "$W/set")"
fi
if $PY -c "import h5py,sys; f=h5py.File(sys.argv[1]); sys.exit(int(f.attrs['bins']) != 2048 or \
    len(f['encodings']) != 2)" "$W/set/s.h5" 2>/dev/null; then ok; else
    bad "--set bins=2048 not applied"; fi

# The command line's single-set form (method, percentile, format and `encodings` as the export
# path at top level) and data as a mapping by input name, with a NAME=PATH --set afterwards.
mkdir -p "$W/one"
cat >"$J/one.yaml" <<'EOF'
model: fmnist/fmnist_cnn.onnx
data: {input: list.txt}
out: ../one/stats.h5
quiet: yes
channels: gray
mean: 0.2860
std: 0.3530
method: percentile
percentile: 99.9
format: aimet1
encodings: ../one/enc.json
EOF
if "$Q" calibrate "$J/one.yaml" >"$W/one.log" 2>&1 &&
    "$Q" calibrate --model "$J/fmnist/fmnist_cnn.onnx" --data "input=$J/list.txt" \
    --channels gray --mean 0.2860 --std 0.3530 --method percentile --percentile 99.9 \
    --format aimet1 -o "$W/cli/one.h5" --encodings "$W/cli/one.json" --quiet >>"$W/one.log" 2>&1 &&
    same "$W/one/stats.h5" "$W/cli/one.h5" >>"$W/one.log" 2>&1 &&
    [ "$(enc_sets "$W/one/stats.h5")" = percentile-a8-w8 ] &&
    cmp -s "$W/one/enc.json" "$W/cli/one.json"
then
    ok
else
    bad "single-set job: $(tail -n 5 "$W/one.log")"
fi
if "$Q" calibrate "$J/one.yaml" --set data="input=$J/list.txt" --set out="$W/one/s2.h5" \
    --set encodings=null >"$W/one2.log" 2>&1 &&
    same "$W/one/s2.h5" "$W/one/stats.h5" >>"$W/one2.log" 2>&1; then
    ok
else
    bad "--set data=NAME=PATH: $(tail -n 5 "$W/one2.log")"
fi

# jobs/demo.yaml and the template are valid: run them with their outputs moved to $W (the
# template's model-specific values replaced for the fmnist model).
mkdir -p "$W/demo" "$W/tpl"
if "$Q" calibrate "$HERE/../jobs/demo.yaml" --set quiet=true --set out="$W/demo/stats.h5" \
    --set encodings.0.path="$W/demo/e0.json" --set encodings.1.path="$W/demo/e1.json" \
    >"$W/demo.log" 2>&1 && [ -f "$W/demo/e1.json" ]; then ok; else
    bad "jobs/demo.yaml: $(tail -n 3 "$W/demo.log")"; fi
if "$Q" calibrate "$HERE/../jobs/template-imagenet.yaml" --set model="$D/fmnist_cnn.onnx" \
    --set data="$J/list.txt" --set size=28x28 --set channels=gray --set mean=0.2860 \
    --set std=0.3530 --set quiet=true --set out="$W/tpl/stats.h5" \
    --set encodings.0.path="$W/tpl/e0.json" --set encodings.1.path="$W/tpl/e1.json" \
    >"$W/tpl.log" 2>&1 && [ -f "$W/tpl/e0.json" ] &&
    $PY -c "import h5py,sys; sys.exit(len(h5py.File(sys.argv[1])['encodings']) != 3)" \
    "$W/tpl/stats.h5"; then ok; else
    bad "jobs/template-imagenet.yaml: $(tail -n 3 "$W/tpl.log")"; fi

# Errors. expect_error NAME CODE REGEX [--set ...]: runs $W/err/NAME.yaml (written before) and
# requires exit status CODE, exactly one stderr line matching 'qcal: error: REGEX' and nothing
# written to $W/err/out.
mkdir -p "$W/err/out"
HEAD="model: $D/fmnist_cnn.onnx
data: $J/list.txt
out: out/stats.h5"
expect_error() {
    local name=$1 code=$2 re=$3
    shift 3
    "$Q" calibrate "$W/err/$name.yaml" "$@" >"$W/err/$name.out" 2>"$W/err/$name.err"
    local rc=$?
    if [ "$rc" -ne "$code" ]; then
        bad "$name: exit $rc, expected $code: $(cat "$W/err/$name.err")"
    elif [ "$(wc -l <"$W/err/$name.err")" -ne 1 ] || [ -s "$W/err/$name.out" ] ||
        ! grep -Eq "^qcal: error: $re" "$W/err/$name.err"; then
        bad "$name: message '$(cat "$W/err/$name.err")' does not match '$re'"
    elif [ -n "$(ls -A "$W/err/out")" ]; then
        bad "$name: wrote $(ls "$W/err/out")"
    else
        ok
    fi
}
E=$W/err
printf '%s\nquiet: true\nbogus: 1\n' "$HEAD" >"$E/unknown.yaml"
expect_error unknown 1 "$E/unknown.yaml:5: key 'bogus': unknown key"
printf '%s\n\nbins: many\n' "$HEAD" >"$E/bins.yaml"
expect_error bins 1 "$E/bins.yaml:5: key 'bins': expected a whole number, got 'many'$"
printf '%s\nbins:\n  - 1024\n  - 2048\n' "$HEAD" >"$E/binslist.yaml"
expect_error binslist 1 "$E/binslist.yaml:5: key 'bins': expected a whole number, got a list$"
printf '%s\nbins: 1000\n' "$HEAD" >"$E/bins2.yaml"
expect_error bins2 1 "$E/bins2.yaml:4: key 'bins': .*power of two"
printf '%s\nskip-bad: maybe\n' "$HEAD" >"$E/bool.yaml"
expect_error bool 1 "$E/bool.yaml:4: key 'skip-bad': expected true or false, got 'maybe'$"
printf 'model: nope/missing.onnx\ndata: %s\nout: out/stats.h5\n' "$J/list.txt" >"$E/model.yaml"
expect_error model 3 "$E/model.yaml:1: key 'model': $E/nope/missing.onnx: No such file"
printf 'model: %s\ndata: [missing-dir]\nout: out/stats.h5\n' "$D/fmnist_cnn.onnx" >"$E/data.yaml"
expect_error data 3 "$E/data.yaml:2: key 'data\\[0\\]': $E/missing-dir: No such file"
printf '%s\npreprocess:\n  mean: [0.5, 0.4\n  std: 1\n' "$HEAD" >"$E/syntax.yaml"
expect_error syntax 1 "$E/syntax.yaml:[0-9]+: YAML syntax error: "
printf '%s\n\tquiet: true\n' "$HEAD" >"$E/tab.yaml"
expect_error tab 1 "$E/tab.yaml:4: YAML syntax error: "
printf 'model: %s\ndata: %s\n' "$D/fmnist_cnn.onnx" "$J/list.txt" >"$E/noout.yaml"
expect_error noout 1 "$E/noout.yaml:1: key 'out': missing"
printf '%s\npreprocess:\n  channels: gray\n  mean: [0.5, x]\n' "$HEAD" >"$E/mean.yaml"
expect_error mean 1 "$E/mean.yaml:6: key 'preprocess.mean': .*'0.5,x'"
printf '%s\npreprocess: {colour: rgb}\n' "$HEAD" >"$E/ppkey.yaml"
expect_error ppkey 1 "$E/ppkey.yaml:4: key 'preprocess.colour': unknown key"
printf '%s\nmean: 0.5\npreprocess: {mean: 0.4}\n' "$HEAD" >"$E/pptwice.yaml"
expect_error pptwice 1 "$E/pptwice.yaml:5: key 'preprocess.mean': given twice \\(also on line 4\\)"
printf '%s\nbins: 1024\nbins: 2048\n' "$HEAD" >"$E/twice.yaml"
expect_error twice 1 "$E/twice.yaml:5: key 'bins': given twice \\(also on line 4\\)"
printf '%s\nencodings:\n  - method: minmax\n  - method: percentile\n    colour: red\n' \
    "$HEAD" >"$E/enckey.yaml"
expect_error enckey 1 "$E/enckey.yaml:7: key 'encodings\\[1\\].colour': unknown key"
printf '%s\nencodings:\n  - method: median\n' "$HEAD" >"$E/method.yaml"
expect_error method 1 "$E/method.yaml:5: key 'encodings\\[0\\].method': .*median"
printf '%s\nencodings:\n  - method: minmax\n  - act-bitwidth: 8\n' "$HEAD" >"$E/label.yaml"
expect_error label 1 "$E/label.yaml:6: key 'encodings\\[1\\]': label 'minmax-a8-w8' is already used"
printf '%s\nencodings:\n  - overrides: "conv=16"\n' "$HEAD" >"$E/ovr.yaml"
expect_error ovr 1 "$E/ovr.yaml:5: key 'encodings\\[0\\].overrides': expected a list"
printf '%s\nencodings:\n  - path: nowhere/enc.json\n' "$HEAD" >"$E/encdir.yaml"
expect_error encdir 3 "$E/encdir.yaml:5: key 'encodings\\[0\\].path': .*folder"
printf '%s\nmethod: percentile\nencodings: [{method: minmax}]\n' "$HEAD" >"$E/mixed.yaml"
expect_error mixed 1 "$E/mixed.yaml:4: key 'method': with an 'encodings' list"
printf -- '- model: x.onnx\n' >"$E/notmap.yaml"
expect_error notmap 1 "$E/notmap.yaml:1: expected a mapping of keys"
printf '%s\n---\nbins: 8\n' "$HEAD" >"$E/twodocs.yaml"
expect_error twodocs 1 "$E/twodocs.yaml:4: more than one YAML document"
# Issue 10: a scalar where a list of sets is expected, YAML tags, and an export file that is
# also the stats file (or another export, or the dump file) are errors; nothing is written.
printf '%s\nencodings: minmax\n' "$HEAD" >"$E/encscalar.yaml"
expect_error encscalar 1 "$E/encscalar.yaml:4: key 'encodings': expected a list of encoding sets .*'minmax'"
printf '%s\nencodings: {method: minmax}\n' "$HEAD" >"$E/encmap.yaml"
expect_error encmap 1 "$E/encmap.yaml:4: key 'encodings': expected a list of encoding sets .*got a mapping"
printf '%s\nencodings:\n  - path: percentile\n' "$HEAD" >"$E/pathmethod.yaml"
expect_error pathmethod 1 "$E/pathmethod.yaml:5: key 'encodings\\[0\\].path': expected an export file name, got the method name"
printf 'model: %s\ndata: %s\nout: !!int 5\n' "$D/fmnist_cnn.onnx" "$J/list.txt" >"$E/tagint.yaml"
expect_error tagint 1 "$E/tagint.yaml:3: YAML tag '!!int' is not supported"
printf '%s\nbins: !!float 1024\n' "$HEAD" >"$E/tagfloat.yaml"
expect_error tagfloat 1 "$E/tagfloat.yaml:4: YAML tag '!!float' is not supported"
printf '%s\nencodings:\n  - !mine {method: minmax}\n' "$HEAD" >"$E/tagown.yaml"
expect_error tagown 1 "$E/tagown.yaml:5: YAML tag '!mine' is not supported"
printf '%s\nencodings: out/stats.h5\n' "$HEAD" >"$E/encout.yaml"
expect_error encout 1 "$E/encout.yaml: calibrate: the export file .*out/stats.h5 of encoding set 0 is also the stats file"
printf '%s\nencodings:\n  - method: minmax\n  - method: percentile\n    path: ./out/../out/stats.h5\n' \
    "$HEAD" >"$E/encout2.yaml"
expect_error encout2 1 "$E/encout2.yaml: calibrate: the export file .* of encoding set 1 is also the stats file"
printf '%s\nencodings:\n  - path: out/e.json\n  - method: mse\n    path: out/./e.json\n' \
    "$HEAD" >"$E/enctwice.yaml"
expect_error enctwice 1 "$E/enctwice.yaml: calibrate: the export file .*e.json is written by encoding sets 0 and 1"
printf '%s\ndump: conv\ndump-samples: 1\ndump-out: out/e.json\nencodings: out/e.json\n' \
    "$HEAD" >"$E/encdump.yaml"
expect_error encdump 1 "$E/encdump.yaml: calibrate: the export file .*e.json of encoding set 0 is also the dump file"
# !!str is the default tag: accepted (the run then fails on its missing data, not on the tag).
printf 'model: %s\ndata: !!str %s\nout: !!str out/stats.h5\nbins: !!str x\n' \
    "$D/fmnist_cnn.onnx" "$J/list.txt" >"$E/tagstr.yaml"
expect_error tagstr 1 "$E/tagstr.yaml:4: key 'bins': expected a whole number, got 'x'"
cp "$E/noout.yaml" "$E/set.yaml"
expect_error set 1 "--set bins=many: key 'bins': expected a whole number, got 'many'$" \
    --set out="$E/out/x.h5" --set bins=many
expect_error set 1 "--set colour=red: key 'colour': unknown key" --set out="$E/out/x.h5" \
    --set colour=red
expect_error set 1 "--set encodings.3.method=mse: the job file has no encodings entry 3" \
    --set out="$E/out/x.h5" --set encodings.3.method=mse
expect_error set 1 "--set out: expected KEY=VALUE" --set out
expect_error set 3 "--set model=missing.onnx: key 'model': missing.onnx: No such file" \
    --set model=missing.onnx --set out="$E/out/x.h5"
expect_error nofile 3 "$E/nofile.yaml: No such file"
# An error under mpirun -n 2 is printed once.
if timeout 120 mpirun -n 2 --oversubscribe "$Q" calibrate "$E/bins.yaml" >"$E/mpi.out" \
    2>"$E/mpi.err"; then
    bad "mpirun -n 2: bad job succeeded"
elif [ "$(grep -c "qcal: error: $E/bins.yaml:5: key 'bins'" "$E/mpi.err")" -ne 1 ]; then
    bad "mpirun -n 2: error not printed exactly once: $(cat "$E/mpi.err")"
else
    ok
fi

report
