#!/usr/bin/env python3
"""Re-saves fmnist_cnn.onnx (IR 7, opset 13) as IR 10 / opset 21 (fmnist_cnn_ir10.onnx).

    make_ir10.py fmnist_cnn.onnx fmnist_cnn_ir10.onnx

python3-onnx 1.12's version converter stops at opset 17, so the conversion is by hand: between
opsets 13 and 21 none of the model's operators (Conv, Relu, MaxPool, GlobalAveragePool, Flatten,
Gemm) changed its float32 semantics (Relu-14, Flatten-21 and the others only add types), so the
nodes stay and only ir_version and the default-domain opset_import change. Like a current
exporter, the file also gets value_info for every intermediate tensor and the IR 10 producer
fields. onnx.checker of 1.12 does not know IR 10, so the file is checked by loading it back.
"""
import sys

import onnx
from onnx import helper, shape_inference


def main():
    m = onnx.load(sys.argv[1])
    m = shape_inference.infer_shapes(m)   # value_info for every intermediate, as exporters write
    del m.opset_import[:]
    m.opset_import.extend([helper.make_opsetid("", 21)])
    m.ir_version = 10
    m.producer_name = "qcal tests/data/fmnist/make_ir10.py"
    m.producer_version = "1"
    onnx.save(m, sys.argv[2])
    back = onnx.load(sys.argv[2])
    assert back.ir_version == 10 and back.opset_import[0].version == 21
    assert len(back.graph.value_info) == len(back.graph.node) - 1


if __name__ == "__main__":
    main()
