#!/usr/bin/python3
"""h5same.py A B [--ignore PATTERN ...] [--require PATTERN ...] [--max N]

Compares two HDF5 files (qcal stats, checkpoint or dump files) exactly: every group, every
dataset (HDF5 type, shape and raw bytes, so NaN payloads and -0.0 count; variable-length strings
by their value, not by their heap pointers), every attribute (HDF5 type, shape and value) and
every soft or external link (by its target; links are not followed).

Each object is named by its path ("/activations/hist"), each attribute by "PATH@NAME"
("/@created", "/encodings/minmax-a8-w8@created"). --ignore PATTERN leaves out what matches: '*'
stands for any text within one path component, '**' for any text; a pattern that matches an
object leaves out its attributes and everything below it. --require PATTERN fails unless some
object of A matches (to prove the compared part is there at all).

Prints each difference (at most --max, default 20) and exits 1 if there is one or a required
object is missing; prints "identical: ..." and exits 0 otherwise; exits 2 when a file cannot be
read or the arguments are wrong.
"""
import argparse
import re
import sys

import h5py
import numpy as np


def pattern(text):
    """A compiled regex for one --ignore/--require pattern."""
    out = []
    i = 0
    while i < len(text):
        if text.startswith("**", i):
            out.append(".*")
            i += 2
        elif text[i] == "*":
            out.append("[^/@]*")
            i += 1
        else:
            out.append(re.escape(text[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def ignored(name, pats):
    """Whether the object or attribute name, or an object above it, matches a pattern."""
    obj, _, attr = name.partition("@")
    # The object and every object above it: "/a/b" -> "/", "/a", "/a/b".
    parts = obj.strip("/").split("/") if obj != "/" else []
    heads = ["/"] + ["/" + "/".join(parts[:k]) for k in range(1, len(parts) + 1)]
    for p in pats:
        if attr and p.match(name):
            return True
        if any(p.match(h) for h in heads):
            return True
    return False


def text_bytes(x):
    return x.encode("utf-8") if isinstance(x, str) else bytes(x)


def value_key(v, dtype):
    """An exactly comparable form of an array or scalar: strings by value, the rest by bytes."""
    if dtype.kind == "O" or isinstance(v, (bytes, str)):
        items = np.asarray(v, dtype=object).reshape(-1) if isinstance(v, np.ndarray) else [v]
        return ("strings", tuple(text_bytes(x) for x in items))
    a = np.ascontiguousarray(np.asarray(v))
    return ("bytes", a.dtype.str, a.tobytes())


def type_key(dtype):
    """The dtype with its string information (h5py keeps VL/fixed and ASCII/UTF-8 there)."""
    info = h5py.check_string_dtype(dtype)
    return (str(dtype), None if info is None else (info.encoding, info.length))


def describe(path):
    """Maps every object, attribute and link of the file to a comparable value."""
    out = {}

    def attrs(obj, at):
        for name in obj.attrs:
            aid = h5py.h5a.open(obj.id, name.encode())
            v = obj.attrs[name]
            out[at + "@" + name] = ("A", type_key(aid.dtype), aid.shape, value_key(v, aid.dtype))

    def walk(g, at):
        out[at] = ("G",)
        attrs(g, at)
        for k in g:
            sub = (at.rstrip("/") + "/" + k)
            link = g.get(k, getlink=True)
            if isinstance(link, h5py.SoftLink):
                out[sub] = ("L soft", link.path)
            elif isinstance(link, h5py.ExternalLink):
                out[sub] = ("L external", link.filename, link.path)
            else:
                obj = g[k]
                if isinstance(obj, h5py.Group):
                    walk(obj, sub)
                else:
                    out[sub] = ("D", type_key(obj.dtype), obj.shape, value_key(obj[()], obj.dtype))
                    attrs(obj, sub)

    with h5py.File(path, "r") as f:
        walk(f, "/")
    return out


def short(v):
    s = repr(v)
    return s if len(s) <= 160 else s[:160] + "..."


def explain(x, y):
    """Where two values of the same key differ."""
    if x[:3] != y[:3] or x[0] not in ("A", "D"):
        return "%s vs %s" % (short(x[:3]), short(y[:3])) if x[:3] != y[:3] else \
            "%s vs %s" % (short(x), short(y))
    vx, vy = x[3], y[3]
    if vx[0] != vy[0] or vx[0] == "strings":
        if vx[0] == vy[0] and len(vx[1]) == len(vy[1]):
            i = next(i for i in range(len(vx[1])) if vx[1][i] != vy[1][i])
            return "string %d: %r vs %r" % (i, vx[1][i], vy[1][i])
        return "%s vs %s" % (short(vx), short(vy))
    dt = np.dtype(vx[1])
    if dt.itemsize not in (1, 2, 4, 8) or len(vx[2]) != len(vy[2]):
        return "raw bytes differ"
    ux = np.frombuffer(vx[2], dtype="u%d" % dt.itemsize)
    uy = np.frombuffer(vy[2], dtype="u%d" % dt.itemsize)
    idx = np.flatnonzero(ux != uy)
    ax, ay = np.frombuffer(vx[2], dtype=dt), np.frombuffer(vy[2], dtype=dt)
    shape = x[2] or ()
    at = tuple(int(i) for i in np.unravel_index(idx[0], shape)) if shape else ()
    return "%d of %d elements differ, first at %s: %r vs %r" % (
        len(idx), len(ux), at, ax[idx[0]], ay[idx[0]])


def main():
    ap = argparse.ArgumentParser(description="Compare two HDF5 files exactly.")
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--ignore", nargs="+", action="extend", default=[], metavar="PATTERN")
    ap.add_argument("--require", nargs="+", action="extend", default=[], metavar="PATTERN")
    ap.add_argument("--max", type=int, default=20)
    args = ap.parse_args()
    ign = [pattern(p) for p in args.ignore]
    try:
        a, b = describe(args.a), describe(args.b)
    except (OSError, KeyError, ValueError) as e:
        print("h5same: cannot read: %s" % e)
        sys.exit(2)
    diffs = []
    skipped = 0
    for k in sorted(set(a) | set(b)):
        if ignored(k, ign):
            skipped += 1
            continue
        if k not in a or k not in b:
            diffs.append("%s only in %s" % (k, args.a if k in a else args.b))
        elif a[k] != b[k]:
            diffs.append("%s differs: %s" % (k, explain(a[k], b[k])))
    for r in args.require:
        p = pattern(r)
        if not any(p.match(k) for k in a if "@" not in k):
            diffs.append("nothing matches %s in %s" % (r, args.a))
    for d in diffs[:args.max]:
        print("  " + d)
    if len(diffs) > args.max:
        print("  ... %d differences in all" % len(diffs))
    if not diffs:
        kinds = [v[0] for k, v in a.items() if not ignored(k, ign)]
        print("  identical: %d datasets, %d groups, %d attributes, %d links (%d ignored)" % (
            kinds.count("D"), kinds.count("G"), kinds.count("A"),
            sum(1 for x in kinds if x.startswith("L")), skipped))
    sys.exit(1 if diffs else 0)


main()
