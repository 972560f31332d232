#!/bin/bash
# Hostile models (issue 10), one per class of loader bug, built by
# tests/data/hostile/make_hostile.py: each must be refused with exit status and one line naming
# the file and the reason, and never crash (nested graphs and types used to overflow
# protobuf-c's stack; a TENSOR attribute without a tensor was a NULL dereference), read outside
# the model's folder, or run with a malformed external_data entry. Also: the ONNX checker's
# structural rules, and a model that is fine (valid external data) still loads and computes.
set -u
Q=${1:?usage: test_hostile.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"

$PY "$HERE/data/hostile/make_hostile.py" "$W" || { bad "make_hostile.py"; report; exit 1; }

# refused MODEL STATUS PATTERN: exit status STATUS, one line, matching PATTERN (grep -E).
refused() {
    timeout 60 "$Q" run --model "$W/$1" --input "$W/x.npy" >"$W/out.log" 2>&1
    local rc=$?
    if [ "$rc" -eq "$2" ] && [ "$(wc -l <"$W/out.log")" -eq 1 ] &&
        grep -Eq "^qcal: error: .*$3" "$W/out.log"; then
        ok
    else
        bad "$1: exit $rc (expected $2, '$3'): $(head -c 300 "$W/out.log")"
    fi
}

refused nest_30000.onnx 5 "nest_30000.onnx: subgraphs \(graph attributes of If/Loop/Scan\) nest more than 64 deep"
refused nest_65.onnx 5 "nest_65.onnx: subgraphs .* nest more than 64 deep"
# 64 levels pass the nesting check (whatever the rest of the loader then says).
timeout 60 "$Q" run --model "$W/nest_64.onnx" --input "$W/x.npy" >"$W/out.log" 2>&1
rc=$?
[ "$rc" -lt 128 ] && ! grep -q "nest more than" "$W/out.log" && ok ||
    bad "nest_64.onnx: exit $rc: $(head -c 300 "$W/out.log")"
refused type_30000.onnx 5 "type_30000.onnx: messages nest more than 320 deep"
refused no_outputs.onnx 4 "no_outputs.onnx: the graph has no outputs"
refused no_opset.onnx 4 "no_opset.onnx: IR version 8 model without opset_import"
refused dup_init.onnx 4 "dup_init.onnx: initializer 'W' is defined twice"
refused dup_input.onnx 4 "dup_input.onnx: graph input 'x' is declared twice"
refused redecl_shape.onnx 4 "redecl_shape.onnx: graph input 'W' is declared \[3x3\], its initializer has shape \[1x4\]"
refused redecl_type.onnx 4 "redecl_type.onnx: graph input 'W' is declared int64, its initializer is float32"
refused attr_type.onnx 4 "attr_type.onnx: .*attribute 'alpha' is declared INT but holds field 'f'"
refused attr_two.onnx 4 "attr_two.onnx: .*attribute 'alpha' holds 2 values"
refused attr_tensor.onnx 4 "attr_tensor.onnx: .*attribute 'value' is declared TENSOR but holds no value"

# Fields of a newer ONNX are skipped, not refused.
"$Q" run --model "$W/unknown.onnx" --input "$W/x.npy" >"$W/ok.log" 2>&1 &&
    grep -q "^y  float32 \[1x4\]: 1 2 3 4 " "$W/ok.log" && ok ||
    bad "unknown fields: $(cat "$W/ok.log")"

# external_data: only relative locations inside the model's folder, strict numbers.
"$Q" run --model "$W/ext_ok/model.onnx" --input "$W/x.npy" >"$W/ok.log" 2>&1 &&
    grep -q "^y  float32 \[1x4\]: 1 2 3 4 " "$W/ok.log" && ok ||
    bad "valid external data: $(cat "$W/ok.log")"
refused ext_dotdot/model.onnx 4 "tensor 'W': external data location '../secret.bin' leaves the model's folder"
refused ext_abs/model.onnx 4 "tensor 'W': external data location '/.*/secret.bin' is absolute"
refused ext_link/model.onnx 4 "tensor 'W': external data location 'link.bin' leaves the model's folder"
refused ext_off_abc/model.onnx 4 "tensor 'W': external data offset 'abc' is not a decimal number"
refused ext_off_big/model.onnx 4 "tensor 'W': external data offset '99999999999999999999' is not a decimal number"
refused ext_len_junk/model.onnx 4 "tensor 'W': external data length '16abc' is not a decimal number"
refused ext_beyond/model.onnx 4 "W.bin: 16 bytes, too short for tensor 'W' \(16 bytes at offset 8\)"
report
