#!/bin/bash
# Top-1 accuracy of the fmnist model quantized (8-bit QDQ) with each calibration method, run by
# qcal's own executor on the eval images shipped in tests/data (300; pass another folder with
# labels.txt as $2), against the float model. Prints one line per method.
#   bench/qdq_accuracy.sh [build/qcal] [eval-dir] [calib-dir]
set -eu
cd "$(dirname "$0")/.."
Q=$(readlink -f "${1:-build/qcal}")
E=${2:-tests/data/fmnist/eval}
C=${3:-tests/data/fmnist/calib}
M=tests/data/fmnist/fmnist_cnn.onnx
PRE=(--channels gray --mean 0.2860 --std 0.3530)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
t0=$(date +%s.%N)
"$Q" calibrate --model "$M" --data "$C" "${PRE[@]}" -o "$W/s.h5" --quiet
t1=$(date +%s.%N)
echo "calibration on $(ls "$C" | wc -l) images: $(echo "$t1 - $t0" | bc) s"
acc() { # acc MODEL -> top-1 over the eval images
    local ok=0 n=0 i=0
    while read -r label; do
        f=$(printf '%s/eval_%05d.png' "$E" "$i")
        am=$("$Q" run --model "$1" --input "$f" "${PRE[@]}" | sed -n 's/.*argmax \([0-9]*\).*/\1/p')
        [ "$am" = "$label" ] && ok=$((ok + 1))
        n=$((n + 1)); i=$((i + 1))
    done <"$E/labels.txt"
    echo "$ok $n"
}
read -r ok n < <(acc "$M")
printf '%-10s top-1 %.4f (%d/%d)\n' float "$(echo "$ok / $n" | bc -l)" "$ok" "$n"
for m in minmax percentile entropy mse enhanced; do
    s0=$(date +%s.%N)
    "$Q" encode "$W/s.h5" --method "$m" --format qdq --model "$M" -o "$W/$m.onnx" >/dev/null 2>&1
    s1=$(date +%s.%N)
    read -r ok n < <(acc "$W/$m.onnx")
    printf '%-10s top-1 %.4f (%d/%d)   encode %.2f s\n' "$m" "$(echo "$ok / $n" | bc -l)" "$ok" "$n" \
        "$(echo "$s1 - $s0" | bc)"
done
