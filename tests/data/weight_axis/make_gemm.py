#!/usr/bin/env python3
"""Builds the weight-axis test model of tests/cli/test_weight_axis.sh (python3-onnx, numpy).

    make_gemm.py OUTDIR

gemm.onnx  x [1, 4] -> Gemm(B0 [4, 4], transB=0) -> Gemm(B1 [4, 4], transB=1, alpha 0.5)
           -> MatMul(M [4, 3]) -> y [1, 3]. Square Gemm weights, so only the attribute tells
           which axis holds the output channels.
data/      three .npy samples [1, 4]
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(5)
    b0 = rng.standard_normal((4, 4)).astype(np.float32)
    b1 = rng.standard_normal((4, 4)).astype(np.float32)
    mm = rng.standard_normal((4, 3)).astype(np.float32)
    nodes = [helper.make_node("Gemm", ["x", "B0"], ["g0"], name="gemm_kn", transB=0),
             helper.make_node("Gemm", ["g0", "B1"], ["g1"], name="gemm_nk", transB=1, alpha=0.5),
             helper.make_node("MatMul", ["g1", "M"], ["y"], name="matmul")]
    g = helper.make_graph(nodes, "gemm",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
                          [numpy_helper.from_array(b0, "B0"), numpy_helper.from_array(b1, "B1"),
                           numpy_helper.from_array(mm, "M")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    onnx.save(m, os.path.join(out, "gemm.onnx"))
    os.makedirs(os.path.join(out, "data"), exist_ok=True)
    for i in range(3):
        np.save(os.path.join(out, "data", "x%d.npy" % i),
                rng.standard_normal((1, 4)).astype(np.float32))


if __name__ == "__main__":
    main()
