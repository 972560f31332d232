#!/usr/bin/env python3
"""A small model with If and Loop (outer-scope references in both) for the control-flow
calibration test, its calibration samples, and the statistics every float tensor must get,
computed here independently of qcal with numpy (same float32 arithmetic, in a plain loop).

    make_control.py OUT_DIR     writes OUT_DIR/control.onnx, OUT_DIR/data/*.npy and
                                OUT_DIR/expected.json ({tensor: [min, max, count]})
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(os.path.join(out, "data"), exist_ok=True)
F = TensorProto.FLOAT


def const(name, value):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name))


# then: x * 2 ; else: x - 1 (x is the outer graph's input)
then_g = helper.make_graph(
    [const("two", np.array([2.0], np.float32)), helper.make_node("Mul", ["x", "two"], ["then_y"])],
    "then_body", [], [helper.make_tensor_value_info("then_y", F, [1, 4])])
else_g = helper.make_graph(
    [const("one", np.array([1.0], np.float32)), helper.make_node("Sub", ["x", "one"], ["else_y"])],
    "else_body", [], [helper.make_tensor_value_info("else_y", F, [1, 4])])
# body(i, c, v): f = float(i); v1 = v * 0.5; v2 = v1 + f; sc = v2 * x (outer x)
body = helper.make_graph(
    [helper.make_node("Identity", ["c_in"], ["c_out"]),
     helper.make_node("Cast", ["i"], ["f"], to=F),
     const("half", np.array([0.5], np.float32)),
     helper.make_node("Mul", ["v_in", "half"], ["v1"]),
     helper.make_node("Add", ["v1", "f"], ["v2"]),
     helper.make_node("Mul", ["v2", "x"], ["sc"])],
    "loop_body",
    [helper.make_tensor_value_info("i", TensorProto.INT64, []),
     helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
     helper.make_tensor_value_info("v_in", F, [1, 4])],
    [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
     helper.make_tensor_value_info("v2", F, [1, 4]),
     helper.make_tensor_value_info("sc", F, [1, 4])])
graph = helper.make_graph(
    [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
     helper.make_node("Greater", ["s", "zero"], ["pos"]),
     helper.make_node("If", ["pos"], ["b"], then_branch=then_g, else_branch=else_g),
     helper.make_node("Loop", ["trip", "go", "b"], ["y", "scans"], body=body),
     helper.make_node("Relu", ["scans"], ["r"])],
    "control",
    [helper.make_tensor_value_info("x", F, [1, 4])],
    [helper.make_tensor_value_info("y", F, [1, 4]), helper.make_tensor_value_info("r", F, [3, 1, 4])],
    [numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
     numpy_helper.from_array(np.array(3, np.int64), "trip"),
     numpy_helper.from_array(np.array(True), "go")])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 7
onnx.checker.check_model(model)
onnx.save(model, os.path.join(out, "control.onnx"))

rng = np.random.default_rng(7)
stats = {}


def see(name, a):
    a = np.asarray(a, np.float32)
    lo, hi, n = float(a.min()), float(a.max()), int(a.size)
    if name in stats:
        p = stats[name]
        stats[name] = [min(p[0], lo), max(p[1], hi), p[2] + n]
    else:
        stats[name] = [lo, hi, n]


for k in range(6):
    x = (rng.standard_normal((1, 4)) + (0.8 if k % 2 else -0.8)).astype(np.float32)
    np.save(os.path.join(out, "data", "s%02d.npy" % k), x)
    see("x", x)
    acc = 0.0
    for e in x.ravel():  # ReduceSum accumulates float32 inputs in double, in element order
        acc += float(e)
    s = np.float32(acc)
    see("s", s)
    if s > 0:
        b = x * np.float32(2.0)
        see("then_y", b)
    else:
        b = x - np.float32(1.0)
        see("else_y", b)
    see("b", b)
    v, scans = b, []
    for i in range(3):
        see("v_in", v)
        f = np.float32(i)
        see("f", f)
        v1 = v * np.float32(0.5)
        see("v1", v1)
        v2 = v1 + f
        see("v2", v2)
        sc = v2 * x
        see("sc", sc)
        scans.append(sc)
        v = v2
    see("y", v)
    sc_all = np.stack(scans)
    see("scans", sc_all)
    see("r", np.maximum(sc_all, np.float32(0.0)))
with open(os.path.join(out, "expected.json"), "w") as fp:
    json.dump(stats, fp, indent=1, sort_keys=True)
