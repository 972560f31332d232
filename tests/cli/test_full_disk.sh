#!/bin/bash
# A full disk during 'qcal calibrate' (64 fmnist images; the stats file is larger than 64 KiB
# because of the histograms). The output folder is a 64 KiB tmpfs (root); where mounting is not
# allowed, the runs get a 64 KiB file size limit instead (ulimit -f, SIGXFSZ ignored, so writes
# fail with EFBIG; 1 rank only then). For each case, with 1 rank and under mpirun -n 2:
#  - stats file (-o) on the full disk;
#  - --encodings on the full disk (tmpfs filled up first), the stats file elsewhere;
#  - checkpoints (--checkpoint-every 10) with -o on the disk: the first checkpoint fails;
# required: a non-zero exit status that is not a signal (3, I/O, with 1 rank), exactly one
# 'qcal: error:' line naming the file and the cause, nothing else on stderr from qcal (no crash
# report), no output file at all (also not the stats file when only the export failed) and no
# temporary (*.tmp*) file. A checkpoint folder left without files is reported as a note.
# QCAL_TEST_NO_MOUNT=1 forces the ulimit fallback.
set -u
Q=${1:?usage: test_full_disk.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=$HERE/data/fmnist
W=$(mktemp -d)
DISK=$W/disk
mkdir -p "$DISK"
MOUNTED=0
cleanup() {
    [ "$MOUNTED" = 1 ] && umount "$DISK" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
HAVE_MPI=0
command -v mpirun >/dev/null && HAVE_MPI=1

ls "$D"/calib/*.png | head -n 64 >"$W/list.txt"
ARGS=(calibrate --model "$D/fmnist_cnn.onnx" --data "$W/list.txt" --channels gray --mean 0.2860
      --std 0.3530 --quiet)

if [ -z "${QCAL_TEST_NO_MOUNT:-}" ] && [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=64k tmpfs "$DISK" 2>/dev/null; then
    MOUNTED=1
    CAUSE="No space left on device"
    echo "mode: 64 KiB tmpfs at $DISK"
else
    CAUSE="File too large"
    echo "mode: no tmpfs (mount not permitted): 64 KiB file size limit (ulimit -f 64)"
fi

# The stats file must not fit: calibrate on the normal disk gives more than 64 KiB.
if "$Q" "${ARGS[@]}" -o "$W/fits.h5" >"$W/fits.log" 2>&1 && [ -f "$W/fits.h5" ]; then
    size=$(stat -c %s "$W/fits.h5")
    [ "$size" -gt 65536 ] && ok || bad "the stats file has $size bytes: it fits on the 64 KiB disk"
else
    bad "calibrate on the normal disk failed: $(tail -n 3 "$W/fits.log")"
fi

# run NP ARGS...: qcal (under mpirun -n NP if NP > 1) with the disk limits; sets RC, the
# output in $W/run.out and $W/run.err.
run() {
    local np=$1
    shift
    local cmd=("$Q")
    [ "$np" -gt 1 ] && cmd=(timeout 300 mpirun -n "$np" --oversubscribe "$Q")
    if [ "$MOUNTED" = 1 ]; then
        "${cmd[@]}" "$@" >"$W/run.out" 2>"$W/run.err"
    else
        # Open MPI's singleton start would put PMIx's shared-memory store into files larger
        # than the limit: use PMIx's hash store and no orted.
        (trap '' XFSZ; ulimit -f 64; export PMIX_MCA_gds=hash OMPI_MCA_ess_singleton_isolated=1
         exec "${cmd[@]}" "$@") >"$W/run.out" 2>"$W/run.err"
    fi
    RC=$?
}

# fill: the tmpfs full (nothing left for any new file); a no-op without tmpfs.
fill() { [ "$MOUNTED" = 1 ] && dd if=/dev/zero of="$DISK/.fill" bs=4k >/dev/null 2>&1; true; }
unfill() { rm -f "$DISK/.fill"; }

# check CASE NP NAME: the run failed cleanly, with one error line naming NAME.
check() {
    local what="$1 (np $2)" name=$3 errs
    if [ "$RC" -ne 0 ] && [ "$RC" -lt 128 ] && { [ "$2" -gt 1 ] || [ "$RC" -eq 3 ]; }; then
        ok
    else
        bad "$what: exit status $RC (want 3, I/O; >= 128 is a signal)"
    fi
    errs=$(grep -c '^qcal: error:' "$W/run.err")
    if [ "$errs" -eq 1 ] && grep '^qcal: error:' "$W/run.err" | grep -F "$name" | grep -qF "$CAUSE"
    then
        ok
    else
        bad "$what: want one 'qcal: error:' line naming $name and '$CAUSE'; got $errs:" \
            "$(grep '^qcal: error:' "$W/run.err" | head -n 2)"
    fi
    # Nothing else: with 1 rank stderr is that line alone; under mpirun only mpirun's own
    # summary of the failed rank may follow (no crash report, no HDF5 messages).
    local extra
    if [ "$2" -gt 1 ]; then
        extra=$(grep -iE 'signal|segmentation|HDF5|H5[A-Z]|backtrace|infinite loop|core dumped' "$W/run.err")
    else
        extra=$(grep -v '^qcal: error:' "$W/run.err")
    fi
    [ -z "$extra" ] && ok || bad "$what: more than the error line on stderr: $(echo "$extra" | head -n 3 | cut -c1-160)"
}

# leftovers CASE DIR...: no temporary file anywhere in DIRs and no other file except .fill.
leftovers() {
    local what=$1 f
    shift
    f=$(find "$@" -name '*.tmp*' 2>/dev/null)
    [ -z "$f" ] && ok || bad "$what: temporary files left: $f"
    f=$(find "$@" -type f ! -name .fill ! -name list.txt ! -name fits.h5 ! -name fits.log \
        ! -name run.out ! -name run.err 2>/dev/null)
    [ -z "$f" ] && ok || bad "$what: output left: $f"
}

# Under mpirun the limit cannot work: mpirun and its daemons write larger files themselves and
# reset the ranks' SIGXFSZ to the default (death). So without tmpfs: 1 rank only.
NPS="1"
if [ "$HAVE_MPI" = 1 ] && [ "$MOUNTED" = 1 ]; then
    NPS="1 2"
elif [ "$HAVE_MPI" = 1 ]; then
    echo "note: mpirun -n 2 cases skipped (they need the tmpfs)"
fi
for np in $NPS; do
    # 1. The stats file does not fit.
    run "$np" "${ARGS[@]}" -o "$DISK/stats.h5"
    check "stats file on a full disk" "$np" "stats.h5"
    leftovers "stats file on a full disk (np $np)" "$DISK"
    rm -rf "${DISK:?}"/*

    # 2. The encodings export does not fit; the stats file would (other folder).
    mkdir -p "$W/other"
    if [ "$MOUNTED" = 1 ]; then
        fill
        run "$np" "${ARGS[@]}" -o "$W/other/stats.h5" --encodings "$DISK/enc.json"
        check "--encodings on a full disk" "$np" "enc.json"
        leftovers "--encodings on a full disk (np $np)" "$DISK" "$W/other"
        unfill
    else
        # One limit for every file: the stats file fails first or the export does; either
        # way nothing may be left.
        run "$np" "${ARGS[@]}" -o "$W/other/stats.h5" --encodings "$DISK/enc.json"
        [ "$RC" -ne 0 ] && [ "$RC" -lt 128 ] && ok || bad "--encodings with a size limit: exit $RC"
        leftovers "--encodings with a size limit (np $np)" "$DISK" "$W/other"
    fi
    rm -rf "${DISK:?}"/* "$W/other"

    # 3. The first checkpoint does not fit.
    run "$np" "${ARGS[@]}" -o "$DISK/ck.h5" --checkpoint-every 10
    check "checkpoint on a full disk" "$np" "ck.h5.ckpt"
    leftovers "checkpoint on a full disk (np $np)" "$DISK"
    if [ -n "$(find "$DISK" -mindepth 1 -type d)" ]; then
        echo "note: checkpoint on a full disk (np $np): empty folders left:" \
             "$(cd "$DISK" && find . -mindepth 1 -type d | tr '\n' ' ')"
    fi
    rm -rf "${DISK:?}"/*
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
