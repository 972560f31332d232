#!/usr/bin/env python3
"""Builds the model-local-function test models of tests/cli/test_functions.sh (python3-onnx).

    make_functions.py OUTDIR

fn.onnx           two calls of local.Block, which calls local.ScaleAdd (nested); attribute alpha
                  passed by ref_attr_name, given by the first call and defaulted (attribute_proto,
                  IR 9) in the second; one output of a call omitted; a graph tensor named like an
                  inlined internal one ("blk1/mm") to force a renamed copy.
fn_inlined.onnx   the same computation inlined by hand (same nodes in the same order).
fn_recursive.onnx a function that calls itself (refused: nesting limit).
fn_explode.onnx   26 functions, each calling the next twice (2^26 nodes; refused: size limit).
fn_outer.onnx     a function body that reads a graph initializer (refused: out of scope).
x.npy             the input.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
from protowire import field  # noqa: E402

OPSET = [helper.make_opsetid("", 18), helper.make_opsetid("local", 1)]
FOPSET = [helper.make_opsetid("", 18), helper.make_opsetid("local", 1)]


def save(model, functions, path, defaults=None, ir=9):
    """Writes model with functions appended as ModelProto.functions (field 25), each with its
    FunctionProto.attribute_proto defaults (field 11, ONNX 1.15+, absent from python3-onnx 1.12)
    appended as raw fields: protobuf allows fields in any order."""
    model.ir_version = ir
    data = model.SerializeToString()
    for fn in functions:
        fb = fn.SerializeToString()
        for attr in (defaults or {}).get(fn.name, []):
            fb += field(11, attr.SerializeToString())
        data += field(25, fb)
    with open(path, "wb") as f:
        f.write(data)


def ref_attr(name, ref, typ):
    a = onnx.AttributeProto()
    a.name = name
    a.ref_attr_name = ref
    a.type = typ
    return a


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    w1 = rng.standard_normal((4, 4)).astype(np.float32)
    b1 = rng.standard_normal(4).astype(np.float32)
    w2 = rng.standard_normal((4, 3)).astype(np.float32)
    b2 = rng.standard_normal(3).astype(np.float32)
    x = rng.standard_normal((1, 4)).astype(np.float32)
    np.save(os.path.join(out, "x.npy"), x)
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "W1"), (b1, "B1"), (w2, "W2"),
                                                         (b2, "B2"))]
    vin = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])]
    vout = [helper.make_tensor_value_info("blk1/mm", TensorProto.FLOAT, [1, 3])]

    # ScaleAdd(X, B; alpha) -> (Y, Z): Y = X * alpha + B, Z = Relu(Y).
    const = helper.make_node("Constant", [], ["c"])
    const.attribute.append(ref_attr("value_float", "alpha", onnx.AttributeProto.FLOAT))
    scale_add = helper.make_function(
        "local", "ScaleAdd", ["X", "B"], ["Y", "Z"],
        [const, helper.make_node("Mul", ["X", "c"], ["m"]),
         helper.make_node("Add", ["m", "B"], ["Y"]), helper.make_node("Relu", ["Y"], ["Z"])],
        FOPSET, ["alpha"])
    # Block(X, W, B; alpha = 0.5) -> O: O = Tanh(ScaleAdd(MatMul(X, W), B; alpha).Y).
    call = helper.make_node("ScaleAdd", ["mm", "B"], ["y", ""], domain="local", name="sa")
    call.attribute.append(ref_attr("alpha", "alpha", onnx.AttributeProto.FLOAT))
    block = helper.make_function(
        "local", "Block", ["X", "W", "B"], ["O"],
        [helper.make_node("MatMul", ["X", "W"], ["mm"]), call,
         helper.make_node("Tanh", ["y"], ["O"])], FOPSET, [])
    defaults = {"Block": [helper.make_attribute("alpha", 0.5)]}
    nodes = [helper.make_node("Block", ["x", "W1", "B1"], ["h1"], domain="local", name="blk1",
                              alpha=2.0),
             helper.make_node("Block", ["h1", "W2", "B2"], ["h2"], domain="local", name="blk2"),
             helper.make_node("Identity", ["h2"], ["blk1/mm"])]
    g = helper.make_graph(nodes, "fn", vin, vout, inits)
    save(helper.make_model(g, opset_imports=OPSET), [scale_add, block],
         os.path.join(out, "fn.onnx"), defaults)

    # The same by hand.
    hand = []
    for k, (xi, w, b, alpha, o) in enumerate((("x", "W1", "B1", 2.0, "h1"),
                                             ("h1", "W2", "B2", 0.5, "h2"))):
        p = "b%d_" % k
        hand += [helper.make_node("MatMul", [xi, w], [p + "mm"]),
                 helper.make_node("Constant", [], [p + "c"], value_float=alpha),
                 helper.make_node("Mul", [p + "mm", p + "c"], [p + "m"]),
                 helper.make_node("Add", [p + "m", b], [p + "y"]),
                 helper.make_node("Relu", [p + "y"], [p + "z"]),
                 helper.make_node("Tanh", [p + "y"], [o])]
    hand.append(helper.make_node("Identity", ["h2"], ["blk1/mm"]))
    g = helper.make_graph(hand, "fn_inlined", vin, vout, inits)
    save(helper.make_model(g, opset_imports=OPSET[:1]), [], os.path.join(out, "fn_inlined.onnx"))

    vout1 = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])]
    # A function calling itself.
    rec = helper.make_function("local", "R", ["X"], ["Y"],
                               [helper.make_node("R", ["X"], ["Y"], domain="local")], FOPSET, [])
    g = helper.make_graph([helper.make_node("R", ["x"], ["y"], domain="local")], "rec", vin, vout1)
    save(helper.make_model(g, opset_imports=OPSET), [rec], os.path.join(out, "fn_recursive.onnx"))

    # f0 .. f25: f_i(X) = f_{i+1}(f_{i+1}(X)); f_26(X) = Identity(X).
    fns = []
    for i in range(26):
        nxt = "f%d" % (i + 1)
        fns.append(helper.make_function(
            "local", "f%d" % i, ["X"], ["Y"],
            [helper.make_node(nxt, ["X"], ["t"], domain="local"),
             helper.make_node(nxt, ["t"], ["Y"], domain="local")], FOPSET, []))
    fns.append(helper.make_function("local", "f26", ["X"], ["Y"],
                                    [helper.make_node("Identity", ["X"], ["Y"])], FOPSET, []))
    g = helper.make_graph([helper.make_node("f0", ["x"], ["y"], domain="local")], "boom", vin,
                          vout1)
    save(helper.make_model(g, opset_imports=OPSET), fns, os.path.join(out, "fn_explode.onnx"))

    # A body reading the graph's initializer W1 (functions see only their inputs).
    outer = helper.make_function("local", "G", ["X"], ["Y"],
                                 [helper.make_node("MatMul", ["X", "W1"], ["Y"])], FOPSET, [])
    g = helper.make_graph([helper.make_node("G", ["x"], ["y"], domain="local")], "outer", vin,
                          vout1, inits[:1])
    save(helper.make_model(g, opset_imports=OPSET), [outer], os.path.join(out, "fn_outer.onnx"))


if __name__ == "__main__":
    main()
