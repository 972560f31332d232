#!/usr/bin/env python3
"""Builds the symbolic-dimension test data of tests/cli/test_symbolic.sh (python3-onnx, numpy).

    make_symbolic.py OUTDIR

sym.onnx     input x [N, C, H, W] (all four symbolic) -> Conv 3x3 (4 filters, pads 1) -> Relu
             -> GlobalAveragePool -> Flatten -> y [N, 4]
data/        six .npy samples of shape 1x3x12x20 (s0.npy .. s5.npy)
bad/         the same six plus s3b.npy of shape 1x3x12x21 (sorted after s3.npy)
ref_y.npy    numpy's y for the six samples (float64 reference), shape 6x4
ref_relu.npy min and max of the Relu output over the six samples
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def conv3x3(x, w, b):
    """x [C, H, W], w [F, C, 3, 3], pads 1, stride 1, in float64."""
    c, h, wd = x.shape
    xp = np.zeros((c, h + 2, wd + 2))
    xp[:, 1:-1, 1:-1] = x
    out = np.zeros((w.shape[0], h, wd))
    for f in range(w.shape[0]):
        for i in range(3):
            for j in range(3):
                out[f] += np.einsum("chw,c->hw", xp[:, i:i + h, j:j + wd], w[f, :, i, j])
        out[f] += b[f]
    return out


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(11)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "C", "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["conv"], pads=[1, 1, 1, 1],
                              kernel_shape=[3, 3]),
             helper.make_node("Relu", ["conv"], ["relu"]),
             helper.make_node("GlobalAveragePool", ["relu"], ["gap"]),
             helper.make_node("Flatten", ["gap"], ["y"])]
    g = helper.make_graph(nodes, "sym", [x], [y],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, os.path.join(out, "sym.onnx"))
    for d in ("data", "bad"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    ys, lo, hi = [], np.inf, -np.inf
    for i in range(6):
        s = rng.standard_normal((1, 3, 12, 20)).astype(np.float32)
        for d in ("data", "bad"):
            np.save(os.path.join(out, d, "s%d.npy" % i), s)
        r = np.maximum(conv3x3(s[0].astype(np.float64), w.astype(np.float64), b), 0)
        lo, hi = min(lo, r.min()), max(hi, r.max())
        ys.append(r.mean(axis=(1, 2)))
    np.save(os.path.join(out, "bad", "s3b.npy"),
            rng.standard_normal((1, 3, 12, 21)).astype(np.float32))
    np.save(os.path.join(out, "ref_y.npy"), np.array(ys))
    np.save(os.path.join(out, "ref_relu.npy"), np.array([lo, hi]))


if __name__ == "__main__":
    main()
