#!/bin/bash
# Dump write benchmark: throughput of the parallel-HDF5 intermediate-tensor dump (src/dist/dump.c)
# written by `qcal calibrate --dump REGEX --dump-samples N` under mpirun with 1 and 2 ranks.
# Dumps every activation ('.') of COUNT fmnist samples (the calibration run covers exactly those
# samples, from a list file), ROUNDS times per rank count, and prints per rank count the dump
# size, write time (median and best) and MB/s (1 MB = 1e6 bytes).
#
# Two times per run: "line", what qcal calibrate prints on rank 0 as "qcal: dump: ... in <X> s"
# (the time around qcal_dump_write, when qcal prints it; "n/a" otherwise), and "file", the dump
# file's modification time minus its birth time (statx): from the creation of the temporary
# file to its last write, i.e. dataset creation, the collective writes and the close, without
# the status agreements and the rename. The file time needs no help from qcal; it needs a file
# system that records birth times (ext4, xfs and btrfs do; "n/a" otherwise).
#
# Environment (all optional):
#   BUILD_DIR  build directory, Release (default: build); QCAL=path skips the build
#   MODEL      (default tests/data/fmnist/fmnist_cnn.onnx); DATA (default tests/data/fmnist/calib)
#   MEAN/STD   normalisation (default 0.2860/0.3530)
#   COUNT      samples dumped (default 1000)   ROUNDS  runs per rank count (default 5)
#   RANKS      rank counts (default "1 2")     REGEX   tensors (default '.': all)
#   OUT_DIR    where the files are written (default: a temporary folder under TMPDIR)
# Numbers move with the machine's load (MPI busy-polls; 2 ranks on 2 shared cores): both median
# and best are shown.
set -eu
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
MODEL=${MODEL:-tests/data/fmnist/fmnist_cnn.onnx}
DATA=${DATA:-tests/data/fmnist/calib}
MEAN=${MEAN:-0.2860}
STD=${STD:-0.3530}
COUNT=${COUNT:-1000}
ROUNDS=${ROUNDS:-5}
RANKS=${RANKS:-1 2}
REGEX=${REGEX:-.}
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1}
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/qcal-bench-dump.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM
OUT_DIR=${OUT_DIR:-$TMP}

if [ -z "${QCAL:-}" ]; then
    echo "== build ($BUILD_DIR, Release)"
    cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >"$TMP/cmake.log" 2>&1 ||
        { cat "$TMP/cmake.log"; exit 1; }
    cmake --build "$BUILD_DIR" -j2 --target qcal_cli >"$TMP/build.log" 2>&1 ||
        { tail -40 "$TMP/build.log"; exit 1; }
    QCAL=$BUILD_DIR/qcal
fi

# The first COUNT images, byte-wise sorted (the global order), as a list file.
find "$(cd "$DATA" && pwd)" -type f \( -name '*.png' -o -name '*.jpg' -o -name '*.npy' \) |
    LC_ALL=C sort | head -n "$COUNT" >"$TMP/list.txt"
n=$(wc -l <"$TMP/list.txt")
[ "$n" -eq "$COUNT" ] || { echo "only $n images in $DATA (COUNT=$COUNT)"; exit 1; }

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(df -h "$OUT_DIR" |
    awk 'NR == 2 { print $1 }') for $OUT_DIR"
echo "== dump of '$REGEX' from $MODEL, $COUNT samples, $ROUNDS rounds per rank count"

# run P LOG: one calibration with the dump; prints nothing, fails loudly. Old files are removed
# first (replacing a large file would put its unlinking into the measurement).
run() {
    rm -f "$OUT_DIR/s.h5" "$OUT_DIR/d.h5"
    mpirun -n "$1" --oversubscribe "$QCAL" calibrate --model "$MODEL" --data "$TMP/list.txt" \
        --channels gray --mean "$MEAN" --std "$STD" -o "$OUT_DIR/s.h5" --dump "$REGEX" \
        --dump-samples "$COUNT" --dump-out "$OUT_DIR/d.h5" >"$2" 2>&1 ||
        { echo "qcal calibrate failed (mpirun -n $1):"; tail -n 5 "$2"; exit 1; }
}
# "median best" of the numbers on stdin ("n/a n/a" when there are none).
stats() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) print "n/a n/a"; else printf "%s %s\n", v[int((NR + 1) / 2)], v[1] }'
}
# MB/s of BYTES in SECONDS ("n/a" passes through).
rate() { awk -v b="$1" -v t="$2" 'BEGIN { if (t == "n/a") print "n/a"; else printf "%.1f", b / 1e6 / t }'; }

printf '%-5s %11s | %-25s | %-25s\n' "" "" "line: median/best s, MB/s" "file: median/best s, MB/s"
for P in $RANKS; do
    : >"$TMP/line.txt"
    : >"$TMP/file.txt"
    run "$P" "$TMP/warm.log" # warm-up (page cache, first mpirun)
    for _ in $(seq "$ROUNDS"); do
        run "$P" "$TMP/r.log"
        bytes=$(stat -c %s "$OUT_DIR/d.h5")
        sed -n 's/^qcal: dump: .* in \([0-9.eE+-]*\) s.*/\1/p' "$TMP/r.log" | tail -n 1 >>"$TMP/line.txt"
        stat -c '%.9W %.9Y' "$OUT_DIR/d.h5" | awk '$1 > 0 { printf "%.4f\n", $2 - $1 }' >>"$TMP/file.txt"
    done
    read -r lm lb < <(stats <"$TMP/line.txt")
    read -r fm fb < <(stats <"$TMP/file.txt")
    printf '%-5s %11s | %-25s | %-25s\n' "P=$P" "$bytes B" \
        "$lm/$lb s, $(rate "$bytes" "$lm")/$(rate "$bytes" "$lb")" \
        "$fm/$fb s, $(rate "$bytes" "$fm")/$(rate "$bytes" "$fb")"
done
