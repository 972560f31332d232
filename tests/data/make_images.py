#!/usr/bin/python3
"""Generates the image/npy fixtures of tests/unit/test_data.c into tests/data/img/.

Run with /usr/bin/python3 (numpy). The outputs are committed, so the tests never run this.
PNG files are written chunk by chunk here (zlib + struct, no imaging library), with every
colour type and bit depth, all five row filters and Adam7 interlacing. JPEG files need cjpeg and
djpeg (Debian: libjpeg-turbo-progs); without them the existing JPEG fixtures are kept.

Sample values follow one formula that test_data.c recomputes on its own:
    v(x, y, c) = (x * 40503 + y * 9973 + c * 27001 + 1234) mod 2^depth
Palette entry k = ((k*73 + 11) & 255, (k*151 + 7) & 255, (k*199 + 3) & 255); palette images
use v(x, y, 0) as the index; a palette tRNS chunk gives alpha[k] = (k*97 + 13) & 255 for
k < min(40, 2^depth - 3) (later entries are opaque). Gray tRNS: the value v(2, 1, 0);
RGB tRNS: the colour (v(3,2,0), v(3,2,1), v(3,2,2)).

Preprocessing references (pp_*.npy) are computed here independently, in numpy float32 scalar
arithmetic, from the rules in include/qcal/data.h.
"""
import os
import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "img")
FMNIST = os.path.join(HERE, "..", "..", "..", "shared", "data", "fmnist", "calib",
                      "calib_00000.png")
W, H = 7, 5

GRAY, RGB, PALETTE, GRAY_ALPHA, RGBA = 0, 2, 3, 4, 6
CHANNELS = {GRAY: 1, RGB: 3, PALETTE: 1, GRAY_ALPHA: 2, RGBA: 4}


def v(x, y, c, depth):
    return (x * 40503 + y * 9973 + c * 27001 + 1234) % (1 << depth)


def palette_entry(k):
    return ((k * 73 + 11) & 255, (k * 151 + 7) & 255, (k * 199 + 3) & 255)


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def pack_row(samples, depth):
    """Samples of one row (ints) -> bytes at the given bit depth (big-endian, MSB first)."""
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    if depth == 8:
        return bytes(samples)
    per = 8 // depth
    out = bytearray()
    for i in range(0, len(samples), per):
        byte = 0
        group = samples[i:i + per]
        for j, s in enumerate(group):
            byte |= s << (8 - depth * (j + 1))
        out.append(byte)
    return bytes(out)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_rows(rows, bpp, first_filter):
    """PNG filtering; the filter type cycles 0..4 so that libpng undoes all of them."""
    out = bytearray()
    prev = bytes(len(rows[0])) if rows else b""
    for i, raw in enumerate(rows):
        ft = (first_filter + i) % 5
        f = bytearray()
        for j, byte in enumerate(raw):
            a = raw[j - bpp] if j >= bpp else 0
            b = prev[j]
            c = prev[j - bpp] if j >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][ft]
            f.append((byte - pred) & 255)
        out.append(ft)
        out += f
        prev = raw
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2)]


def write_png(name, color, depth, pixels, palette=None, trns=None, interlace=False):
    """pixels[y][x] is a tuple of samples (an index for palette images)."""
    ch = CHANNELS[color]
    bpp = max(1, ch * depth // 8)
    height, width = len(pixels), len(pixels[0])

    def rows_of(xs, ys):
        return [pack_row([s for x in xs for s in pixels[y][x]], depth) for y in ys]

    if interlace:
        data = b""
        for p, (x0, y0, dx, dy) in enumerate(ADAM7):
            xs, ys = list(range(x0, width, dx)), list(range(y0, height, dy))
            if xs and ys:
                data += filter_rows(rows_of(xs, ys), bpp, p)
    else:
        data = filter_rows(rows_of(range(width), range(height)), bpp, 0)
    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color, 0, 0,
                                      1 if interlace else 0))
    if palette is not None:
        png += chunk(b"PLTE", b"".join(bytes(e) for e in palette))
    if trns is not None:
        png += chunk(b"tRNS", trns)
    # Two IDAT chunks, so the reader has to join them.
    z = zlib.compress(data, 9)
    half = len(z) // 2
    png += chunk(b"IDAT", z[:half]) + chunk(b"IDAT", z[half:])
    png += chunk(b"IEND", b"")
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(png)
    return png


def pattern(ch, depth):
    return [[tuple(v(x, y, c, depth) for c in range(ch)) for x in range(W)] for y in range(H)]


def make_pngs():
    for d in (1, 2, 4, 8, 16):
        write_png("g%d.png" % d, GRAY, d, pattern(1, d))
    for d in (2, 8, 16):
        write_png("g%d_trns.png" % d, GRAY, d, pattern(1, d), trns=struct.pack(">H", v(2, 1, 0, d)))
    for d in (8, 16):
        write_png("ga%d.png" % d, GRAY_ALPHA, d, pattern(2, d))
        write_png("rgb%d.png" % d, RGB, d, pattern(3, d))
        write_png("rgba%d.png" % d, RGBA, d, pattern(4, d))
        t = struct.pack(">HHH", *(v(3, 2, c, d) for c in range(3)))
        write_png("rgb%d_trns.png" % d, RGB, d, pattern(3, d), trns=t)
    for d in (1, 2, 4, 8):
        pal = [palette_entry(k) for k in range(1 << d)]
        write_png("p%d.png" % d, PALETTE, d, pattern(1, d), palette=pal)
        if d >= 4:
            trns = bytes((k * 97 + 13) & 255 for k in range(min(40, (1 << d) - 3)))
            write_png("p%d_trns.png" % d, PALETTE, d, pattern(1, d), palette=pal, trns=trns)
    write_png("rgb8_adam7.png", RGB, 8, pattern(3, 8), interlace=True)
    write_png("g16_adam7.png", GRAY, 16, pattern(1, 16), interlace=True)

    good = open(os.path.join(OUT, "rgb8.png"), "rb").read()
    with open(os.path.join(OUT, "trunc.png"), "wb") as f:
        f.write(good[:len(good) * 2 // 3])
    bad = bytearray(good)
    bad[-20] ^= 0x55  # inside the last IDAT: its CRC no longer matches
    with open(os.path.join(OUT, "badcrc.png"), "wb") as f:
        f.write(bytes(bad))
    with open(os.path.join(OUT, "notpng.png"), "wb") as f:
        f.write(b"this is not a PNG file\n")


def read_png_gray8(path):
    """A minimal reader for the fmnist PNGs (8-bit gray, not interlaced), for the references."""
    b = open(path, "rb").read()
    assert b[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", None
    while pos < len(b):
        n, = struct.unpack(">I", b[pos:pos + 4])
        kind, body = b[pos + 4:pos + 8], b[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    width, height, depth, color, _, _, interlace = ihdr
    assert depth == 8 and color == GRAY and interlace == 0
    raw = zlib.decompress(idat)
    out, prev = [], bytes(width)
    for y in range(height):
        ft, f = raw[y * (width + 1)], raw[y * (width + 1) + 1:(y + 1) * (width + 1)]
        row = bytearray(width)
        for j in range(width):
            a = row[j - 1] if j >= 1 else 0
            b2 = prev[j]
            c = prev[j - 1] if j >= 1 else 0
            pred = [0, a, b2, (a + b2) // 2, paeth(a, b2, c)][ft]
            row[j] = (f[j] + pred) & 255
        out.append(bytes(row))
        prev = row
    return np.array([list(r) for r in out], dtype=np.uint8)


F = np.float32


def normalize(val, c, maxval, mean, std, scale):
    mean = mean[c if len(mean) > 1 else 0]
    std = std[c if len(std) > 1 else 0]
    if scale is not None:
        return (F(val) * F(scale) - F(mean)) / F(std)
    return (F(val) / F(maxval) - F(mean)) / F(std)


def to_channels(img, mode):
    """img [h, w, ch] ints -> list of float32 planes per data.h step 1."""
    h, w, ch = img.shape
    if ch < 3:
        g = [[F(img[y, x, 0]) for x in range(w)] for y in range(h)]
        return [g] if mode == "gray" else [g, g, g]
    if mode == "gray":
        g = [[(F(0.299) * F(img[y, x, 0]) + F(0.587) * F(img[y, x, 1])) + F(0.114) * F(img[y, x, 2])
              for x in range(w)] for y in range(h)]
        return [g]
    order = [0, 1, 2] if mode == "rgb" else [2, 1, 0]
    return [[[F(img[y, x, k]) for x in range(w)] for y in range(h)] for k in order]


def axis_taps(out, n_in, rs, shift):
    taps = []
    r = F(n_in) / F(rs)
    for o in range(out):
        t = o + shift
        if t < 0 or t >= rs:
            taps.append(None)
        elif rs == n_in:
            taps.append((t, t, F(0)))
        else:
            src = (F(t) + F(0.5)) * r - F(0.5)
            if src < 0:
                src = F(0)
            i0 = int(np.floor(src))
            if i0 >= n_in - 1:
                taps.append((n_in - 1, n_in - 1, F(0)))
            else:
                taps.append((i0, i0 + 1, src - F(i0)))
    return taps


def rounded(a, b, c):
    return max(1, (2 * a * b + c) // (2 * c))


def preprocess(img, maxval, Wt, Ht, mode, resize, layout, mean, std, scale=None):
    """Reference of qcal_preprocess_image for one image [h, w, ch]."""
    h, w, _ = img.shape
    planes = to_channels(img, mode)
    rw, rh, sx, sy = Wt, Ht, 0, 0
    if resize == "letterbox":
        if Wt * h <= Ht * w:
            rw, rh = Wt, min(Ht, rounded(h, Wt, w))
        else:
            rw, rh = min(Wt, rounded(w, Ht, h)), Ht
        sx, sy = -((Wt - rw) // 2), -((Ht - rh) // 2)
    elif resize == "center-crop":
        if Wt * h >= Ht * w:
            rw, rh = Wt, rounded(h, Wt, w)
        else:
            rw, rh = rounded(w, Ht, h), Ht
        sx, sy = (rw - Wt) // 2, (rh - Ht) // 2
    tx, ty = axis_taps(Wt, w, rw, sx), axis_taps(Ht, h, rh, sy)
    C = len(planes)
    out = np.zeros((C, Ht, Wt), dtype=np.float32)
    for c, p in enumerate(planes):
        for oy in range(Ht):
            for ox in range(Wt):
                if tx[ox] is None or ty[oy] is None:
                    val = F(0)
                else:
                    x0, x1, fx = tx[ox]
                    y0, y1, fy = ty[oy]
                    a, b, cc, d = p[y0][x0], p[y0][x1], p[y1][x0], p[y1][x1]
                    top = a + fx * (b - a)
                    bot = cc + fx * (d - cc)
                    val = top + fy * (bot - top)
                out[c, oy, ox] = normalize(val, c, maxval, mean, std, scale)
    out = out[None]
    if layout == "nhwc":
        out = out.transpose(0, 2, 3, 1).copy()
    return out


def make_references():
    # fmnist: the PNG copied verbatim, and its [1,1,28,28] tensor with mean 0.2860, std 0.3530.
    shutil.copyfile(FMNIST, os.path.join(OUT, "fmnist_calib_00000.png"))
    p = read_png_gray8(FMNIST)
    ref = ((p.astype(np.float32) / F(255.0)) - F(0.2860)) / F(0.3530)
    np.save(os.path.join(OUT, "fmnist_calib_00000.npy"), ref.reshape(1, 1, 28, 28))
    # The generic path must give the same numbers as the vectorised formula above.
    gen = preprocess(p[:, :, None], 255, 28, 28, "gray", "stretch", "nchw", [0.2860], [0.3530])
    assert np.array_equal(gen.view(np.uint32), ref.reshape(1, 1, 28, 28).view(np.uint32))

    rgb8 = np.array(pattern(3, 8), dtype=np.int64)
    rgb16 = np.array(pattern(3, 16), dtype=np.int64)
    g8 = np.array(pattern(1, 8), dtype=np.int64)
    cases = {
        "pp_rgb8_stretch_bgr_nhwc": (rgb8, 255, 4, 3, "bgr", "stretch", "nhwc",
                                     [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], None),
        "pp_rgb8_up_rgb_nchw": (rgb8, 255, 11, 9, "rgb", "stretch", "nchw", [0.5], [0.25], None),
        "pp_rgb8_letterbox": (rgb8, 255, 6, 6, "rgb", "letterbox", "nchw", [0.0], [1.0], None),
        "pp_rgb8_crop": (rgb8, 255, 3, 3, "rgb", "center-crop", "nchw", [0.1], [0.9], None),
        "pp_rgb16_gray_scale": (rgb16, 65535, 5, 4, "gray", "stretch", "nchw", [0.5], [2.0],
                                1.0 / 65536.0),
        "pp_g8_rgb_letterbox_wide": (g8, 255, 9, 4, "rgb", "letterbox", "nhwc", [0.0], [1.0],
                                     None),
    }
    for name, (img, mx, wt, ht, mode, rs, lay, mean, std, scale) in cases.items():
        out = preprocess(img, mx, wt, ht, mode, rs, lay, mean, std, scale)
        np.save(os.path.join(OUT, name + ".npy"), out)


def make_npys():
    a = (np.arange(6, dtype=np.float32) * F(0.5) - F(1.0)).reshape(2, 3)
    np.save(os.path.join(OUT, "arr_f4.npy"), a)
    np.save(os.path.join(OUT, "arr_f8.npy"), a.astype(np.float64))
    np.save(os.path.join(OUT, "arr_be.npy"), a.astype(">f4"))
    np.save(os.path.join(OUT, "arr_fortran.npy"), np.asfortranarray(a.T))
    with open(os.path.join(OUT, "arr_v2.npy"), "wb") as f:
        np.lib.format.write_array(f, a.reshape(1, 2, 3), version=(2, 0))
    np.save(os.path.join(OUT, "arr_scalar.npy"), np.float32(3.25))
    whole = open(os.path.join(OUT, "arr_f4.npy"), "rb").read()
    with open(os.path.join(OUT, "arr_trunc.npy"), "wb") as f:
        f.write(whole[:-3])
    a.tofile(os.path.join(OUT, "arr6.raw"))
    a.astype("<f4").tofile(os.path.join(OUT, "arr6.bin"))


def read_pnm(path):
    b = open(path, "rb").read()
    fields, pos = [], 0
    while len(fields) < 4:
        while b[pos:pos + 1].isspace():
            pos += 1
        start = pos
        while not b[pos:pos + 1].isspace():
            pos += 1
        fields.append(b[start:pos])
    pos += 1
    magic, w, h, mx = fields[0], int(fields[1]), int(fields[2]), int(fields[3])
    assert mx == 255
    ch = 3 if magic == b"P6" else 1
    return np.frombuffer(b[pos:pos + w * h * ch], dtype=np.uint8).reshape(h, w, ch)


def make_jpegs():
    cjpeg, djpeg = shutil.which("cjpeg"), shutil.which("djpeg")
    if not cjpeg or not djpeg:
        print("cjpeg/djpeg not found (apt-get install libjpeg-turbo-progs): JPEG fixtures kept")
        return
    w, h = 19, 13
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([(xx * 13 + yy * 3) % 256, (yy * 19 + 40) % 256, ((xx ^ yy) * 9) % 256],
                   axis=2).astype(np.uint8)
    tmp = os.path.join(OUT, "tmp_src.ppm")
    with open(tmp, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (w, h) + rgb.tobytes())
    jobs = [("rgb.jpg", ["-quality", "85"]), ("gray.jpg", ["-quality", "90", "-grayscale"]),
            ("prog.JPEG", ["-quality", "75", "-progressive"])]
    for name, args in jobs:
        dst = os.path.join(OUT, name)
        subprocess.run([cjpeg] + args + ["-outfile", dst, tmp], check=True)
        ref = os.path.join(OUT, "tmp_ref.pnm")
        subprocess.run([djpeg, "-dct", "int", "-pnm", "-outfile", ref, dst], check=True)
        px = read_pnm(ref)
        np.save(os.path.join(OUT, os.path.splitext(name)[0].lower() + "_jpg_ref.npy"),
                px.astype(np.float32))
        os.unlink(ref)
    os.unlink(tmp)
    good = open(os.path.join(OUT, "rgb.jpg"), "rb").read()
    with open(os.path.join(OUT, "trunc.jpg"), "wb") as f:
        f.write(good[:len(good) * 3 // 5])


def main():
    os.makedirs(OUT, exist_ok=True)
    make_pngs()
    make_references()
    make_npys()
    make_jpegs()
    print("fixtures written to", OUT)


if __name__ == "__main__":
    sys.exit(main())
