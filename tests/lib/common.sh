# shellcheck shell=bash
# Shared by the test scripts of tests/cli and tests/mpi; sourced, not run:
#     HERE=$(cd "$(dirname "$0")/.." && pwd)      # the tests/ folder
#     . "$HERE/lib/common.sh"
# It gives a script:
# - PY, the Python with numpy, h5py and onnx (/usr/bin/python3, not a pyenv one on PATH);
# - W, a fresh temporary folder removed when the script exits (a script that needs more cleanup,
#   such as killing a background job, defines at_exit(), which runs first);
# - ok and bad MESSAGE, which count the checks (bad prints "FAIL: MESSAGE");
# - report, which prints the closing line ctest's log shows, "N passed, N failed", and returns 0
#   only when nothing failed (a script ends with it; an early stop is "report; exit 1");
# - h5same A B [--ignore PATTERN ...] [--require PATTERN ...]: exact comparison of two HDF5
#   files (tests/lib/h5same.py: exit 0 same, 1 different, 2 unreadable), and RUN_ATTRS, the
#   --ignore list of what two runs over the same data may differ in;
# - h5_edit FILE STATEMENTS: runs Python statements with FILE open read-write as f (h5py, numpy
#   as np), for the perturbed copies that show a checker can fail;
# - fmnist_two_sets OUT: a stats file with two encoding sets (see below).

PY=/usr/bin/python3
TESTLIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
report() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}

W=$(mktemp -d) || exit 1
common_exit() {
    if declare -F at_exit >/dev/null; then at_exit; fi
    rm -rf "$W"
}
trap common_exit EXIT

h5same() { "$PY" "$TESTLIB/h5same.py" "$@"; }
# DESIGN.md "HDF5 stats file": only the root attributes ranks, rank_samples and created and the
# encoding sets' created depend on the rank count and the time of a run.
# shellcheck disable=SC2034 # used by the scripts that source this file
RUN_ATTRS=(--ignore /@ranks /@rank_samples /@created '/encodings/*@created')

h5_edit() {
    "$PY" - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    exec(sys.argv[2])
PY
}

# fmnist_two_sets OUT: calibrates the first 50 fmnist calib images (listed in $W/list.txt) with
# the script's Q, D (tests/data/fmnist) and PRE (its preprocessing) into OUT, whose default set
# minmax-a8-w8 is joined by percentile-a8-w8 copied in with h5py from a second run ($W/fmp.h5).
# Each failing step counts as bad; success counts nothing.
fmnist_two_sets() {
    local out=$1
    ls "$D/calib" | head -n 50 | sed "s|^|$D/calib/|" >"$W/list.txt"
    "$Q" calibrate --model "$D/fmnist_cnn.onnx" --data "$W/list.txt" "${PRE[@]}" -o "$out" \
        --quiet >"$W/cal.log" 2>&1 || bad "calibrate fmnist: $(tail -n 1 "$W/cal.log")"
    "$Q" calibrate --model "$D/fmnist_cnn.onnx" --data "$W/list.txt" "${PRE[@]}" -o "$W/fmp.h5" \
        --method percentile --quiet >"$W/cal.log" 2>&1 || bad "calibrate fmnist percentile"
    "$PY" - "$out" "$W/fmp.h5" <<'PY' || bad "h5py copy of the encoding set"
import sys, h5py
with h5py.File(sys.argv[1], "r+") as a, h5py.File(sys.argv[2], "r") as b:
    b.copy(b["encodings/percentile-a8-w8"], a["encodings"])
PY
}
