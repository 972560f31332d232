#!/bin/bash
# Error messages keep their reason when they echo a long value (issue 10: a message cut at 512
# characters lost the reason behind a 2000-character path). Every command is given a path of
# 2013 characters in a folder that does not exist; its one "qcal: error:" line must start with
# the path's beginning, have "..." in the middle, and end with the reason.
set -u
Q=${1:?usage: test_long_messages.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=$HERE/data/fmnist
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
M=$D/fmnist_cnn.onnx

seg=$(printf 'd%.0s' $(seq 199))
L=$W/nothere
for _ in $(seq 10); do L=$L/$seg; done
[ ${#L} -gt 2000 ] || bad "the long path has only ${#L} characters"
ls "$D"/calib/calib_0000[0-3].png >"$W/a.txt"
"$Q" calibrate --model "$M" --data "$W/a.txt" --channels gray -o "$W/a.h5" --quiet \
    >"$W/log" 2>&1 || bad "calibrate: $(tail -n 1 "$W/log")"

# check NAME REASON CMD...: one error line, beginning with the path's start, "..." inside, REASON
# at the end.
check() {
    local name=$1 reason=$2
    shift 2
    "$@" >"$W/out.log" 2>"$W/err.log"
    local rc=$? line
    line=$(grep '^qcal: error:' "$W/err.log")
    if [ "$rc" -eq 0 ] || [ "$(grep -c '^qcal: error:' "$W/err.log")" -ne 1 ]; then
        bad "$name: exit $rc, want one error line: $(head -c 300 "$W/err.log")"
    elif [[ "$line" != *"$W/nothere/ddd"* ]] || [[ "$line" != *...* ]] ||
        [[ "$line" != *"$reason" ]]; then
        bad "$name: the message lost its start or its reason '$reason': ${line:0:80}...${line: -120}"
    else
        ok
    fi
}
ENOENT="No such file or directory"
check "inspect" "$ENOENT" "$Q" inspect "$L/s.h5"
check "plot" "$ENOENT" "$Q" plot "$L/s.h5" -o "$W/plots"
check "encode" "$ENOENT" "$Q" encode "$L/s.h5" --method minmax -o "$W/e.json"
check "merge" "$ENOENT" "$Q" merge "$W/a.h5" "$L/s.h5" -o "$W/m.h5"
check "calibrate -o" "$ENOENT" "$Q" calibrate --model "$M" --data "$W/a.txt" --channels gray \
    -o "$L/s.h5"
check "calibrate --model" "$ENOENT" "$Q" calibrate --model "$L/m.onnx" --data "$W/a.txt" \
    -o "$W/s.h5"
check "run --model" "$ENOENT" "$Q" run --model "$L/m.onnx" --input "$D/calib/calib_00000.png"
check "job file" "$ENOENT" "$Q" calibrate "$L/job.yaml"
printf 'model: %s\ndata: %s\nout: %s\n' "$M" "$W/a.txt" "$L/s.h5" >"$W/job.yaml"
check "job file out" "$ENOENT" "$Q" calibrate "$W/job.yaml"
report
