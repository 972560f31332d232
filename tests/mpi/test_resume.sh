#!/bin/bash
# Checkpoint / resume (DESIGN.md: MPI behaviour): a 2-rank run with --checkpoint-every is killed
# with SIGKILL once checkpoints exist, resumed with 3 ranks, and must (a) say how many samples it
# resumed, (b) run only the remaining ones, (c) end bit-identical to an uninterrupted run, and
# (d) remove its checkpoints. Then the same with SIGTERM (Slurm's time limit): the run writes a
# checkpoint itself and exits 143; a resume completes it, again bit-identical.
set -u
Q=${1:?usage: test_resume.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=$HERE/data/fmnist
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
bg=999999
at_exit() { kill -9 -- -"$bg" 2>/dev/null; }
ls "$D"/calib/*.png >"$W/l1k.txt"
# 40,000 samples: a few seconds, so the signals land mid-run even on a fast machine.
for i in $(seq 40); do cat "$W/l1k.txt"; done >"$W/list.txt"
N=$(wc -l <"$W/list.txt")
ARGS=(calibrate --model "$D/fmnist_cnn.onnx" --data "$W/list.txt" --channels gray --mean 0.2860
      --std 0.3530)

mpirun -n 2 "$Q" "${ARGS[@]}" --quiet -o "$W/ref.h5" 2>"$W/ref.log" || bad "reference run: $(tail -n 2 "$W/ref.log")"

for sig in KILL TERM; do
    rm -rf "$W/run.h5" "$W/run.h5.ckpt"
    setsid mpirun -n 2 "$Q" "${ARGS[@]}" --quiet --checkpoint-every 100 -o "$W/run.h5" \
        >"$W/run.log" 2>&1 &
    bg=$!
    for _ in $(seq 600); do
        [ -f "$W/run.h5.ckpt/gen0/rank0.h5" ] && [ -f "$W/run.h5.ckpt/gen0/rank1.h5" ] && break
        sleep 0.05
    done
    # SIGKILL takes the whole job down at once (node failure); SIGTERM goes to every rank, as
    # slurmstepd sends it at a time limit or preemption (mpirun would forward it, but late).
    if [ "$sig" = KILL ]; then kill -KILL -- -"$bg"; else pkill -TERM -f -- "-o $W/run.h5"; fi
    wait "$bg"
    rc=$?
    if [ "$sig" = TERM ]; then
        # Each rank exits 143; mpirun itself reports 1 when it was signalled.
        [ "$rc" -ne 0 ] && grep -q "terminated by SIGTERM.*rerun with --resume" "$W/run.log" && ok ||
            bad "SIGTERM: exit $rc, log: $(tail -n 3 "$W/run.log")"
    fi
    [ ! -e "$W/run.h5" ] && ok || bad "$sig: the killed run left $W/run.h5"
    # SIGKILL may interrupt a checkpoint write: its temporary file can only be inside the
    # checkpoint folder, which the successful resume removes (checked below).
    [ -z "$(find "$W" -path "$W/run.h5.ckpt" -prune -o -name '*.tmp.*' -print)" ] && ok ||
        bad "$sig: temporary files left outside the checkpoint folder"
    # Resume with 3 ranks.
    mpirun -n 3 "$Q" "${ARGS[@]}" --checkpoint-every 100 --resume -o "$W/run.h5" \
        >"$W/res.log" 2>&1 || bad "$sig: resume failed: $(tail -n 2 "$W/res.log")"
    k=$(sed -n 's/.*resumed \([0-9]*\) samples from.*/\1/p' "$W/res.log")
    togo=$(sed -n 's/.*; \([0-9]*\) to go.*/\1/p' "$W/res.log")
    now=$(sed -n 's/.*(\([0-9]*\) run now, .*/\1/p' "$W/res.log")
    echo "$sig: resumed ${k:-?} of $N samples, ${togo:-?} to go, ${now:-?} run by the resumed job"
    if [ -n "$k" ] && [ "$k" -gt 0 ] && [ "$k" -lt "$N" ] && [ "$togo" -eq $((N - k)) ] &&
        [ "$now" -eq $((N - k)) ]; then ok; else bad "$sig: resume accounting"; fi
    h5same "$W/ref.h5" "$W/run.h5" "${RUN_ATTRS[@]}" --require /activations/hist && ok ||
        bad "$sig: resumed result differs from the uninterrupted run"
    [ ! -e "$W/run.h5.ckpt" ] && [ -z "$(find "$W" -name '*.tmp.*')" ] && ok ||
        bad "$sig: checkpoints or temporary files left after success"
done

report
