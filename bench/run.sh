#!/bin/sh
# Executor benchmark: qcal (bench_model) against ONNX Runtime's CPU provider (bench/ort_bench.js,
# npm onnxruntime-node 1.30.0), both single-threaded, batch 1, one sample per run, on the same
# preprocessed images. Builds Release, installs onnxruntime-node into bench/node_modules when
# missing (npm install --ignore-scripts), and prints a summary: samples/s (median and best of
# several rounds), the ratio qcal/ORT and qcal's per-layer table.
#
# Environment (all optional):
#   BUILD_DIR  build directory (default: build)
#   MODEL      ONNX model (default: tests/data/fmnist/fmnist_cnn.onnx)
#   DATA       images (default: tests/data/fmnist/eval); MEAN/STD their normalisation
#              (default 0.2860/0.3530, the fmnist values); DATA=none feeds pseudo-random inputs
#   COUNT      samples (default 300)  ROUNDS  timed rounds (default 9)
#   MIN_TIME   seconds per round at least (default 0.25)
#   NO_ORT=1   skip ONNX Runtime     NO_EXTRA=1  skip the informational extra runs
# Numbers move with the machine's load: rounds are repeated and both median and best are shown.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${BUILD_DIR:-build}
MODEL=${MODEL:-tests/data/fmnist/fmnist_cnn.onnx}
DATA=${DATA:-tests/data/fmnist/eval}
MEAN=${MEAN:-0.2860}
STD=${STD:-0.3530}
COUNT=${COUNT:-300}
ROUNDS=${ROUNDS:-9}
MIN_TIME=${MIN_TIME:-0.25}
ORT_VERSION=1.30.0

TMP=$(mktemp -d "${TMPDIR:-/tmp}/qcal-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

echo "== build ($BUILD_DIR, Release)"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >"$TMP/cmake.log" 2>&1 ||
    { cat "$TMP/cmake.log"; exit 1; }
cmake --build "$BUILD_DIR" -j2 --target bench_model >"$TMP/build.log" 2>&1 ||
    { tail -40 "$TMP/build.log"; exit 1; }
BENCH="$BUILD_DIR/bench/bench_model"

if [ "${NO_ORT:-0}" != 1 ]; then
    have=$(node -p "try { require('$ROOT/bench/node_modules/onnxruntime-node/package.json').version }
                    catch (e) { '' }" 2>/dev/null || true)
    if [ "$have" != "$ORT_VERSION" ]; then
        echo "== npm install --ignore-scripts onnxruntime-node@$ORT_VERSION (bench/node_modules)"
        (cd bench && npm install --ignore-scripts --no-save --no-package-lock --no-audit --no-fund \
            "onnxruntime-node@$ORT_VERSION" >"$TMP/npm.log" 2>&1) ||
            { cat "$TMP/npm.log"; exit 1; }
    fi
fi

# The OpenBLAS kernel set ("Core: ...") that bench_model gets, as a shell command.
blas_core_cmd() {
    printf '%s' "OPENBLAS_VERBOSE=2 '$BENCH' --count 1 --rounds 1 --warmup 1 --min-time 0 \
        --prof-rounds 0 '$MODEL' 2>&1 >/dev/null | sed -n 's/^Core: //p' | tail -1"
}
echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
     "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')," \
     "OpenBLAS kernels: $(sh -c "$(blas_core_cmd)")" \
     "(OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset})"

set -- --count "$COUNT" --rounds "$ROUNDS" --min-time "$MIN_TIME"
if [ "$DATA" != none ]; then
    set -- "$@" --data "$DATA" --mean "$MEAN" --std "$STD"
fi

echo "== qcal: $BENCH $MODEL"
"$BENCH" "$@" --dump-inputs "$TMP/inputs.raw" --dump-outputs "$TMP/outputs.raw" "$MODEL" |
    tee "$TMP/qcal.log"

if [ "${NO_ORT:-0}" != 1 ]; then
    echo "== ONNX Runtime: node bench/ort_bench.js $MODEL"
    node bench/ort_bench.js --inputs "$TMP/inputs.raw" --outputs "$TMP/outputs.raw" \
        --count "$COUNT" --rounds "$ROUNDS" --min-time "$MIN_TIME" --levels all,disabled \
        --profile "$MODEL" | tee "$TMP/ort.log"
fi

# Informational: OpenBLAS picks its kernels by CPU at load time unless OPENBLAS_CORETYPE forces a
# core (some environments export OPENBLAS_CORETYPE=Haswell, i.e. AVX2 kernels, on AVX-512 CPUs).
# When it is set, qcal is also timed with it unset; ORT's cost per call is measured on a one-Relu
# model (the Node binding's overhead, part of every ORT number above).
if [ "${NO_EXTRA:-0}" != 1 ]; then
    if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
        echo "== qcal with OPENBLAS_CORETYPE unset (OpenBLAS kernels:" \
             "$(env -u OPENBLAS_CORETYPE sh -c "$(blas_core_cmd)"); informational)"
        env -u OPENBLAS_CORETYPE "$BENCH" "$@" --prof-rounds 0 "$MODEL" |
            tee "$TMP/qcal_auto.log" | grep -E '^qcal:'
    fi
    if [ "${NO_ORT:-0}" != 1 ] && /usr/bin/python3 -c 'import onnx' 2>/dev/null; then
        /usr/bin/python3 - "$TMP/relu.onnx" <<'EOF'
import sys
from onnx import TensorProto, helper, save
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 28, 28])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 28, 28])
g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu", [x], [y])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 7
save(m, sys.argv[1])
EOF
        echo "== ORT call overhead: one-Relu [1,1,28,28] model (informational)"
        node bench/ort_bench.js --count "$COUNT" --rounds "$ROUNDS" --min-time "$MIN_TIME" \
            --levels disabled "$TMP/relu.onnx" | tee "$TMP/ort_relu.log" | grep -E '^ORT'
    fi
fi

# Summary.
field() { # field FILE PATTERN KEY: value of KEY=... on the first line of FILE matching PATTERN
    grep -m1 -- "$2" "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$3=//p"
}
q_med=$(field "$TMP/qcal.log" '^RESULT qcal' median_sps)
q_best=$(field "$TMP/qcal.log" '^RESULT qcal' best_sps)
echo
echo "================ summary: $MODEL, batch 1, 1 thread, $COUNT samples ================"
printf '%-34s %14s %14s %12s\n' "" "median smp/s" "best smp/s" "us/sample"
printf '%-34s %14s %14s %12s\n' "qcal${OPENBLAS_CORETYPE:+, OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE}" \
    "$q_med" "$q_best" \
    "$(field "$TMP/qcal.log" '^RESULT qcal' median_us)"
if [ -f "$TMP/qcal_auto.log" ]; then
    printf '%-34s %14s %14s %12s\n' "qcal, OPENBLAS_CORETYPE unset" \
        "$(field "$TMP/qcal_auto.log" '^RESULT qcal' median_sps)" \
        "$(field "$TMP/qcal_auto.log" '^RESULT qcal' best_sps)" \
        "$(field "$TMP/qcal_auto.log" '^RESULT qcal' median_us)"
fi
for lvl in all disabled; do
    [ -f "$TMP/ort.log" ] || break
    o_med=$(field "$TMP/ort.log" "^RESULT ort level=$lvl " median_sps)
    o_best=$(field "$TMP/ort.log" "^RESULT ort level=$lvl " best_sps)
    printf '%-34s %14s %14s %12s\n' "ORT (graph optimization $lvl)" "$o_med" "$o_best" \
        "$(field "$TMP/ort.log" "^RESULT ort level=$lvl " median_us)"
done
if [ -f "$TMP/ort_relu.log" ]; then
    printf '%-34s %14s %14s %12s\n' "ORT one-Relu model (call cost)" \
        "$(field "$TMP/ort_relu.log" '^RESULT ort' median_sps)" \
        "$(field "$TMP/ort_relu.log" '^RESULT ort' best_sps)" \
        "$(field "$TMP/ort_relu.log" '^RESULT ort' median_us)"
fi
for lvl in all disabled; do
    [ -f "$TMP/ort.log" ] || break
    o_med=$(field "$TMP/ort.log" "^RESULT ort level=$lvl " median_sps)
    o_best=$(field "$TMP/ort.log" "^RESULT ort level=$lvl " best_sps)
    awk -v qm="$q_med" -v qb="$q_best" -v om="$o_med" -v ob="$o_best" -v l="$lvl" 'BEGIN {
        printf "ratio qcal/ORT(%s): %.3f (medians), %.3f (bests)\n", l, qm / om, qb / ob }'
done
grep -m1 'max |ORT - qcal|' "$TMP/ort.log" 2>/dev/null || true
echo
sed -n '/^per layer/,/^counted FLOPs/p' "$TMP/qcal.log"
