#!/bin/bash
# qcal calibrate against the independent fmnist references: a 4-rank calibration of all 1000
# calib images must give every tensor of ref_stats.tsv with the exact count and min/max within
# 1e-5 of the tensor's magnitude (tests/data/fmnist/README.md: at least 20x the spread between
# the two reference evaluators), every weight range of ref_weights.tsv exactly (per tensor and
# per output channel), a stats file h5dump reads without qcal, the documented root attributes,
# and histograms that hold every value in the canonical window (DESIGN.md "Mergeable histogram").
# The checker is run on perturbed copies too, to show that it fails when a value is off.
set -u
Q=${1:?usage: test_reference.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=$HERE/data/fmnist
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
PRE=(--channels gray --mean 0.2860 --std 0.3530)

t0=$(date +%s.%N)
if timeout 600 mpirun -n 4 --oversubscribe "$Q" calibrate --model "$D/fmnist_cnn.onnx" \
    --data "$D/calib" "${PRE[@]}" -o "$W/stats.h5" --quiet >"$W/run.log" 2>&1 &&
    [ -f "$W/stats.h5" ]; then
    ok
    printf 'mpirun -n 4 calibrate, 1000 images: %.1f s\n' "$(echo "$(date +%s.%N) - $t0" | bc)"
else
    bad "mpirun -n 4 calibrate failed: $(tail -n 5 "$W/run.log")"
    report
    exit 1
fi

# check.py FILE: every reference property; prints each failure and exits 1 if there is one.
cat >"$W/check.py" <<'PY'
import sys, math, h5py, numpy as np

path, refdir = sys.argv[1], sys.argv[2]
errs = []
checked = {"tensors": 0, "weights": 0, "channels": 0}

def s(x):
    return x.decode("utf-8") if isinstance(x, bytes) else str(x)

def rows(name):
    out = []
    for line in open("%s/%s" % (refdir, name)):
        if line.startswith("#") or not line.strip():
            continue
        out.append(line.rstrip("\n").split("\t"))
    return out

with h5py.File(path, "r") as f:
    # Root attributes.
    want = {"format": "qcal-stats", "version": 1, "samples": 1000, "bins": 4096, "ranks": 4}
    for k, v in want.items():
        if k not in f.attrs:
            errs.append("root attribute %s missing" % k)
            continue
        got = f.attrs[k]
        got = s(got) if isinstance(v, str) else int(np.asarray(got).reshape(-1)[0])
        if got != v:
            errs.append("root attribute %s = %r, expected %r" % (k, got, v))
    if "rank_samples" in f.attrs:
        rs = [int(x) for x in np.asarray(f.attrs["rank_samples"]).reshape(-1)]
        if rs != [250, 250, 250, 250]:
            errs.append("rank_samples = %s, expected 4 x 250" % rs)
    else:
        errs.append("root attribute rank_samples missing")

    # Strings are variable-length UTF-8 (DESIGN.md), so h5py/h5dump read them without qcal.
    for d in ("activations/name", "weights/name", "graph/node_name", "samples/path"):
        info = h5py.check_string_dtype(f[d].dtype) if d in f else None
        if info is None or info.length is not None or info.encoding != "utf-8":
            errs.append("/%s is not a variable-length UTF-8 string dataset (%s)" % (d, info))

    # Activations against ref_stats.tsv.
    a = f["activations"]
    names = [s(x) for x in a["name"][()]]
    kinds = [s(x) for x in a["kind"][()]]
    amin, amax, cnt = a["min"][()], a["max"][()], a["count"][()]
    nonfinite, he, hk0, hist = a["nonfinite"][()], a["hist_e"][()], a["hist_k0"][()], a["hist"][()]
    for arr, what in ((amin, "min"), (amax, "max")):
        if arr.dtype != np.float32:
            errs.append("/activations/%s is %s, expected float32" % (what, arr.dtype))
    if cnt.dtype != np.uint64 or hist.dtype != np.uint64:
        errs.append("/activations/count or hist is not uint64")
    if hist.shape != (len(names), 4096):
        errs.append("/activations/hist has shape %s, expected (%d, 4096)" % (hist.shape, len(names)))
    ref = rows("ref_stats.tsv")
    refnames = [r[0] for r in ref]
    if names != refnames:
        errs.append("activation names %s differ from ref_stats.tsv's %s (same set, same order "
                    "expected)" % (names, refnames))
    for r in ref:
        name, rmin, rmax, rcount = r[0], float(r[1]), float(r[2]), int(r[3])
        if name not in names:
            errs.append("%s: not in /activations" % name)
            continue
        j = names.index(name)
        checked["tensors"] += 1
        tol = 1e-5 * max(abs(rmin), abs(rmax))
        if int(cnt[j]) != rcount:
            errs.append("%s: count %d, reference %d" % (name, int(cnt[j]), rcount))
        if not abs(float(amin[j]) - rmin) <= tol:
            errs.append("%s: min %.9g, reference %.9g (|diff| %.3g > %.3g)"
                        % (name, amin[j], rmin, abs(float(amin[j]) - rmin), tol))
        if not abs(float(amax[j]) - rmax) <= tol:
            errs.append("%s: max %.9g, reference %.9g (|diff| %.3g > %.3g)"
                        % (name, amax[j], rmax, abs(float(amax[j]) - rmax), tol))
        want_kind = "input" if name == "input" else "output" if name == "logits" else "activation"
        if kinds[j] != want_kind:
            errs.append("%s: kind %r, expected %r" % (name, kinds[j], want_kind))
        # The histogram: no non-finite values here, every value in a bin, the canonical window
        # e = max(e_span, e_mag, -160), k0 = floor(min / 2^e), min and max in the end bins.
        if list(nonfinite[j]) != [0, 0, 0]:
            errs.append("%s: nonfinite %s, expected none" % (name, list(nonfinite[j])))
        if int(hist[j].sum()) != int(cnt[j]):
            errs.append("%s: histogram holds %d values, count is %d" % (name, int(hist[j].sum()), int(cnt[j])))
        lo, hi = float(amin[j]), float(amax[j])
        e = -160
        while math.floor(math.ldexp(hi, -e)) - math.floor(math.ldexp(lo, -e)) >= 4096:
            e += 1
        m = max(abs(lo), abs(hi))
        e_mag = (math.frexp(m)[1] - 1 - 40) if m > 0 else -160
        e = max(e, e_mag, -160)
        k0 = math.floor(math.ldexp(lo, -e))
        if int(he[j]) != e or int(hk0[j]) != k0:
            errs.append("%s: hist_e %d, hist_k0 %d; canonical window of [%.9g, %.9g] is e %d, k0 %d"
                        % (name, int(he[j]), int(hk0[j]), lo, hi, e, k0))
        else:
            last = math.floor(math.ldexp(hi, -e)) - k0
            if hist[j][0] == 0 or hist[j][last] == 0 or hist[j][last + 1:].any():
                errs.append("%s: the bins of min (0) and max (%d) must be the first and last used"
                            % (name, last))

    # Weights against ref_weights.tsv: exact float32.
    w = f["weights"]
    wnames = [s(x) for x in w["name"][()]]
    wmin, wmax = w["min"][()], w["max"][()]
    cs, cc, cmin, cmax = w["ch_start"][()], w["ch_count"][()], w["ch_min"][()], w["ch_max"][()]
    nch = {}
    for r in rows("ref_weights.tsv"):
        name, ch, rmin, rmax = r[0], int(r[1]), np.float32(r[2]), np.float32(r[3])
        if name not in wnames:
            errs.append("weight %s: not in /weights" % name)
            continue
        j = wnames.index(name)
        if ch < 0:
            checked["weights"] += 1
            got = (wmin[j], wmax[j])
            what = "%s" % name
        else:
            checked["channels"] += 1
            nch[name] = max(nch.get(name, 0), ch + 1)
            if ch >= int(cc[j]):
                errs.append("weight %s: channel %d beyond ch_count %d" % (name, ch, int(cc[j])))
                continue
            k = int(cs[j]) + ch
            got = (cmin[k], cmax[k])
            what = "%s channel %d" % (name, ch)
        if np.float32(got[0]).tobytes() != rmin.tobytes() or np.float32(got[1]).tobytes() != rmax.tobytes():
            errs.append("weight %s: [%.9g, %.9g], reference [%.9g, %.9g] (exact)"
                        % (what, got[0], got[1], rmin, rmax))
    for name, n in nch.items():
        if name in wnames and int(cc[wnames.index(name)]) != n:
            errs.append("weight %s: ch_count %d, reference has %d channels"
                        % (name, int(cc[wnames.index(name)]), n))

for e in errs[:30]:
    print("  " + e)
if len(errs) > 30:
    print("  ... %d failures in all" % len(errs))
print("  checked %(tensors)d tensors, %(weights)d weight tensors, %(channels)d weight channels" % checked)
sys.exit(1 if errs or checked["tensors"] != 12 or checked["weights"] != 4 else 0)
PY

# 1. The stats file against the references.
$PY "$W/check.py" "$W/stats.h5" "$D" && ok || bad "stats differ from ref_stats.tsv / ref_weights.tsv"

# 2. h5dump reads the file without qcal and shows the documented layout.
if h5dump -H "$W/stats.h5" >"$W/dump.txt" 2>"$W/dump.err"; then
    miss=""
    for want in 'GROUP "activations"' 'GROUP "weights"' 'GROUP "graph"' 'GROUP "samples"' \
        'DATASET "hist"' 'DATASET "ch_min"' 'ATTRIBUTE "format"' 'ATTRIBUTE "rank_samples"'; do
        grep -qF "$want" "$W/dump.txt" || miss="$miss $want"
    done
    [ -z "$miss" ] && ok || bad "h5dump -H output lacks:$miss"
else
    bad "h5dump -H failed: $(head -n 3 "$W/dump.err")"
fi
h5dump -a /format "$W/stats.h5" 2>/dev/null | grep -q '"qcal-stats"' && ok ||
    bad "h5dump -a /format does not show \"qcal-stats\""

# 3. The checker must fail on a file with one value off, with the message of that value.
perturb() { # perturb WHAT PATTERN PYTHON-STATEMENTS (f is the open file)
    cp "$W/stats.h5" "$W/pert.h5"
    h5_edit "$W/pert.h5" "$3" || { bad "could not perturb $1"; return; }
    if $PY "$W/check.py" "$W/pert.h5" "$D" >"$W/pert.log"; then
        bad "check.py accepted a perturbed $1"
    elif ! grep -q -- "$2" "$W/pert.log"; then
        bad "check.py rejected a perturbed $1 but without '$2': $(head -n 3 "$W/pert.log")"
    else
        ok
    fi
}
# The activation ranges move by twice the tolerance (2e-5 of the larger magnitude).
TOL2="lo = f['activations/min'][()]; hi = f['activations/max'][()]; t = np.float32(2e-5 * max(abs(lo[J]), abs(hi[J])))"
perturb "activation count" "count 12544001" "c = f['activations/count']; v = c[()]; v[1] += 1; c[...] = v"
perturb "activation min" "Conv_output_0: min" "${TOL2//J/1}; lo[1] -= t; f['activations/min'][...] = lo"
perturb "activation max" "logits: max" "${TOL2//J/11}; hi[11] += t; f['activations/max'][...] = hi"
perturb "weight max (one ulp)" "weight .*reference" "m = f['weights/max']; v = m[()]; v[0] = np.nextafter(v[0], np.float32(np.inf)); m[...] = v"
perturb "weight channel min (one ulp)" "channel .*reference" "m = f['weights/ch_min']; v = m[()]; v[-1] = np.nextafter(v[-1], np.float32(-np.inf)); m[...] = v"
perturb "samples attribute" "samples = 999" "f.attrs['samples'] = np.uint64(999)"
perturb "histogram bin" "histogram holds" "h = f['activations/hist']; r = h[0]; r[1] += 1; h[0] = r"

report
