#!/usr/bin/env python3
"""Makes a float16 variant of fmnist_cnn.onnx the way float16 converters do (onnxconverter-common's
convert_float_to_float16 with keep_io_types=True): every float32 initializer stored as float16, a
Cast to float16 after the float32 input, the graph computing in float16, a Cast back to float32
producing the output `logits`. Uses python3-onnx only.

    make_fp16.py fmnist_cnn.onnx OUT.onnx
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    m = onnx.load(sys.argv[1])
    g = m.graph
    inits = []
    for t in g.initializer:
        a = numpy_helper.to_array(t)
        inits.append(numpy_helper.from_array(a.astype(np.float16), t.name)
                     if a.dtype == np.float32 else t)
    del g.initializer[:]
    g.initializer.extend(inits)
    inp, out = g.input[0].name, g.output[0].name
    for n in g.node:
        n.input[:] = [inp + "_fp16" if x == inp else x for x in n.input]
        n.output[:] = [out + "_fp16" if x == out else x for x in n.output]
    g.node.insert(0, helper.make_node("Cast", [inp], [inp + "_fp16"], name="cast_in",
                                      to=TensorProto.FLOAT16))
    g.node.append(helper.make_node("Cast", [out + "_fp16"], [out], name="cast_out",
                                   to=TensorProto.FLOAT))
    for vi in g.value_info:
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT:
            vi.type.tensor_type.elem_type = TensorProto.FLOAT16
    onnx.checker.check_model(m)
    onnx.save(m, sys.argv[2])


if __name__ == "__main__":
    main()
