#!/usr/bin/env python3
"""Builds the hostile models of tests/cli/test_hostile.sh (issue 10), each small and aimed at one
class of loader bug. Wire-format models are written byte by byte (python3-onnx would refuse to
build or serialise them); the others with python3-onnx.

    make_hostile.py OUTDIR

nest_30000.onnx    30 000 If nodes nested through then_branch graph attributes (~0.7 MB):
                   protobuf-c's recursive unpacker overflowed the stack on it
nest_65.onnx       65 nested subgraphs: one more than the limit
nest_64.onnx       64: the limit itself (not refused for nesting)
type_30000.onnx    a graph input of type sequence(sequence(... float tensor)), 30 000 deep
no_outputs.onnx    a graph without outputs
no_opset.onnx      IR 8 without opset_import
dup_init.onnx      two initializers named W
dup_input.onnx     two graph inputs named x
redecl_shape.onnx  initializer W [1, 4] re-declared as graph input W [3, 3]
redecl_type.onnx   initializer W float re-declared as an int64 graph input
attr_type.onnx     LeakyRelu alpha declared INT but holding f
attr_tensor.onnx   Constant value declared TENSOR without a tensor
attr_two.onnx      LeakyRelu alpha holding both f and i
unknown.onnx       a valid y = x + W whose ModelProto, GraphProto and NodeProto carry fields of a
                   future ONNX (numbers 1000 and 1001): protobuf skips them, the model loads
ext_*/model.onnx   y = x + W with W's 16 bytes in external data:
  ext_ok           W.bin in the model's folder (loads; y = x + [1, 2, 3, 4])
  ext_dotdot       location ../secret.bin (outside the folder)
  ext_abs          location /<abs path>/secret.bin
  ext_link         location link.bin, a symbolic link to ../secret.bin
  ext_off_abc      offset "abc"
  ext_off_big      offset "99999999999999999999" (overflows 64 bits)
  ext_len_junk     length "16abc"
  ext_beyond       offset 8 in a 16-byte file
secret.bin         16 bytes outside every model folder
x.npy              the input [1, 4]
"""
import io
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
from protowire import field, key, varint, vfield  # noqa: E402


def model_bytes(graph_payload, ir=8, opset=13):
    return (vfield(1, ir) + field(8, field(1, b"") + vfield(2, opset)) +
            field(7, graph_payload))


def value_info(name, elem=None):
    t = b"" if elem is None else field(2, field(1, vfield(1, elem)))
    return field(1, name.encode()) + t


def nested_if(depth):
    """GraphProto bytes: depth If nodes, each holding the next graph as then_branch, written in
    O(size): lengths are computed inside out, then prefixes outside in, the innermost graph and
    the suffixes."""
    inner = field(2, b"g0") + field(12, value_info("c"))
    suffix = field(2, b"g") + field(12, value_info("o"))
    node_head = field(1, b"c") + field(2, b"o") + field(4, b"If")
    attr_head = field(1, b"then_branch") + vfield(20, 5)
    lens, prefixes = [len(inner)], []
    for _ in range(depth):
        g = lens[-1]
        attr = len(attr_head) + len(key(6, 2)) + len(varint(g)) + g
        node = len(node_head) + len(key(5, 2)) + len(varint(attr)) + attr
        lens.append(len(key(1, 2)) + len(varint(node)) + node + len(suffix))
        prefixes.append(key(1, 2) + varint(node) + node_head + key(5, 2) + varint(attr) +
                        attr_head + key(6, 2) + varint(g))
    out = io.BytesIO()
    for p in reversed(prefixes):
        out.write(p)
    out.write(inner)
    out.write(suffix * depth)
    return out.getvalue()


def nested_type(depth):
    """TypeProto bytes: depth sequence_type levels around a float tensor type."""
    t = field(1, vfield(1, 1))  # tensor_type { elem_type: FLOAT }
    lens, prefixes = [len(t)], []
    for _ in range(depth):
        seq = len(key(1, 2)) + len(varint(lens[-1])) + lens[-1]
        prefixes.append(key(4, 2) + varint(seq) + key(1, 2) + varint(lens[-1]))
        lens.append(len(key(4, 2)) + len(varint(seq)) + seq)
    return b"".join(reversed(prefixes)) + t


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def add_model(w_tensor, inputs_extra=(), initializers=None, ir=8, opsets=True, outputs=True,
              nodes=None):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    nodes = nodes or [helper.make_node("Add", ["x", "W"], ["y"])]
    g = helper.make_graph(nodes, "g", [x] + list(inputs_extra), [y] if outputs else [],
                          [w_tensor] if initializers is None else initializers)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)] if opsets else [])
    if not opsets:
        del m.opset_import[:]
    m.ir_version = ir
    return m


def ext_tensor(location, offset=None, length=None):
    t = TensorProto()
    t.name = "W"
    t.data_type = TensorProto.FLOAT
    t.dims.extend([1, 4])
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", offset), ("length", length)):
        if v is not None:
            e = t.external_data.add()
            e.key, e.value = k, v
    return t


def main():
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, "x.npy"), np.zeros((1, 4), np.float32))
    cond = field(11, value_info("c", TensorProto.BOOL))
    for depth in (30000, 65, 64):
        write(os.path.join(out, "nest_%d.onnx" % depth),
              model_bytes(nested_if(depth) + cond, ir=8, opset=13))
    write(os.path.join(out, "type_30000.onnx"),
          model_bytes(field(11, field(1, b"s") + field(2, nested_type(30000))) +
                      field(12, value_info("s"))))

    w = helper.make_tensor("W", TensorProto.FLOAT, [1, 4], [1, 2, 3, 4])
    onnx.save(add_model(w, outputs=False), os.path.join(out, "no_outputs.onnx"))
    onnx.save(add_model(w, opsets=False), os.path.join(out, "no_opset.onnx"))
    onnx.save(add_model(None, initializers=[w, w]), os.path.join(out, "dup_init.onnx"))
    onnx.save(add_model(w, inputs_extra=[helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                        [1, 4])]),
              os.path.join(out, "dup_input.onnx"))
    onnx.save(add_model(w, inputs_extra=[helper.make_tensor_value_info("W", TensorProto.FLOAT,
                                                                        [3, 3])]),
              os.path.join(out, "redecl_shape.onnx"))
    onnx.save(add_model(w, inputs_extra=[helper.make_tensor_value_info("W", TensorProto.INT64,
                                                                        [1, 4])]),
              os.path.join(out, "redecl_type.onnx"))
    for name, fill in (("attr_type", lambda a: (setattr(a, "type", a.INT), setattr(a, "f", 0.5))),
                       ("attr_two", lambda a: (setattr(a, "type", a.FLOAT), setattr(a, "f", 0.5),
                                               setattr(a, "i", 2)))):
        n = helper.make_node("LeakyRelu", ["x"], ["y"])
        a = n.attribute.add()
        a.name = "alpha"
        fill(a)
        onnx.save(add_model(w, initializers=[], nodes=[n]), os.path.join(out, name + ".onnx"))
    n = helper.make_node("Constant", [], ["W"])
    a = n.attribute.add()
    a.name, a.type = "value", onnx.AttributeProto.TENSOR
    onnx.save(add_model(w, initializers=[], nodes=[n, helper.make_node("Add", ["x", "W"], ["y"])]),
              os.path.join(out, "attr_tensor.onnx"))

    # Fields unknown to ONNX 1.17 at three levels (a varint and a length-delimited one).
    future = vfield(1000, 7) + field(1001, b"future")
    m = add_model(w)
    nb = m.graph.node[0].SerializeToString() + future
    del m.graph.node[:]
    gb = m.graph.SerializeToString() + field(1, nb) + future
    m.ClearField("graph")
    write(os.path.join(out, "unknown.onnx"), m.SerializeToString() + field(7, gb) + future)

    write(os.path.join(out, "secret.bin"), np.array([9, 9, 9, 9], np.float32).tobytes())
    cases = {"ext_ok": ("W.bin", None, None), "ext_dotdot": ("../secret.bin", None, None),
             "ext_abs": (os.path.join(out, "secret.bin"), None, None),
             "ext_link": ("link.bin", None, None), "ext_off_abc": ("W.bin", "abc", None),
             "ext_off_big": ("W.bin", "99999999999999999999", None),
             "ext_len_junk": ("W.bin", None, "16abc"), "ext_beyond": ("W.bin", "8", "16")}
    for case, (loc, off, length) in cases.items():
        d = os.path.join(out, case)
        os.makedirs(d, exist_ok=True)
        write(os.path.join(d, "W.bin"), np.array([1, 2, 3, 4], np.float32).tobytes())
        if case == "ext_link":
            os.symlink("../secret.bin", os.path.join(d, "link.bin"))
        m = add_model(ext_tensor(loc, off, length))
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            f.write(m.SerializeToString())


if __name__ == "__main__":
    main()
