#!/usr/bin/env python3
"""A chain of N Relu nodes (x -> r1 -> ... -> rN = y), for the linear-time loading test.

    make_chain.py N OUT.onnx [--shuffled]

--shuffled writes the nodes in reverse order (the loader must sort them; ONNX requires files to
be sorted, qcal accepts any order), which is the worst case for a naive topological sort.
"""
import sys

import onnx
from onnx import TensorProto, helper


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    nodes = [helper.make_node("Relu", ["x" if i == 0 else "r%d" % i],
                              ["y" if i == n - 1 else "r%d" % (i + 1)], name="relu%d" % i)
             for i in range(n)]
    if "--shuffled" in sys.argv[3:]:
        nodes.reverse()
    g = helper.make_graph(nodes, "chain",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    m.ir_version = 8
    onnx.save(m, out)


if __name__ == "__main__":
    main()
