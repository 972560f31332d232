#!/bin/bash
# A failed 'qcal plot' leaves no PNG behind (issue 10). Two failures of the 12-activation fmnist
# plot: (1) the file name of a later activation is taken by a directory: refused before any
# picture is written; (2) the output folder is a small tmpfs (root, where mounting is allowed)
# that fills up after a few pictures: the write of one fails and the pictures written before it
# are removed. Each run exits non-zero with one "qcal: error:" line and leaves no *.png and no
# temporary file; a run that succeeds afterwards writes all 12.
set -u
Q=${1:?usage: test_plot_cleanup.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=$HERE/data/fmnist
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
PRE=(--channels gray --mean 0.2860 --std 0.3530)
MOUNTED=0
at_exit() { [ "$MOUNTED" = 1 ] && umount "$W/disk" 2>/dev/null; }

ls "$D"/calib/calib_0000[0-3].png >"$W/a.txt"
"$Q" calibrate --model "$D/fmnist_cnn.onnx" --data "$W/a.txt" "${PRE[@]}" -o "$W/a.h5" --quiet \
    >"$W/log" 2>&1 || bad "calibrate: $(tail -n 1 "$W/log")"
"$Q" plot "$W/a.h5" -o "$W/all" >"$W/all.txt" 2>"$W/log" || bad "plot: $(cat "$W/log")"
[ "$(wc -l <"$W/all.txt")" -eq 12 ] || bad "plot listed $(wc -l <"$W/all.txt") files, want 12"
LAST=$(tail -n 1 "$W/all.txt")
LAST=${LAST##*/}

# failed NAME DIR CMD...: non-zero exit, one error line, no PNG or temporary file in DIR.
failed() {
    local name=$1 dir=$2
    shift 2
    "$@" >"$W/out.txt" 2>"$W/err.txt"
    local rc=$? pngs
    pngs=$(find "$dir" -name '*.png' -type f | wc -l)
    if [ "$rc" -eq 0 ] || [ "$rc" -gt 100 ]; then
        bad "$name: exit $rc (want a qcal error)"
    elif [ "$(wc -l <"$W/err.txt")" -ne 1 ] || ! grep -q '^qcal: error:' "$W/err.txt"; then
        bad "$name: want one error line, got: $(head -c 300 "$W/err.txt")"
    elif [ "$pngs" -ne 0 ] || [ -s "$W/out.txt" ]; then
        bad "$name: $pngs PNGs left behind (stdout: $(head -c 200 "$W/out.txt"))"
    elif find "$dir" -name '*.tmp.*' | grep -q .; then
        bad "$name: temporary files left: $(find "$dir" -name '*.tmp.*')"
    else
        ok
    fi
}

mkdir -p "$W/p1/$LAST"
failed "directory in the way" "$W/p1" "$Q" plot "$W/a.h5" -o "$W/p1"
grep -q "$LAST: is a directory, not a regular file" "$W/err.txt" ||
    bad "directory in the way: the error does not name $LAST: $(cat "$W/err.txt")"
rmdir "$W/p1/$LAST"
"$Q" plot "$W/a.h5" -o "$W/p1" >"$W/out.txt" 2>"$W/err.txt" && [ "$(ls "$W/p1" | wc -l)" -eq 12 ] &&
    ok || bad "plot after removing the directory: $(cat "$W/err.txt")"

# A tmpfs that holds about a third of the pictures.
size=$(du -cb "$W/all"/*.png | tail -n 1 | cut -f 1)
mkdir -p "$W/disk"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=$((size / 3 / 4096 * 4096 + 4096)) tmpfs "$W/disk" 2>/dev/null; then
    MOUNTED=1
    failed "full disk" "$W/disk" "$Q" plot "$W/a.h5" -o "$W/disk"
    grep -q "No space left on device" "$W/err.txt" ||
        bad "full disk: the error does not say why: $(cat "$W/err.txt")"
else
    echo "note: tmpfs not mounted (needs root): full-disk case not run"
fi
report
