#!/bin/bash
# qcal on a real (one-node) Slurm cluster, started and stopped by tests/slurm/cluster.sh:
#  1. slurm/calibrate.sbatch under 'sbatch --wait -n 2' (srun --mpi=pmix, then
#     QCAL_LAUNCHER=mpirun, then JOB=job.yaml) on the demo data gives a stats file equal to a
#     plain 'mpirun -n 2' run: every dataset and attribute except the root's created/ranks/
#     rank_samples and the encoding sets' created (strings compared by value), and the same
#     encodings JSON bytes;
#  2. the time-limit path: SIGUSR1 to the batch shell (what --signal=B:USR1@120 sends) makes
#     the ranks checkpoint and the job requeue itself; the requeued run resumes and ends equal
#     to an uninterrupted run, 'sbatch --wait' returns 0 and no checkpoint is left;
#  3. plain scancel of a running job, then a new job with another rank count: it resumes and
#     ends equal to the uninterrupted run;
#  4. slurm/sweep.sbatch as an array job (--array=0-5): six encodings files that parse, with
#     the variant's method and bit width, minmax-8 equal to calibrate's --encodings, and the
#     stats file unchanged;
#  5. the multi-job flow of slurm/README.md: two calibrate jobs on disjoint halves, then
#     slurm/merge.sbatch with --dependency=afterok: equal to one run over the whole set.
# The comparison is shown to fail on a perturbed file. Needs root (the cluster's daemons).
# QCAL_TEST_KEEP=1 keeps the work folder (job logs, stats files) for inspection.
set -u
Q=${1:?usage: test_slurm.sh path/to/qcal}
Q=$(cd "$(dirname "$Q")" && pwd)/$(basename "$Q")
HERE=$(cd "$(dirname "$0")/.." && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CLUSTER=$HERE/slurm/cluster.sh
D=$ROOT/jobs/data/fmnist
BIG=$HERE/data/fmnist/calib
PY=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
T0=$SECONDS
step() { printf '[%3d s] %s\n' $((SECONDS - T0)) "$*"; }

# One cluster per machine: runs of this test from other build folders at the same time would
# stop it under each other. Wait for them (flock on a lock file; the lock ends with the test).
exec 9>/tmp/qcal-slurm-test.lock
if command -v flock >/dev/null && ! flock -w 600 9; then
    echo "another Slurm test holds /tmp/qcal-slurm-test.lock for 10 minutes"
    echo "0 passed, 1 failed"
    exit 1
fi

# Job output must be visible to the jobs: a folder on this machine's disk.
W=$(mktemp -d /tmp/qcal-slurm-test.XXXXXX)
chmod 755 "$W"
cleanup() {
    "$CLUSTER" stop >"$W/stop.log" 2>&1 9>&- || { echo "cluster.sh stop failed:"; cat "$W/stop.log"; }
    if [ -n "${QCAL_TEST_KEEP:-}" ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

step "starting the cluster"
if ! "$CLUSTER" start >"$W/start.log" 2>&1 9>&-; then
    cat "$W/start.log"
    bad "tests/slurm/cluster.sh start failed"
    echo "$pass passed, $fail failed"
    exit 1
fi
eval "$("$CLUSTER" env)"
export PATH=$PATH:/usr/sbin

# Parameters of calibrate.sbatch (sbatch passes the environment on).
export QCAL=$Q MODEL=$D/fmnist_cnn.onnx PREPROCESS="--channels gray --mean 0.2860 --std 0.3530"
PRE=(--channels gray --mean 0.2860 --std 0.3530)
unset JOB EXTRA ENCODINGS CKPT_EVERY QCAL_LAUNCHER

# compare.py A B [--only G1,G2,...]: every dataset and attribute of A and B equal, exempting the
# root's created/ranks/rank_samples and /encodings/<label>@created; with --only, just the
# objects under those groups and the root attrs samples, bins, model_sha256 and preprocess.
cat >"$W/compare.py" <<'PY'
import sys, h5py, numpy as np

def value(v):
    """A value that compares exactly: strings by their text, numbers by dtype, shape, bytes."""
    if isinstance(v, (bytes, str)):
        return ("s", v.decode() if isinstance(v, bytes) else v)
    a = np.asarray(v)
    if a.dtype.kind in "OSU":
        return ("s", a.shape, [x.decode() if isinstance(x, bytes) else str(x)
                               for x in a.reshape(-1).tolist()])
    return ("n", a.dtype.str, a.shape, np.ascontiguousarray(a).tobytes())

def describe(path, only):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            key = "/" + name if name else "/"
            if only and key != "/" and not any(key == g or key.startswith(g + "/") for g in only):
                return
            if isinstance(obj, h5py.Dataset):
                kind = "str" if h5py.check_string_dtype(obj.dtype) else obj.dtype.str
                out["D " + key] = (kind, obj.shape, value(obj.asstr()[()] if kind == "str"
                                                          else obj[()]))
            elif key != "/":
                out["G " + key] = None
            for a in obj.attrs:
                if key == "/" and (a in ("created", "ranks", "rank_samples") or
                                   (only and a not in ("samples", "bins", "model_sha256",
                                                       "preprocess"))):
                    continue
                if key.startswith("/encodings/") and key.count("/") == 2 and a == "created":
                    continue
                out["A %s@%s" % (key, a)] = value(obj.attrs[a])
        visit("", f)
        f.visititems(visit)
    return out

args = sys.argv[1:]
only = []
if "--only" in args:
    i = args.index("--only")
    only = args[i + 1].split(",")
    del args[i:i + 2]
a, b = describe(args[0], only), describe(args[1], only)
diffs = [k for k in sorted(set(a) | set(b)) if a.get(k, "missing") != b.get(k, "missing")]
need = only or ["/activations", "/weights", "/graph", "/samples", "/encodings"]
diffs += ["no group %s" % g for g in need if "G " + g not in a]
for d in diffs[:10]:
    print("  differs: " + d)
if not diffs:
    print("  equal: %d datasets, %d attributes" % (sum(k[0] == "D" for k in a),
                                                   sum(k[0] == "A" for k in a)))
sys.exit(1 if diffs else 0)
PY
same() { $PY "$W/compare.py" "$@" >"$W/cmp.log" 2>&1; }
why() { head -n 5 "$W/cmp.log"; }

# job_state ID: JobState of a job (slurmctld keeps finished jobs MinJobAge = 300 s).
job_state() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }
restarts() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*Restarts=\([0-9]*\).*/\1/p'; }
# stepd_alive ID: a slurmstepd of job ID still runs (its title is "slurmstepd: [ID.STEP]").
stepd_alive() {
    if command -v pgrep >/dev/null; then
        pgrep -f "^slurmstepd: \[$1\." >/dev/null
        return
    fi
    local f
    for f in /proc/[0-9]*/cmdline; do
        { tr '\0' ' ' <"$f"; } 2>/dev/null | grep -q "^slurmstepd: \[$1\." && return 0
    done
    return 1
}
# sbw LOG ARGS...: sbatch --wait with a time limit on the waiting.
sbw() {
    local log=$1
    shift
    timeout 240 sbatch --wait -o "$log" "$@" >/dev/null 2>"$log.sbatch"
}

# ---- 1. calibrate.sbatch == mpirun -n 2 ------------------------------------------------------
step "reference: mpirun -n 2 on the demo data"
if ! mpirun -n 2 --oversubscribe "$Q" calibrate --model "$MODEL" --data "$D/calib" "${PRE[@]}" \
        -o "$W/ref.h5" --encodings "$W/ref.json" >"$W/ref.log" 2>&1; then
    bad "reference run: $(tail -n 3 "$W/ref.log")"
    echo "$pass passed, $fail failed"
    exit 1
fi

# The comparison must be able to fail: a copy with one histogram count changed.
cp "$W/ref.h5" "$W/perturbed.h5"
$PY - "$W/perturbed.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    h = f["activations/hist"]
    row = h[3]
    row[row.argmax()] += 1
    h[3] = row
PY
same "$W/ref.h5" "$W/perturbed.h5" && bad "compare.py does not see a changed histogram count" || ok
$PY - "$W/perturbed.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:   # and a changed tensor name (a VL string)
    n = f["activations/name"].asstr()[()].tolist()
    del f["activations/name"]
    n[2] = n[2] + "x"
    f.create_dataset("activations/name", data=n, dtype=h5py.string_dtype())
PY
same "$W/ref.h5" "$W/perturbed.h5" && bad "compare.py does not see a changed name" || ok

for launcher in srun mpirun; do
    step "sbatch --wait -n 2 slurm/calibrate.sbatch (QCAL_LAUNCHER=$launcher)"
    mkdir -p "$W/$launcher"
    if QCAL_LAUNCHER=$launcher DATA=$D/calib OUT=$W/$launcher/stats.h5 \
       ENCODINGS=$W/$launcher/enc.json sbw "$W/$launcher/job.out" -n 2 "$ROOT/slurm/calibrate.sbatch"; then
        ok
    else
        bad "$launcher job failed: $(tail -n 5 "$W/$launcher/job.out" "$W/$launcher/job.out.sbatch")"
        continue
    fi
    grep -q "calibrate.sbatch: $launcher " "$W/$launcher/job.out" && ok ||
        bad "$launcher job: the log does not show the $launcher command line"
    grep -q "done: 64 samples .* 2 ranks" "$W/$launcher/job.out" && ok ||
        bad "$launcher job: no 'done: 64 samples ... 2 ranks' in the log"
    same "$W/ref.h5" "$W/$launcher/stats.h5" && ok || bad "$launcher job: stats differ from mpirun -n 2: $(why)"
    cmp -s "$W/ref.json" "$W/$launcher/enc.json" && ok || bad "$launcher job: encodings JSON differs"
    [ ! -e "$W/$launcher/stats.h5.ckpt" ] && ok || bad "$launcher job: checkpoint folder left"
done

# The same calibration from a job file (JOB=...): 'qcal calibrate JOB --set resume=true'.
step "sbatch --wait -n 2 slurm/calibrate.sbatch with JOB=job.yaml"
mkdir -p "$W/job"
cat >"$W/job/job.yaml" <<EOF
model: $MODEL
data: $D/calib
out: $W/job/stats.h5
preprocess:
  channels: gray
  mean: 0.2860
  std: 0.3530
method: minmax
encodings: $W/job/enc.json
EOF
if JOB=$W/job/job.yaml sbw "$W/job/job.out" -n 2 "$ROOT/slurm/calibrate.sbatch"; then
    ok
    same "$W/ref.h5" "$W/job/stats.h5" && ok || bad "job file: stats differ from mpirun -n 2: $(why)"
    cmp -s "$W/ref.json" "$W/job/enc.json" && ok || bad "job file: encodings JSON differs"
else
    bad "job-file job failed: $(tail -n 5 "$W/job/job.out" "$W/job/job.out.sbatch")"
fi

# ---- 2. time-limit warning -> checkpoint -> requeue -> resume ----------------------------------
# The 1000 fmnist calib images 40 times: 40000 samples (2-10 s with 2 ranks).
ls "$BIG"/*.png >"$W/l1k.txt"
for _ in $(seq 40); do cat "$W/l1k.txt"; done >"$W/big.txt"
N=$(wc -l <"$W/big.txt")
step "reference: mpirun -n 2 on $N samples"
mpirun -n 2 --oversubscribe "$Q" calibrate --model "$MODEL" --data "$W/big.txt" "${PRE[@]}" \
    -o "$W/bigref.h5" --quiet >"$W/bigref.log" 2>&1 || bad "big reference run: $(tail -n 3 "$W/bigref.log")"

# wait_ckpt OUT: until a checkpoint of every rank exists (or 60 s).
wait_ckpt() {
    local _
    for _ in $(seq 600); do
        compgen -G "$1.ckpt/gen*/rank1.h5" >/dev/null && return 0
        sleep 0.1
    done
    return 1
}

step "requeue: SIGUSR1 to the batch shell of a running job"
mkdir -p "$W/rq"
export DATA=$W/big.txt OUT=$W/rq/stats.h5 CKPT_EVERY=500
timeout 240 sbatch --wait -n 2 -o "$W/rq/job.out" "$ROOT/slurm/calibrate.sbatch" >"$W/rq/sbatch.out" 2>&1 &
waiter=$!
id=
for _ in $(seq 100); do
    id=$(sed -n 's/^Submitted batch job \([0-9]*\).*/\1/p' "$W/rq/sbatch.out")
    [ -n "$id" ] && break
    sleep 0.1
done
if [ -z "$id" ] || ! wait_ckpt "$OUT"; then
    bad "requeue: no job id or no checkpoint (job $id): $(tail -n 5 "$W/rq/job.out")"
else
    scancel --signal=USR1 --batch "$id"
    # Slurm holds a requeued job for 120 s; release it as soon as the first run is completely
    # gone instead: its slurmstepd processes end a few seconds after the requeue (PMIx
    # cleanup), and a step launched while they live fails (same step socket); the old job
    # credential stays revoked until the next second.
    for _ in $(seq 300); do
        if [ "$(job_state "$id")" = PENDING ] && [ "$(restarts "$id")" = 1 ]; then
            for _ in $(seq 300); do
                stepd_alive "$id" || break
                sleep 0.1
            done
            sleep 1.1
            scontrol update JobId="$id" StartTime=now
            break
        fi
        sleep 0.1
    done
    if wait "$waiter"; then ok; else bad "requeue: sbatch --wait failed: $(tail -n 5 "$W/rq/job.out")"; fi
    [ "$(restarts "$id")" = 1 ] && [ "$(job_state "$id")" = COMPLETED ] && ok ||
        bad "requeue: job $id is $(job_state "$id") after $(restarts "$id") restarts"
    k=$(sed -n 's/.*terminated by SIGTERM with \([0-9]*\) of.*/\1/p' "$W/rq/job.out")
    r=$(sed -n 's/.*resumed \([1-9][0-9]*\) samples from.*/\1/p' "$W/rq/job.out")
    [ -n "$k" ] && [ "$k" -gt 0 ] && [ "$k" -lt "$N" ] && [ "${r:-x}" = "$k" ] && ok ||
        bad "requeue: checkpointed '$k' samples, resumed '$r' (log: $(grep -c . "$W/rq/job.out") lines)"
    grep -q "requeueing job $id" "$W/rq/job.out" && grep -q "(restart 1)" "$W/rq/job.out" && ok ||
        bad "requeue: the log does not show the requeue and the restart"
    same "$W/bigref.h5" "$OUT" && ok || bad "requeue: stats differ from the uninterrupted run: $(why)"
    [ ! -e "$OUT.ckpt" ] && ok || bad "requeue: checkpoint folder left"
    echo "  job $id: $k samples before the requeue, resumed $r of $N"
fi

# ---- 3. scancel, then a new job with another rank count ---------------------------------------
step "scancel of a running job, resubmitted with -n 1"
mkdir -p "$W/sc"
export OUT=$W/sc/stats.h5
id=$(QCAL_LAUNCHER=mpirun sbatch --parsable -n 2 -o "$W/sc/job1.out" "$ROOT/slurm/calibrate.sbatch")
if ! wait_ckpt "$OUT"; then
    bad "scancel: no checkpoint of job $id: $(tail -n 5 "$W/sc/job1.out")"
else
    scancel "$id"
    for _ in $(seq 300); do
        case "$(job_state "$id")" in CANCELLED|FAILED|COMPLETED) break ;; esac
        sleep 0.1
    done
    [ "$(job_state "$id")" = CANCELLED ] && [ ! -e "$OUT" ] && ok ||
        bad "scancel: job $id is $(job_state "$id"), stats file exists: $([ -e "$OUT" ] && echo yes)"
    if sbw "$W/sc/job2.out" -n 1 "$ROOT/slurm/calibrate.sbatch"; then ok; else
        bad "scancel: the second job failed: $(tail -n 5 "$W/sc/job2.out")"; fi
    r=$(sed -n 's/.*resumed \([1-9][0-9]*\) samples from.*/\1/p' "$W/sc/job2.out")
    [ -n "$r" ] && ok || bad "scancel: the second job did not resume: $(grep resumed "$W/sc/job2.out")"
    same "$W/bigref.h5" "$OUT" && ok || bad "scancel: stats differ from the uninterrupted run: $(why)"
    echo "  second job resumed ${r:-0} of $N samples"
fi
unset CKPT_EVERY

# ---- 4. the sweep array job ----------------------------------------------------------------
step "sbatch --wait --array=0-5 slurm/sweep.sbatch"
sum0=$(sha256sum <"$W/srun/stats.h5")
if STATS=$W/srun/stats.h5 OUTDIR=$W/sweep sbw "$W/sweep-%a.out" --array=0-5 "$ROOT/slurm/sweep.sbatch"; then
    ok
else
    bad "sweep job failed: $(tail -n 3 "$W"/sweep-*.out)"
fi
for v in minmax:8 percentile:8 entropy:8 mse:8 enhanced:8 minmax:16; do
    m=${v%:*} b=${v#*:}
    f=$W/sweep/$m-$b.json
    if [ -s "$f" ] && $PY - "$f" "$b" <<'PY'
import sys, json
e = json.load(open(sys.argv[1]))
acts = e["activation_encodings"]
bws = {x["bitwidth"] for v in acts.values() for x in v}
assert len(acts) > 5 and bws == {int(sys.argv[2])}, (len(acts), bws)
assert len(e["param_encodings"]) > 0
PY
    then ok; else bad "sweep: $f missing or not an AIMET file with $b-bit activations"; fi
done
cmp -s "$W/sweep/minmax-8.json" "$W/ref.json" && ok ||
    bad "sweep: minmax-8.json differs from calibrate --encodings"
cmp -s "$W/sweep/percentile-8.json" "$W/sweep/entropy-8.json" && bad "sweep: percentile == entropy" || ok
[ "$(sha256sum <"$W/srun/stats.h5")" = "$sum0" ] && ok || bad "sweep: the stats file changed"

# ---- 5. two calibrate jobs, then a dependent merge job ----------------------------------------
step "two calibrate jobs on halves + merge.sbatch --dependency=afterok"
ls "$D"/calib/*.png | head -n 32 >"$W/part0.txt"
ls "$D"/calib/*.png | tail -n +33 >"$W/part1.txt"
a=$(DATA=$W/part0.txt OUT=$W/part0.h5 sbatch --parsable -n 1 -o "$W/part0.out" "$ROOT/slurm/calibrate.sbatch")
b=$(DATA=$W/part1.txt OUT=$W/part1.h5 sbatch --parsable -n 1 -o "$W/part1.out" "$ROOT/slurm/calibrate.sbatch")
if INPUTS="$W/part0.h5 $W/part1.h5" OUT=$W/merged.h5 ENCODINGS=$W/merged.json \
   sbw "$W/merge.out" --dependency=afterok:$a:$b "$ROOT/slurm/merge.sbatch"; then
    ok
else
    bad "merge job failed: $(tail -n 3 "$W/merge.out" "$W/part0.out" "$W/part1.out")"
fi
same --only /activations,/weights,/graph,/samples,/encodings "$W/ref.h5" "$W/merged.h5" && ok ||
    bad "merge: merged stats differ from the one-run file: $(why)"
cmp -s "$W/ref.json" "$W/merged.json" && ok || bad "merge: merged encodings differ"

step "done"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
