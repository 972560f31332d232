#!/bin/bash
# qcal calibrate is independent of the rank count: the same 203 calibration images (every 4th
# fmnist calib image, given as a list file) calibrated under mpirun -n 1, 2, 3 and 4 must give
# stats files whose datasets and attributes are bit-identical (DESIGN.md: only the root attrs
# ranks, rank_samples and created, and the encodings' created, may differ), identical encodings
# JSON files without times in them, and rank_samples that follow "sample i goes to rank i mod P".
# The comparison code is checked to fail on perturbed copies of a file.
set -u
Q=${1:?usage: test_ranks.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=$HERE/data/fmnist
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
PRE=(--channels gray --mean 0.2860 --std 0.3530)
N=203

# The list file: absolute paths, every 4th image, so shards are uneven for P = 2, 3 and 4.
for i in $(seq 0 $((N - 1))); do
    printf '%s/calib/calib_%05d.png\n' "$D" $((4 * i))
done >"$W/list.txt"

# One run per rank count, always with the same -o and --encodings paths (moved away afterwards)
# so that nothing path-dependent can hide or fake a difference.
for P in 1 2 3 4; do
    t0=$(date +%s.%N)
    if timeout 300 mpirun -n "$P" --oversubscribe "$Q" calibrate --model "$D/fmnist_cnn.onnx" \
        --data "$W/list.txt" "${PRE[@]}" -o "$W/stats.h5" --encodings "$W/enc.json" --quiet \
        >"$W/run$P.log" 2>&1 && [ -f "$W/stats.h5" ] && [ -f "$W/enc.json" ]; then
        mv "$W/stats.h5" "$W/p$P.h5"
        mv "$W/enc.json" "$W/p$P.json"
        ok
        printf 'mpirun -n %d: %.1f s\n' "$P" "$(echo "$(date +%s.%N) - $t0" | bc)"
    else
        bad "mpirun -n $P calibrate failed: $(tail -n 5 "$W/run$P.log")"
    fi
done
if [ "$fail" -ne 0 ]; then
    report
    exit 1
fi

# The comparison: h5same (tests/lib/h5same.py) with the run attributes ignored and the groups
# the test is about required; check.py FILE P N LIST checks the rank accounting of one file.
same() { # same A B: every difference printed, non-zero if there is one
    h5same "$1" "$2" "${RUN_ATTRS[@]}" --require /activations /weights /graph /samples /encodings \
        '/encodings/*'
}

cat >"$W/check.py" <<'PY'
import sys, h5py, numpy as np
path, P, N, lst = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
errs = []
with h5py.File(path, "r") as f:
    ranks = int(f.attrs["ranks"])
    rs = np.asarray(f.attrs["rank_samples"]).reshape(-1)
    if ranks != P:
        errs.append("ranks = %d, expected %d" % (ranks, P))
    if len(rs) != P:
        errs.append("rank_samples has %d entries, expected %d" % (len(rs), P))
    if int(rs.sum()) != N:
        errs.append("rank_samples %s sums to %d, expected %d" % (list(rs), int(rs.sum()), N))
    if any(abs(float(r) - N / P) > 1.0 for r in rs):
        errs.append("rank_samples %s: an entry is not within 1 of N/P = %.2f" % (list(rs), N / P))
    # Sample i goes to rank i mod P.
    want = [(N - r + P - 1) // P for r in range(P)]
    if len(rs) == P and [int(r) for r in rs] != want:
        errs.append("rank_samples %s, expected %s (sample i on rank i mod P)" % (list(rs), want))
    if int(f.attrs["samples"]) != N:
        errs.append("samples = %d, expected %d" % (int(f.attrs["samples"]), N))
    paths = [p.decode() if isinstance(p, bytes) else p for p in f["samples/path"][()]]
    listed = open(lst).read().split()
    if paths != listed:
        errs.append("/samples/path is not the list in order (%d entries)" % len(paths))
    if "skipped" in f["samples"] and len(f["samples/skipped"]) != 0:
        errs.append("/samples/skipped is not empty")
for e in errs:
    print("  " + e)
sys.exit(1 if errs else 0)
PY

# 1. Rank accounting of every file.
for P in 1 2 3 4; do
    $PY "$W/check.py" "$W/p$P.h5" "$P" "$N" "$W/list.txt" && ok || bad "rank accounting of the $P-rank file"
done

# 2. Every dataset and attribute (but the exempt ones) bit-identical to the 1-rank file.
for P in 2 3 4; do
    echo "p1.h5 vs p$P.h5:"
    same "$W/p1.h5" "$W/p$P.h5" && ok || bad "the $P-rank stats file differs from the 1-rank one"
done

# 3. Encodings JSON: byte-identical, and free of times.
for P in 2 3 4; do
    cmp -s "$W/p1.json" "$W/p$P.json" && ok || bad "encodings JSON of $P ranks differs: $(diff "$W/p1.json" "$W/p$P.json" | head -n 6)"
done
if $PY - "$W/p1.json" <<'PY'
import sys, re, json
text = open(sys.argv[1], encoding="utf-8").read()
json.loads(text)
hits = re.findall(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?", text)
hits += re.findall(r'"[^"]*(?:created|timestamp|time|date)[^"]*"\s*:', text, flags=re.I)
for h in hits[:5]:
    print("  time in the encodings JSON: %s" % h)
sys.exit(1 if hits else 0)
PY
then ok; else bad "the encodings JSON contains a time (it must not: runs must be reproducible)"; fi

# 4. The comparison must see a change of one value: perturb copies of the 1-rank file.
perturb() { # perturb WHAT PYTHON-STATEMENTS (f is the open file)
    cp "$W/p1.h5" "$W/pert.h5"
    h5_edit "$W/pert.h5" "$2" || { bad "could not perturb $1"; return; }
    same "$W/p1.h5" "$W/pert.h5" >"$W/pert.log"
    [ $? -eq 1 ] && ok || bad "the comparison did not notice a perturbed $1: $(cat "$W/pert.log")"
}
perturb "histogram count" "h = f['activations/hist']; r = h[3]; r[7] += 1; h[3] = r"
perturb "activation max" "m = f['activations/max']; v = m[()]; v[2] = np.nextafter(v[2], np.float32(np.inf)); m[...] = v"
perturb "weight channel min" "m = f['weights/ch_min']; v = m[()]; v[5] = np.nextafter(v[5], np.float32(-np.inf)); m[...] = v"
perturb "sample path" "p = f['samples/path']; p[0] = p[0] + b'x'"
perturb "graph node name" "p = f['graph/node_name']; p[1] = b'other'"
perturb "encoding scale" "g = f['encodings']; k = sorted(g)[0]; s = g[k]['act_scale']; v = s[()]; v[0] = np.nextafter(v[0], np.float32(np.inf)); s[...] = v"
perturb "root attribute samples" "f.attrs['samples'] = np.uint64(int(f.attrs['samples']) + 1)"
perturb "encodings method attribute" "g = f['encodings']; k = sorted(g)[0]; g[k].attrs['method'] = 'other'"
# ... while the exempt attributes are ignored by the comparison, and check.py sees a wrong
# rank_samples.
cp "$W/p1.h5" "$W/pert.h5"
h5_edit "$W/pert.h5" "f.attrs['created'] = '1999-01-01T00:00:00Z'; \
f.attrs['rank_samples'] = np.array([$((N - 2)), 2], np.uint64); \
g = f['encodings']; g[sorted(g)[0]].attrs['created'] = '1999-01-01T00:00:00Z'"
same "$W/p1.h5" "$W/pert.h5" >/dev/null && ok || bad "the comparison does not ignore created/rank_samples"
$PY "$W/check.py" "$W/pert.h5" 1 "$N" "$W/list.txt" >/dev/null && bad "check.py accepted a wrong rank_samples" || ok

report
