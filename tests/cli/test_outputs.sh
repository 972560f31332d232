#!/bin/bash
# Outputs are regular files only (issue 10: as root, `-o /dev/null` used to replace /dev/null by
# a regular file). Every output of every command is named in turn as each of: /dev/null, a FIFO
# (mkfifo), a directory and a symlink to /dev/null; the outputs are calibrate -o, --encodings and
# --dump-out, a job file's out and encodings path, encode -o, merge -o, one of plot's DIR/*.png
# and run's DIR/logits.npy. Each run must exit non-zero with exactly one "qcal: error:" line that
# names the file and says it is not a regular file, write no other output (the refusal comes
# before any work), and the target must be left as it was: /dev/null still a character device,
# the FIFO still a FIFO, the directory still a directory, the symlink still pointing at
# /dev/null. Last, a regular file and a symlink to a regular file are still accepted.
set -u
Q=${1:?usage: test_outputs.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=$HERE/data/fmnist
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
PRE=(--channels gray --mean 0.2860 --std 0.3530)
M=$D/fmnist_cnn.onnx

ls "$D"/calib/calib_0000[0-3].png >"$W/a.txt"
ls "$D"/calib/calib_0000[4-7].png >"$W/b.txt"
CAL=(calibrate --model "$M" "${PRE[@]}" --quiet)
"$Q" "${CAL[@]}" --data "$W/a.txt" -o "$W/a.h5" >"$W/log" 2>&1 || bad "calibrate a: $(tail -n 1 "$W/log")"
"$Q" "${CAL[@]}" --data "$W/b.txt" -o "$W/b.h5" >"$W/log" 2>&1 || bad "calibrate b: $(tail -n 1 "$W/log")"
mkdir -p "$W/plots"
"$Q" plot "$W/a.h5" -o "$W/plots" >"$W/plots.txt" 2>"$W/log" || bad "plot: $(tail -n 1 "$W/log")"
PNG=$(head -n 1 "$W/plots.txt")
PNG=${PNG##*/}
[ -n "$PNG" ] || { bad "plot wrote no file"; report; exit 1; }

# make_target KIND PATH: PATH becomes a FIFO, a directory or a symlink to /dev/null (devnull:
# nothing, the caller names /dev/null itself).
make_target() {
    rm -rf "$2"
    case $1 in
    fifo) mkfifo "$2" ;;
    dir) mkdir "$2" ;;
    link) ln -s /dev/null "$2" ;;
    esac
}
# intact KIND PATH: the target is what it was.
intact() {
    case $1 in
    devnull) [ -c /dev/null ] ;;
    fifo) [ -p "$2" ] ;;
    dir) [ -d "$2" ] && [ ! -L "$2" ] ;;
    link) [ -L "$2" ] && [ "$(readlink "$2")" = /dev/null ] && [ -c /dev/null ] ;;
    esac
}
# refused WHAT KIND PATH NOT_WRITTEN... -- CMD...: CMD fails with one error line naming PATH as
# not a regular file, PATH is intact and none of the NOT_WRITTEN files exists.
refused() {
    local what=$1 kind=$2 path=$3
    shift 3
    local absent=()
    while [ "$1" != -- ]; do absent+=("$1"); shift; done
    shift
    timeout 120 "$@" >"$W/out.log" 2>"$W/err.log"
    local rc=$?
    local n
    n=$(grep -c '^qcal: error:' "$W/err.log")
    if [ "$rc" -eq 0 ] || [ "$rc" -ge 124 ]; then
        bad "$what ($kind): exit status $rc (want a qcal error): $(tail -n 1 "$W/err.log")"
    elif [ "$n" -ne 1 ] || [ "$(wc -l <"$W/err.log")" -ne 1 ]; then
        bad "$what ($kind): want one error line, got: $(head -c 400 "$W/err.log")"
    elif ! grep -qF "$path" "$W/err.log" || ! grep -q 'not a regular file' "$W/err.log"; then
        bad "$what ($kind): the error does not name $path as not a regular file: $(cat "$W/err.log")"
    else
        ok
    fi
    intact "$kind" "$path" || bad "$what ($kind): $path was replaced ($(ls -ld "$path" 2>&1))"
    for f in "${absent[@]}"; do
        [ -e "$f" ] && bad "$what ($kind): $f was written although an output was refused"
        rm -rf "$f"
    done
}

for kind in ${KINDS:-devnull fifo dir link}; do
    T=$W/target
    if [ "$kind" = devnull ]; then T=/dev/null; else make_target "$kind" "$T"; fi
    rm -f "$W"/*.tmp.* "$W/s.h5" "$W/e.json"

    refused "calibrate -o" "$kind" "$T" "$T.ckpt" -- \
        "$Q" "${CAL[@]}" --data "$W/a.txt" -o "$T"
    refused "calibrate --encodings" "$kind" "$T" "$W/s.h5" -- \
        "$Q" "${CAL[@]}" --data "$W/a.txt" -o "$W/s.h5" --encodings "$T"
    refused "calibrate --dump-out" "$kind" "$T" "$W/s.h5" -- \
        "$Q" "${CAL[@]}" --data "$W/a.txt" -o "$W/s.h5" --dump conv --dump-samples 1 \
        --dump-out "$T"
    printf 'model: %s\ndata: %s\nout: %s\nquiet: true\nchannels: gray\n' "$M" "$W/a.txt" "$T" \
        >"$W/job_out.yaml"
    refused "job file out" "$kind" "$T" -- "$Q" calibrate "$W/job_out.yaml"
    printf 'model: %s\ndata: %s\nout: %s\nquiet: true\nchannels: gray\nencodings:\n  - method: minmax\n    path: %s\n' \
        "$M" "$W/a.txt" "$W/s.h5" "$T" >"$W/job_enc.yaml"
    refused "job file encodings path" "$kind" "$T" "$W/s.h5" -- "$Q" calibrate "$W/job_enc.yaml"
    cp "$W/a.h5" "$W/a_copy.h5"
    refused "encode -o" "$kind" "$T" -- "$Q" encode "$W/a_copy.h5" --method percentile -o "$T"
    cmp -s "$W/a.h5" "$W/a_copy.h5" || bad "encode -o ($kind): the stats file was rewritten"
    refused "merge -o" "$kind" "$T" -- "$Q" merge "$W/a.h5" "$W/b.h5" -o "$T"

    # plot and run: one file of the output folder is the target (a symlink to it for /dev/null).
    rm -rf "$W/pd" "$W/rd"
    mkdir -p "$W/pd" "$W/rd"
    if [ "$kind" = devnull ]; then
        ln -s /dev/null "$W/pd/$PNG"
        ln -s /dev/null "$W/rd/logits.npy"
        refused "plot DIR file" link "$W/pd/$PNG" -- "$Q" plot "$W/a.h5" -o "$W/pd"
        refused "run -o DIR file" link "$W/rd/logits.npy" -- \
            "$Q" run --model "$M" --input "$D/calib/calib_00000.png" "${PRE[@]}" -o "$W/rd"
    else
        make_target "$kind" "$W/pd/$PNG"
        make_target "$kind" "$W/rd/logits.npy"
        refused "plot DIR file" "$kind" "$W/pd/$PNG" -- "$Q" plot "$W/a.h5" -o "$W/pd"
        refused "run -o DIR file" "$kind" "$W/rd/logits.npy" -- \
            "$Q" run --model "$M" --input "$D/calib/calib_00000.png" "${PRE[@]}" -o "$W/rd"
    fi
    n=$(find "$W/pd" -name '*.png' -type f | wc -l)
    [ "$n" -eq 0 ] || bad "plot DIR file ($kind): $n PNGs written before the refusal"
    [ "$kind" = devnull ] || rm -rf "$T"
done
[ -c /dev/null ] || bad "/dev/null is no longer a character device"

# Two outputs naming one file (an export over the stats file) are refused before any work.
"$Q" "${CAL[@]}" --data "$W/a.txt" -o "$W/same.h5" --encodings "$W/./same.h5" >"$W/log" 2>&1
rc=$?
if [ "$rc" -ne 1 ] || ! grep -q "^qcal: error: .*also the stats file" "$W/log" || [ -e "$W/same.h5" ]; then
    bad "-o and --encodings on one file: exit $rc: $(cat "$W/log")"
else
    ok
fi

# The checkpoint folder <out>.ckpt is never a file or a symlink: refused, and left alone.
echo keep >"$W/ck.h5.ckpt"
mkdir -p "$W/elsewhere"
ln -s "$W/elsewhere" "$W/cl.h5.ckpt"
for o in ck cl; do
    "$Q" "${CAL[@]}" --data "$W/a.txt" -o "$W/$o.h5" --checkpoint-every 1 >"$W/log" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ] || ! grep -q "^qcal: error: .*$o.h5.ckpt: exists and is not a directory" "$W/log" ||
        [ -e "$W/$o.h5" ]; then
        bad "checkpoint folder $o.h5.ckpt in the way: exit $rc: $(cat "$W/log")"
    else
        ok
    fi
done
[ "$(cat "$W/ck.h5.ckpt")" = keep ] || bad "the file ck.h5.ckpt was changed"
[ -L "$W/cl.h5.ckpt" ] && [ -z "$(ls -A "$W/elsewhere")" ] || bad "the symlink cl.h5.ckpt was followed"

# Regular files, and a symlink to one, are still outputs.
echo old >"$W/reg.h5"
ln -sf "$W/reg.h5" "$W/reg_link.h5"
if "$Q" merge "$W/a.h5" "$W/b.h5" -o "$W/reg.h5" >"$W/log" 2>&1 &&
    "$Q" merge "$W/a.h5" "$W/b.h5" -o "$W/reg_link.h5" >>"$W/log" 2>&1 &&
    "$Q" inspect "$W/reg.h5" >/dev/null 2>>"$W/log" && "$Q" inspect "$W/reg_link.h5" >/dev/null 2>>"$W/log"; then
    ok
else
    bad "merge onto a regular file or a symlink to one: $(tail -n 2 "$W/log")"
fi
ls "$W"/*.tmp.* >/dev/null 2>&1 && bad "temporary files left: $(ls "$W"/*.tmp.*)"
report
