#!/bin/bash
# Damaged stats files are refused by every reader (issue 10): copies of a real fmnist stats file
# are edited with h5py (one inconsistency each: bitwidth 0 or 1000, scale NaN/0/negative, an
# offset out of range, an encoding of an unknown tensor, min > max, samples = 0, rank_samples
# not adding up, duplicate sample paths or tensor names, an empty name, a bad kind, weight
# channel counts that do not add up, numbers stored as floats or strings), and a variable-length string column is damaged byte-wise
# (the heap reference of one row: its object index, its collection address, its length), which
# crashed HDF5's global heap reader (H5HG_read); so are the references of string attributes
# (qcal_version, model_path, graph_outputs, an encoding set's method). Each file must make inspect fail with exit 4
# and exactly one "qcal: error:" line naming the dataset; encode, merge and plot are run on a
# few of them, and on every heap case, with the same expectation (no signal, no output file).
set -u
Q=${1:?usage: test_stats_checks.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=$HERE/data/fmnist
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
PRE=(--channels gray --mean 0.2860 --std 0.3530)
M=$D/fmnist_cnn.onnx
E=encodings/minmax-a8-w8

ls "$D"/calib/calib_0000[0-3].png >"$W/a.txt"
ls "$D"/calib/calib_0000[4-7].png >"$W/b.txt"
for x in a b; do
    "$Q" calibrate --model "$M" --data "$W/$x.txt" "${PRE[@]}" -o "$W/$x.h5" --quiet \
        >"$W/log" 2>&1 || bad "calibrate $x: $(tail -n 1 "$W/log")"
done
"$Q" inspect "$W/a.h5" >/dev/null 2>"$W/log" || bad "inspect of the good file: $(cat "$W/log")"

# refused NAME PATTERN FILE CMD...: exit 4, one error line matching PATTERN, no output left.
refused() {
    local name=$1 pat=$2
    shift 2
    rm -rf "$W/out" "$W/plots"
    "$@" >"$W/cmd.out" 2>"$W/cmd.err"
    local rc=$?
    if [ "$rc" -ne 4 ]; then
        bad "$name: $2: exit $rc (want 4): $(head -c 300 "$W/cmd.err")"
    elif [ "$(wc -l <"$W/cmd.err")" -ne 1 ] || ! grep -Eq "^qcal: error: .*$pat" "$W/cmd.err"; then
        bad "$name: $2: want one error line matching '$pat', got: $(head -c 400 "$W/cmd.err")"
    elif [ -e "$W/out" ] || [ -n "$(ls -A "$W/plots" 2>/dev/null)" ]; then
        bad "$name: $2: wrote an output"
    else
        ok
    fi
}
# each_reader NAME PATTERN FILE: inspect, encode, merge (with b.h5) and plot all refuse FILE.
each_reader() {
    local name=$1 pat=$2 f=$3
    refused "$name" "$pat" "$Q" inspect "$f"
    cp "$f" "$W/enc.h5"
    refused "$name" "$pat" "$Q" encode "$W/enc.h5" --method minmax -o "$W/out"
    cmp -s "$f" "$W/enc.h5" || bad "$name: encode rewrote the damaged file"
    refused "$name" "$pat" "$Q" merge "$W/b.h5" "$f" -o "$W/out"
    refused "$name" "$pat" "$Q" plot "$f" -o "$W/plots"
}

n=0
# case READERS PATTERN STATEMENTS: a copy of a.h5 edited by STATEMENTS (h5py, f open r+).
case_() {
    local readers=$1 pat=$2 stmt=$3
    n=$((n + 1))
    cp "$W/a.h5" "$W/c$n.h5"
    h5_edit "$W/c$n.h5" "$stmt" || { bad "h5py edit $n failed: $stmt"; return; }
    if [ "$readers" = all ]; then
        each_reader "case $n" "$pat" "$W/c$n.h5"
    else
        refused "case $n" "$pat" "$Q" inspect "$W/c$n.h5"
    fi
}
case_ all "/encodings/minmax-a8-w8: activation '.*': bad integer encoding \\(bitwidth 0" \
    "f['$E/act_bitwidth'][0] = 0"
case_ one "bad integer encoding \\(bitwidth 1000" "f['$E/act_bitwidth'][1] = 1000"
case_ all "/encodings/minmax-a8-w8: activation .*scale nan" "f['$E/act_scale'][0] = np.nan"
case_ one "scale 0," "f['$E/act_scale'][2] = 0"
case_ one "scale -0.5," "f['$E/act_scale'][2] = -0.5"
case_ one "offset 5," "f['$E/act_offset'][0] = 5"
case_ one "offset -256," "f['$E/act_offset'][0] = -256"
case_ one "range \\[3, 1\\]" "f['$E/act_min'][0] = 3; f['$E/act_max'][0] = 1"
case_ one "parameter '.*' channel 0: bad encoding \\(bitwidth 99" "f['$E/param_bitwidth'][0] = 99"
case_ one "parameter '.*' channel 0: bad encoding .*scale inf" "f['$E/param_scale'][0] = np.inf"
case_ all "/encodings/minmax-a8-w8/act_name: 'no_such_tensor' is not an activation" \
    "f['$E/act_name'][0] = 'no_such_tensor'"
case_ one "/encodings/minmax-a8-w8/param_name: 'w9' is not a weight" "f['$E/param_name'][0] = 'w9'"
case_ one "/encodings/minmax-a8-w8/act_name lists '.*' twice" "f['$E/act_name'][1] = f['$E/act_name'][0]"
case_ all "/@samples is 0 but activation" "f.attrs['samples'] = np.uint64(0); f.attrs['rank_samples'] = np.array([0], np.uint64)"
case_ one "/@rank_samples adds up to 3, /@samples is 4" "f.attrs['rank_samples'] = np.array([3], np.uint64)"
case_ one "/samples/path lists 4 samples and /samples/skipped 0, but /@samples is 5" \
    "f.attrs['samples'] = np.uint64(5); f.attrs['rank_samples'] = np.array([5], np.uint64)"
case_ all "/samples/path lists '.*calib_00000.png' twice" "f['samples/path'][1] = f['samples/path'][0]"
case_ one "/activations/name lists '.*' twice" "f['activations/name'][1] = f['activations/name'][0]"
case_ one "/weights/name has an empty name" "f['weights/name'][0] = ''"
case_ one "/activations/kind: 'weird'" "f['activations/kind'][0] = 'weird'"
case_ one "/weights/ch_start, ch_count: channel ranges exceed or do not add up" \
    "f['weights/ch_count'][0] = f['weights/ch_count'][0] - 1"
case_ one "/@ranks is 0" "f.attrs['ranks'] = np.int32(0); f.attrs['rank_samples'] = np.zeros(0, np.uint64)"
case_ one "/encodings/minmax-a8-w8/act_bitwidth is stored as floating-point numbers, expected integers" \
    "n = len(f['$E/act_bitwidth']); del f['$E/act_bitwidth']; f['$E/act_bitwidth'] = np.full(n, 8.5, np.float32)"
case_ one "attribute /samples is stored as floating-point numbers" "f.attrs['samples'] = 4.0"
case_ one "/activations/min is stored as strings, expected floating-point" \
    "n = len(f['activations/min']); del f['activations/min']; f['activations/min'] = ['0'] * n"

# The heap references of row 1 of three string columns, damaged in place.
for col in activations/name graph/node_name samples/path; do
    for edit in "12:ff7f0000" "12:05000000" "4:1000000000000000" "0:ffffff7f" "0:01000000"; do
        n=$((n + 1))
        cp "$W/a.h5" "$W/h$n.h5"
        "$PY" - "$W/h$n.h5" "$col" "$edit" <<'PY' || { bad "byte edit of $col failed"; continue; }
import sys, h5py
path, col, edit = sys.argv[1:]
with h5py.File(path, "r") as f:
    off = f[col].id.get_offset()
at, hexv = edit.split(":")
b = bytearray(open(path, "rb").read())
pos = off + 16 + int(at)  # row 1: (length u32, collection address u64, object index u32)
v = bytes.fromhex(hexv)
b[pos:pos + len(v)] = v
open(path, "wb").write(bytes(b))
PY
        each_reader "heap $col $edit" "/$col: row 1 references a string that is not in the file" \
            "$W/h$n.h5"
    done
done
# The same for variable-length string attributes (their references live in the object header):
# the first attribute message of each name in the file is damaged.
for name in qcal_version model_path graph_outputs method; do
    for edit in "12:ff7f0000" "0:ffffff00" "4:1000000000000000"; do
        n=$((n + 1))
        cp "$W/a.h5" "$W/h$n.h5"
        "$PY" - "$W/h$n.h5" "$name" "$edit" <<'PY' || { bad "byte edit of attribute $name failed"; continue; }
import struct, sys
path, name, edit = sys.argv[1], sys.argv[2].encode() + b"\0", sys.argv[3]
b = bytearray(open(path, "rb").read())
i = b.find(name)
# An attribute message (version 1): version, reserved, name size, datatype size, dataspace size.
while i >= 0 and not (b[i - 8] == 1 and struct.unpack_from("<H", b, i - 6)[0] == len(name)):
    i = b.find(name, i + 1)
assert i >= 0, "attribute message not found"
dts, dss = struct.unpack_from("<HH", b, i - 4)
p8 = lambda x: (x + 7) // 8 * 8
at, hexv = edit.split(":")
pos = i + p8(len(name)) + p8(dts) + p8(dss) + int(at)
v = bytes.fromhex(hexv)
b[pos:pos + len(v)] = v
open(path, "wb").write(bytes(b))
PY
        pat="attribute .*/$name: row 0 references a string that is not in the file"
        refused "heap attribute $name $edit" "$pat" "$Q" inspect "$W/h$n.h5"
    done
done
report
