#!/bin/bash
# qcal plot on the fmnist stats (50 images, a minmax and a percentile encoding set): one PNG per
# activation named by the documented rule; each decodes (a small zlib+struct PNG decoder below,
# all five filter types) to 800x400 RGB; the x axis in the 'qcal:x-axis' text chunk is the
# documented hull of data and encoding ranges padded by 4 %; each set's colour sits at the
# columns its min/max map to (within 1 px) and nowhere else in the plot area; the bars start and
# end at the data min/max; --tensor filters; error paths leave nothing behind.
set -u
Q=${1:?usage: test_plot.sh path/to/qcal}
HERE=$(cd "$(dirname "$0")/.." && pwd)
D=$HERE/data/fmnist
# shellcheck source=../lib/common.sh
. "$HERE/lib/common.sh"
PRE=(--channels gray --mean 0.2860 --std 0.3530)

fmnist_two_sets "$W/fm.h5"

cat >"$W/png.py" <<'PY'
import zlib, struct, numpy as np

def read(path):
    """Decodes an 8-bit RGB, non-interlaced PNG: (h x w x 3 array, {tEXt key: value})."""
    b = open(path, "rb").read()
    assert b[:8] == b"\x89PNG\r\n\x1a\n", "PNG signature"
    i, idat, text = 8, b"", {}
    while i < len(b):
        n, = struct.unpack(">I", b[i:i + 4]); t = b[i + 4:i + 8]; d = b[i + 8:i + 8 + n]
        assert zlib.crc32(t + d) == struct.unpack(">I", b[i + 8 + n:i + 12 + n])[0], "CRC"
        i += 12 + n
        if t == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", d)
        elif t == b"IDAT":
            idat += d
        elif t == b"tEXt":
            k, v = d.split(b"\0", 1); text[k.decode()] = v.decode("latin-1")
    assert depth == 8 and ctype == 2 and interlace == 0, "8-bit RGB"
    raw, st, prev, rows = zlib.decompress(idat), w * 3, [0] * (w * 3), []
    assert len(raw) == h * (st + 1), "IDAT size"
    for y in range(h):
        f = raw[y * (st + 1)]; r = raw[y * (st + 1) + 1:(y + 1) * (st + 1)]; cur = list(r)
        if f == 1:
            for x in range(3, st): cur[x] = (cur[x] + cur[x - 3]) & 255
        elif f == 2:
            cur = [(a + c) & 255 for a, c in zip(r, prev)]
        elif f == 3:
            for x in range(st): cur[x] = (r[x] + ((cur[x - 3] if x >= 3 else 0) + prev[x]) // 2) & 255
        elif f == 4:
            for x in range(st):
                a = cur[x - 3] if x >= 3 else 0; c = prev[x - 3] if x >= 3 else 0; up = prev[x]
                pa, pb, pc = abs(up - c), abs(a - c), abs(a + up - 2 * c)
                cur[x] = (r[x] + (a if pa <= pb and pa <= pc else (up if pb <= pc else c))) & 255
        else:
            assert f == 0, "filter type"
        rows.append(cur); prev = cur
    return np.array(rows, np.uint8).reshape(h, w, 3), text
PY

# 1. One PNG per activation, named by the rule; stdout lists them; no temporary files left.
if "$Q" plot "$W/fm.h5" -o "$W/out/plots" >"$W/plot.out" 2>"$W/plot.err"; then ok; else bad "plot: $(cat "$W/plot.err")"; fi
$PY - "$W/fm.h5" "$W/out/plots" "$W/plot.out" <<'PY' && ok || bad "file names"
import sys, os, re, h5py
names = [n.decode() for n in h5py.File(sys.argv[1], "r")["activations/name"][:]]
want = sorted(re.sub(r"[^A-Za-z0-9._-]", "_", n) + ".png" for n in names)
got = sorted(os.listdir(sys.argv[2]))
listed = sorted(os.path.basename(l) for l in open(sys.argv[3]).read().split())
print("%d activations, %d files" % (len(names), len(got)))
sys.exit(0 if got == want == listed and len(got) == 12 else 1)
PY

# 2. Pictures: size, axis, encoding lines at their columns, bars at the data range, title ink.
$PY - "$W/fm.h5" "$W/out/plots" "$W/png.py" <<'PY' && ok || bad "picture contents"
import sys, re, math, h5py, numpy as np
sys.path.insert(0, sys.argv[3].rsplit("/", 1)[0]); import png
f = h5py.File(sys.argv[1], "r"); A = f["activations"]
names = [n.decode() for n in A["name"][:]]
LEFT, TOP, AW, AH, PAD = 64, 48, 712, 304, 0.04      # include/qcal/plot.h
COLORS = {"minmax-a8-w8": (214, 39, 40), "percentile-a8-w8": (255, 127, 14)}  # marks 0 and 1
BAR = (70, 120, 180)
sets = [s for s in f["encodings"]]
assert sets == ["minmax-a8-w8", "percentile-a8-w8"], sets
enc = {}
for s in sets:
    g = f["encodings"][s]
    an = [n.decode() for n in g["act_name"][:]]
    enc[s] = {n: (float(g["act_min"][i]), float(g["act_max"][i])) for i, n in enumerate(an)}
def px(v, lo, hi):
    return min(max(LEFT + math.floor((v - lo) / (hi - lo) * AW), LEFT), LEFT + AW - 1)
errs, lines = [], 0
for i, name in enumerate(names):
    im, text = png.read("%s/%s.png" % (sys.argv[2], re.sub(r"[^A-Za-z0-9._-]", "_", name)))
    if im.shape != (400, 800, 3):
        errs.append("%s: shape %s" % (name, im.shape)); continue
    if text.get("Title") != name:
        errs.append("%s: Title chunk %r" % (name, text.get("Title")))
    dmin, dmax = float(A["min"][i]), float(A["max"][i])
    b = [dmin, dmax] + [v for s in sets for v in enc[s][name]]
    a, z = min(b), max(b)
    lo, hi = a - (z - a) * PAD, z + (z - a) * PAD
    glo, ghi, gl, gw = text["qcal:x-axis"].split()
    if int(gl) != LEFT or int(gw) != AW or abs(float(glo) - lo) > 1e-12 * (hi - lo) or abs(float(ghi) - hi) > 1e-12 * (hi - lo):
        errs.append("%s: axis %s, expected %r %r" % (name, text["qcal:x-axis"], lo, hi))
    lo, hi = float(glo), float(ghi)
    legend_bottom = TOP + 8 + 12 * len(sets)
    for s in sets:
        want = {px(v, lo, hi) for v in enc[s][name]}
        mask = np.all(im == np.array(COLORS[s], np.uint8), axis=2)
        for x in want:
            # The line (rows TOP..TOP+AH-1, behind the bars) or its triangle (rows TOP-5..TOP-2).
            if not mask[TOP - 5:TOP + AH, x - 1:x + 2].any():
                errs.append("%s: no %s line at column %d" % (name, s, x))
            lines += 1
        # Below the legend, the colour appears only in the expected columns (+-1 px).
        cols = set(np.nonzero(mask[legend_bottom + 1:TOP + AH].any(axis=0))[0].tolist())
        stray = {c for c in cols if min(abs(c - x) for x in want) > 1}
        if stray:
            errs.append("%s: %s colour in columns %s, expected near %s" % (name, s, sorted(stray)[:5], sorted(want)))
    # The histogram's first and last non-empty bins hold dmin and dmax: bars at those columns.
    bar = np.all(im[TOP + AH - 1] == np.array(BAR, np.uint8), axis=1)
    for v in (dmin, dmax):
        x = px(v, lo, hi)
        if not bar[x - 1:x + 2].any():
            errs.append("%s: no bar at column %d (value %g)" % (name, x, v))
    cols = np.nonzero(bar)[0]
    if cols.size == 0 or cols.min() < px(dmin, lo, hi) - 1 or cols.max() > px(dmax, lo, hi) + 1:
        errs.append("%s: bars outside the data range" % name)
    # Title: dark glyph pixels in the top band, left aligned.
    ink = np.all(im[4:24, 8:200] < 80, axis=2).sum()
    if ink < 40:
        errs.append("%s: no title text (%d dark pixels)" % (name, ink))
print("%d pictures, %d encoding lines checked" % (len(names), lines))
errs and print("\n".join(errs[:20]))
sys.exit(1 if errs else 0)
PY
ls "$W/out/plots" | grep -q "tmp" && bad "temporary files left: $(ls "$W/out/plots")" || ok

# 3. --tensor filters (regex search), -o creates parents.
"$Q" plot "$W/fm.h5" --tensor 'Relu|^logits$' -o "$W/sub/a/b" >/dev/null 2>"$W/e.err" || bad "plot --tensor: $(cat "$W/e.err")"
[ "$(ls "$W/sub/a/b" | tr '\n' ' ')" = "_relu1_Relu_output_0.png _relu2_Relu_output_0.png _relu3_Relu_output_0.png logits.png " ] \
    && ok || bad "--tensor files: $(ls "$W/sub/a/b")"

# 4. Error paths: exit status, one line naming the culprit, nothing written.
expect_err() { # expect_err CODE PATTERN -- args...
    local code=$1 pat=$2; shift 3
    "$Q" "$@" >"$W/e.out" 2>"$W/e.err"
    local rc=$?
    if [ "$rc" -ne "$code" ]; then bad "qcal $* exited $rc, expected $code: $(cat "$W/e.err")"; return; fi
    if ! grep -q "^qcal: error: .*$pat" "$W/e.err" || [ "$(wc -l <"$W/e.err")" -ne 1 ]; then
        bad "qcal $*: message '$(cat "$W/e.err")' lacks '$pat' or is not one line"; return; fi
    ok
}
printf 'not hdf5' >"$W/bad.h5"
touch "$W/afile"
mkdir -p "$W/ro"
expect_err 3 "nope.h5" -- plot "$W/nope.h5" -o "$W/ro/x"
expect_err 4 "bad.h5" -- plot "$W/bad.h5" -o "$W/ro/y"
expect_err 1 "-o DIR is required" -- plot "$W/fm.h5"
expect_err 1 "no activation matches --tensor 'zzz'" -- plot "$W/fm.h5" --tensor zzz -o "$W/ro/z"
expect_err 1 "--tensor '\[':" -- plot "$W/fm.h5" --tensor '[' -o "$W/ro/w"
expect_err 3 "afile" -- plot "$W/fm.h5" -o "$W/afile/x"
expect_err 3 "afile" -- plot "$W/fm.h5" -o "$W/afile"
[ -z "$(ls -A "$W/ro")" ] && ok || bad "files left behind after errors: $(ls -A "$W/ro")"
if [ "$(id -u)" -ne 0 ]; then
    mkdir -p "$W/locked" && chmod 555 "$W/locked"
    expect_err 3 "locked/logits.png" -- plot "$W/fm.h5" --tensor '^logits$' -o "$W/locked"
    [ -z "$(ls -A "$W/locked")" ] && ok || bad "files left in a read-only directory"
    chmod 755 "$W/locked"
fi
"$Q" plot --help | grep -q "64 + floor((v - lo) / (hi - lo) \* 712)" && ok || bad "plot --help states the mapping"

report
