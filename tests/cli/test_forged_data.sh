#!/bin/bash
# Forged data files (issue 10). A PNG whose header claims 100000x100000 pixels over a few bytes
# of data, and a JPEG patched to 60000x60000, are corrupt files: calibrate --skip-bad skips them
# (recorded in /samples/skipped) and finishes, without allocating the claimed image (the run
# gets a 2 GiB address-space limit unless the build is instrumented by a sanitizer); without
# --skip-bad the run stops with one error line naming the file (exit 4, corrupt input). A .npy
# of format version 1.1 is refused (exit 5) by run --input.
set -u
Q=${1:?usage: test_forged_data.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=$HERE/data/fmnist
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
PRE=(--channels gray --mean 0.2860 --std 0.3530)
M=$D/fmnist_cnn.onnx

"$PY" - "$W" "$HERE/data/img/rgb.jpg" <<'PY' || bad "making the forged files"
import struct, sys, zlib
w, jpg = sys.argv[1], sys.argv[2]
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
open(w + "/huge.png", "wb").write(png)
b = bytearray(open(jpg, "rb").read())
i = next(k for k in range(len(b) - 1) if b[k] == 0xFF and b[k + 1] in (0xC0, 0xC2))
b[i + 5:i + 9] = struct.pack(">HH", 60000, 60000)
open(w + "/huge.jpg", "wb").write(bytes(b))
import numpy as np
np.save(w + "/v10.npy", np.zeros((1, 1, 28, 28), np.float32))
raw = bytearray(open(w + "/v10.npy", "rb").read())
raw[7] = 1  # version 1.1
open(w + "/v11.npy", "wb").write(bytes(raw))
PY

{ ls "$D"/calib/calib_0000[0-3].png; echo "$W/huge.png"; echo "$W/huge.jpg"; } >"$W/list.txt"
# No sanitizer: the claimed image (10 GB) could not even be allocated under the limit.
LIMIT="ulimit -v 2097152"
if nm "$Q" 2>/dev/null | grep -q '__asan_init\|__tsan_init\|__msan_init'; then LIMIT=true; fi

(eval "$LIMIT"; exec "$Q" calibrate --model "$M" --data "$W/list.txt" "${PRE[@]}" -o "$W/s.h5" \
    --skip-bad) >"$W/skip.out" 2>"$W/skip.err"
rc=$?
if [ "$rc" -ne 0 ]; then
    bad "--skip-bad: exit $rc: $(tail -n 2 "$W/skip.err")"
elif ! grep -q "skipped: $W/huge.png: corrupt PNG: the header claims 100000x100000 pixels" "$W/skip.err" ||
    ! grep -q "skipped: $W/huge.jpg: corrupt JPEG: the header claims 60000x60000 pixels" "$W/skip.err"; then
    bad "--skip-bad: the forged files are not reported as corrupt: $(cat "$W/skip.err")"
elif ! "$PY" - "$W/s.h5" "$W/huge.png" "$W/huge.jpg" <<'PY'; then
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    sk = sorted(x.decode() if isinstance(x, bytes) else x for x in f["samples/skipped"][()])
    assert sk == sorted(sys.argv[2:]), sk
    assert int(f.attrs["samples"]) == 4, f.attrs["samples"]
PY
    bad "--skip-bad: /samples/skipped or the sample count is wrong"
else
    ok
fi

(eval "$LIMIT"; exec "$Q" calibrate --model "$M" --data "$W/list.txt" "${PRE[@]}" -o "$W/t.h5" \
    --quiet) >"$W/stop.out" 2>"$W/stop.err"
rc=$?
if [ "$rc" -ne 4 ] || [ "$(wc -l <"$W/stop.err")" -ne 1 ] ||
    ! grep -q "^qcal: error: $W/huge.png: corrupt PNG: the header claims" "$W/stop.err" || [ -e "$W/t.h5" ]; then
    bad "without --skip-bad: exit $rc (want 4), stderr: $(cat "$W/stop.err")"
else
    ok
fi

"$Q" run --model "$M" --input "$W/v10.npy" >"$W/run.out" 2>"$W/run.err" || bad "run on a 1.0 .npy: $(cat "$W/run.err")"
"$Q" run --model "$M" --input "$W/v11.npy" >"$W/run.out" 2>"$W/run.err"
rc=$?
if [ "$rc" -ne 5 ] || ! grep -q "^qcal: error: $W/v11.npy: .npy format version 1.1" "$W/run.err"; then
    bad "run on a 1.1 .npy: exit $rc: $(cat "$W/run.err")"
else
    ok
fi
report
