#!/usr/bin/python3
"""Structural check of a QDQ model written by qcal_export_qdq against the stored encodings.

Usage: check_qdq.py QDQ.onnx FLOAT.onnx STATS.h5 LABEL

Reads the encoding set /encodings/LABEL and /weights with h5py and checks, independently of
qcal's code (ALGORITHMS.md §4.4):
- onnx.checker (full check, with shape inference) passes; the default opset is max(13, float's);
- every original node is still there, with the same op, attributes and (modulo the Q/DQ
  renaming) inputs; every original initializer that is not quantized is unchanged;
- exactly one QuantizeLinear/DequantizeLinear pair per integer activation encoding and none for
  float ones; y_scale is the stored float32 scale, y_zero_point int8 0 for signed/strict
  symmetric encodings and uint8 -offset otherwise; Q and DQ share them; no node other than the
  Q reads the float tensor; a graph output keeps its name on the DQ output;
- every parameter: the float initializer is gone, a DequantizeLinear with the original name reads
  an integer initializer of the original shape; scales equal the stored ones, per channel (1-D,
  `axis` = /weights/axis) exactly when the entry has more than one channel, and when the set's
  params say per_channel every weight with a channel axis is per channel; the dequantized
  weights are within half a step of the float ones;
- 32-bit biases of Conv/Gemm: int32 codes round_half_even(b / s_b) with s_b = f32(s_x * s_w).
Prints one summary line; exits 1 with "check: ..." lines on any failure.
"""
import json
import sys

import h5py
import numpy as np
import onnx
from onnx import numpy_helper

qdq_path, float_path, stats_path, label = sys.argv[1:5]
problems = []


def bad(msg):
    problems.append(msg)
    print("check: " + msg)


def s(x):
    return x.decode() if isinstance(x, bytes) else str(x)


qm = onnx.load(qdq_path)
fm = onnx.load(float_path)
try:
    onnx.checker.check_model(qm, full_check=True)
except Exception as e:  # noqa: BLE001 - report any checker failure
    bad("onnx.checker: %s" % e)


def default_opset(m):
    return [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")][0]


if default_opset(qm) != max(13, default_opset(fm)):
    bad("opset %d, expected %d" % (default_opset(qm), max(13, default_opset(fm))))

with h5py.File(stats_path, "r") as f:
    g = f["encodings"][label]
    params = json.loads(s(g.attrs["params"]))
    acts = {s(n): dict(dtype=s(d), bw=int(b), scale=np.float32(sc), offset=int(o), sym=bool(sy))
            for n, d, b, sc, o, sy in zip(g["act_name"][:], g["act_dtype"][:], g["act_bitwidth"][:],
                                          g["act_scale"][:], g["act_offset"][:],
                                          g["act_symmetric"][:])}
    pscale, poff = g["param_scale"][:].astype(np.float32), g["param_offset"][:]
    prm = {}
    for n, st, cnt, sy in zip(g["param_name"][:], g["param_ch_start"][:], g["param_ch_count"][:],
                              g["param_symmetric"][:]):
        prm[s(n)] = dict(scale=pscale[st:st + cnt], offset=poff[st:st + cnt], sym=bool(sy))
    axis = {s(n): int(a) for n, a in zip(f["weights"]["name"][:], f["weights"]["axis"][:])}

inits = {t.name: numpy_helper.to_array(t) for t in qm.graph.initializer}
finits = {t.name: numpy_helper.to_array(t) for t in fm.graph.initializer}
nodes = list(qm.graph.node)
producer = {o: n for n in nodes for o in n.output}
consumers = {}
for n in nodes:
    for i in n.input:
        consumers.setdefault(i, []).append(n)
orig_tensors = {i.name for i in fm.graph.input} | {o for n in fm.graph.node for o in n.output}
graph_outputs = {o.name for o in fm.graph.output}

# Activation pairs: the source of a Q is its input, or (renamed graph output) its DQ's output.
pairs = {}
for q in (n for n in nodes if n.op_type == "QuantizeLinear"):
    dqs = [d for d in consumers.get(q.output[0], []) if d.op_type == "DequantizeLinear"]
    if len(dqs) != 1 or len(consumers.get(q.output[0], [])) != 1:
        bad("Q %s: output not read by exactly one DequantizeLinear" % q.name)
        continue
    dq = dqs[0]
    src = q.input[0] if q.input[0] in orig_tensors else dq.output[0]
    pairs.setdefault(src, []).append((q, dq))

n_int = 0
for name, a in acts.items():
    got = pairs.get(name, [])
    if a["dtype"] == "float":
        if got:
            bad("%s: float override but quantized" % name)
        continue
    n_int += 1
    if len(got) != 1:
        bad("%s: %d Q/DQ pairs, expected 1" % (name, len(got)))
        continue
    q, dq = got[0]
    if list(q.input[1:]) != list(dq.input[1:]) or len(q.input) != 3:
        bad("%s: Q and DQ do not share scale and zero point" % name)
        continue
    sc, zp = inits.get(q.input[1]), inits.get(q.input[2])
    if sc is None or zp is None or sc.shape != () or zp.shape != ():
        bad("%s: scale/zero point are not scalar initializers" % name)
        continue
    want_signed = a["sym"] and a["offset"] in (-128, -127)
    want_dt, want_zp = (np.int8, 0) if want_signed else (np.uint8, -a["offset"])
    if sc.dtype != np.float32 or sc.tobytes() != a["scale"].tobytes():
        bad("%s: scale %r, stored %r" % (name, sc, a["scale"]))
    if zp.dtype != want_dt or int(zp) != want_zp:
        bad("%s: zero point %r (%s), expected %d (%s)" % (name, zp, zp.dtype, want_zp,
                                                           np.dtype(want_dt)))
    if name in graph_outputs:
        if dq.output[0] != name or q.input[0] == name:
            bad("%s: graph output must stay on the DequantizeLinear output" % name)
    else:
        readers = [n.name for n in consumers.get(name, []) if n is not q]
        if readers:
            bad("%s: still read in float by %s" % (name, readers))
n_pairs = sum(len(v) for v in pairs.values())
if n_pairs != n_int:
    bad("%d Q/DQ pairs for %d integer activation encodings" % (n_pairs, n_int))

# Weights.
n_pc = 0
for name, p in prm.items():
    w = finits[name]
    dq = producer.get(name)
    if name in inits:
        bad("%s: float initializer still present" % name)
    if dq is None or dq.op_type != "DequantizeLinear":
        bad("%s: not produced by a DequantizeLinear" % name)
        continue
    wq, sc, zp = (inits.get(i) for i in dq.input)
    ax = [a.i for a in dq.attribute if a.name == "axis"]
    C = len(p["scale"])
    if wq is None or wq.shape != w.shape or wq.dtype not in (np.int8, np.uint8):
        bad("%s: quantized initializer missing or of the wrong shape/type" % name)
        continue
    if C > 1:
        n_pc += 1
        if ax != [axis[name]] or sc.shape != (C,) or zp.shape != (C,) or w.shape[ax[0]] != C:
            bad("%s: per-channel DQ: axis %s (stored %d), scale %s" % (name, ax, axis[name],
                                                                       sc.shape))
            continue
    elif ax or sc.shape != () or zp.shape != ():
        bad("%s: per-tensor DQ with axis %s, scale shape %s" % (name, ax, sc.shape))
        continue
    if sc.tobytes() != p["scale"].astype(np.float32).reshape(sc.shape).tobytes():
        bad("%s: scales differ from the stored ones" % name)
    shape = [1] * w.ndim
    if C > 1:
        shape[ax[0]] = C
    s_b, z_b = sc.reshape(shape), zp.astype(np.int32).reshape(shape)
    deq = (wq.astype(np.int32) - z_b).astype(np.float32) * s_b
    err = np.abs(deq - w) / s_b
    if err.max() > 0.5 + 1e-3:
        bad("%s: dequantized weights off by %.3f steps" % (name, err.max()))
if params.get("per_channel"):
    want = sum(1 for n in prm if axis.get(n, -1) >= 0 and finits[n].shape[axis[n]] > 1)
    if n_pc != want:
        bad("per-channel set: %d per-channel weights, expected %d" % (n_pc, want))

# Biases: int32 round_half_even(b / (s_x * s_w)).
n_bias = 0
for n in fm.graph.node:
    if n.op_type not in ("Conv", "Gemm") or len(n.input) < 3 or n.input[2] not in finits:
        continue
    x, w, b = n.input[0], n.input[1], n.input[2]
    if acts.get(x, {}).get("dtype") != "int" or w not in prm:
        continue
    dq = producer.get(b)
    if dq is None or dq.op_type != "DequantizeLinear":
        bad("%s: bias not dequantized" % b)
        continue
    bq, sc, zp = (inits.get(i) for i in dq.input)
    sb = (np.float32(acts[x]["scale"]) * prm[w]["scale"].astype(np.float32)).astype(np.float32)
    codes = np.round(finits[b].astype(np.float64) / np.broadcast_to(sb, finits[b].shape))
    if bq.dtype != np.int32 or not np.array_equal(bq, codes.astype(np.int32)):
        bad("%s: bias codes differ" % b)
    if sc.tobytes() != (sb if sb.size > 1 else sb.reshape(())).tobytes() or np.any(zp != 0):
        bad("%s: bias scale/zero point differ" % b)
    n_bias += 1

# The original nodes are all there, unchanged but for inputs that now read DQ outputs.
def dq_source(t):
    d = producer.get(t)
    if d is not None and d.op_type == "DequantizeLinear" and t not in orig_tensors:
        q = producer.get(d.input[0])
        return q.input[0] if q is not None else t
    return t


rest = [n for n in nodes if n.op_type not in ("QuantizeLinear", "DequantizeLinear")]
if len(rest) != len(fm.graph.node):
    bad("%d non-Q/DQ nodes, the float model has %d" % (len(rest), len(fm.graph.node)))
for a, b in zip(rest, fm.graph.node):
    if a.op_type != b.op_type or a.attribute != b.attribute or \
            [dq_source(i) for i in a.input] != list(b.input):
        bad("node %s differs from the float model's %s" % (a.name, b.name))
for name, v in finits.items():
    if name not in prm and name in inits and not np.array_equal(inits[name], v):
        bad("initializer %s changed" % name)

print("qdq %s: set %s, %d Q/DQ pairs, %d weights (%d per channel), %d int32 biases, opset %d%s"
      % (qdq_path.split("/")[-1], label, n_pairs, len(prm), n_pc, n_bias, default_opset(qm),
         "" if not problems else ", %d problems" % len(problems)))
sys.exit(1 if problems else 0)
