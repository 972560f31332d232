#!/usr/bin/python3
"""Rebuilds the seed corpora in tests/fuzz/corpus/<harness>/ from the repository's own data.

usage: tests/fuzz/make_corpus.py QCAL_BINARY [ONNX_NODE_TESTS]

  onnx   fmnist_cnn(.dynbatch).onnx and one small model (< 3 kB) of the ONNX node tests for each
         new op type or (op, attribute) pair, in folder order (default folder:
         /work/shared/data/onnx-1.17/testdata/node)
  qdq    fmnist_cnn.onnx and small float models with initializers (Conv, ConvTranspose, Gemm,
         MatMul with biases, a Constant weight, opsets 11 and 13) made here with onnx.helper
  image  tests/data/img (PNG of every colour type, JPEG, npy, raw) and two fmnist images
  stats  stats files that QCAL_BINARY calibrates from 4 fmnist images with 16 bins (with extra
         encoding sets, per channel) and a merge of two of them
  job    jobs/*.yaml and the job shapes of tests/cli/test_jobs.sh, with paths relative to the
         folder fuzz_job.c lays out, some with leading "#set KEY=VALUE" lines
"""
import os
import shutil
import subprocess
import sys
import tempfile

import onnx
from onnx import TensorProto, helper, numpy_helper
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
QCAL = os.path.abspath(sys.argv[1])
NODE = sys.argv[2] if len(sys.argv) > 2 else "/work/shared/data/onnx-1.17/testdata/node"
OUT = os.path.join(HERE, "corpus")
DATA = os.path.join(REPO, "tests", "data")


def folder(name):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def onnx_corpus():
    d = folder("onnx")
    for f in ("fmnist_cnn.onnx", "fmnist_cnn_dynbatch.onnx"):
        shutil.copy(os.path.join(DATA, "fmnist", f), os.path.join(d, f[:-5]))
    seen = set()
    for t in sorted(os.listdir(NODE)):
        p = os.path.join(NODE, t, "model.onnx")
        if not os.path.exists(p) or os.path.getsize(p) > 3000:
            continue
        try:
            m = onnx.load(p)
        except Exception:
            continue
        keys = {n.op_type for n in m.graph.node}
        keys |= {(n.op_type, a.name) for n in m.graph.node for a in n.attribute}
        if keys - seen:
            seen |= keys
            shutil.copy(p, os.path.join(d, t[5:] if t.startswith("test_") else t))


def init(name, shape, seed):
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return numpy_helper.from_array(a, name)


def qdq_corpus():
    d = folder("qdq")
    shutil.copy(os.path.join(DATA, "fmnist", "fmnist_cnn.onnx"), os.path.join(d, "fmnist_cnn"))
    f32 = TensorProto.FLOAT
    models = {}
    # Conv + bias + Relu -> MaxPool -> Flatten -> Gemm (transB) + bias.
    g = helper.make_graph([
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "gw", "gb"], ["y"], name="fc", transB=1),
    ], "cnn", [helper.make_tensor_value_info("x", f32, [1, 2, 4, 4])],
        [helper.make_tensor_value_info("y", f32, [1, 3])],
        [init("w", [4, 2, 3, 3], 1), init("b", [4], 2), init("gw", [3, 16], 3), init("gb", [3], 4)])
    models["cnn13"] = (g, 13)
    models["cnn11"] = (g, 11)
    # ConvTranspose + bias, MatMul with a weight, Add of a Constant-node value.
    g = helper.make_graph([
        helper.make_node("ConvTranspose", ["x", "w", "b"], ["t"], name="deconv", strides=[2, 2]),
        helper.make_node("Reshape", ["t", "shape"], ["r"], name="reshape"),
        helper.make_node("MatMul", ["r", "mw"], ["m"], name="matmul"),
        helper.make_node("Constant", [], ["k"], name="const", value=init("kv", [5], 5)),
        helper.make_node("Add", ["m", "k"], ["y"], name="add"),
    ], "deconv", [helper.make_tensor_value_info("x", f32, [1, 2, 2, 2])],
        [helper.make_tensor_value_info("y", f32, [1, 5])],
        [init("w", [2, 3, 2, 2], 6), init("b", [3], 7), init("mw", [48, 5], 8),
         numpy_helper.from_array(np.array([1, 48], dtype=np.int64), "shape")])
    models["deconv13"] = (g, 13)
    # A graph output that is also consumed, an input that feeds two nodes.
    g = helper.make_graph([
        helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
        helper.make_node("Sigmoid", ["h"], ["s"], name="sig"),
        helper.make_node("Mul", ["s", "x"], ["y"], name="mul"),
    ], "mlp", [helper.make_tensor_value_info("x", f32, [2, 4])],
        [helper.make_tensor_value_info("y", f32, [2, 4]),
         helper.make_tensor_value_info("h", f32, [2, 4])], [init("w", [4, 4], 9)])
    models["mlp17"] = (g, 17)
    for name, (g, opset) in models.items():
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 7
        onnx.save(m, os.path.join(d, name))


def image_corpus():
    d = folder("image")
    for f in sorted(os.listdir(os.path.join(DATA, "img"))):
        if f.startswith("pp_") or f.endswith("_ref.npy"):
            continue  # preprocessing references: more of the same npy header
        shutil.copy(os.path.join(DATA, "img", f), os.path.join(d, f))
    for f in ("calib_00000.png", "calib_00001.png"):
        shutil.copy(os.path.join(DATA, "fmnist", "calib", f), os.path.join(d, "fmnist_" + f))


def run(*args):
    subprocess.run([QCAL, *args], check=True, stdout=subprocess.DEVNULL)


def stats_corpus():
    d = folder("stats")
    with tempfile.TemporaryDirectory() as t:
        lists = []
        for k in range(2):
            lst = os.path.join(t, "list%d.txt" % k)
            with open(lst, "w") as f:
                for i in range(2 * k, 2 * k + 2):
                    f.write(os.path.join(DATA, "fmnist", "calib", "calib_%05d.png\n" % i))
            lists.append(lst)
        model = os.path.join(DATA, "fmnist", "fmnist_cnn.onnx")
        common = ["--model", model, "--bins", "16", "--channels", "gray", "--mean", "0.2860",
                  "--std", "0.3530", "--quiet"]
        a, b = os.path.join(t, "a.h5"), os.path.join(t, "b.h5")
        run("calibrate", *common, "--data", lists[0], "-o", a)
        run("calibrate", *common, "--data", lists[1], "-o", b, "--skip-bad")
        shutil.copy(a, os.path.join(d, "plain"))
        e = os.path.join(t, "e.out")
        run("encode", b, "--method", "percentile", "--percentile", "99.9", "--per-channel",
            "--act-symmetric", "signed", "-o", e)
        run("encode", b, "--method", "mse", "--override", "^input$=float", "--format", "trt",
            "-o", e)
        shutil.copy(b, os.path.join(d, "three_sets"))
        m = os.path.join(t, "m.h5")
        run("merge", a, b, "-o", m)
        shutil.copy(m, os.path.join(d, "merged"))


HEAD = "model: fmnist/fmnist_cnn.onnx\ndata: list.txt\nout: ../out/stats.h5\n"
JOBS = {
    "sets": "#set out=s.h5\n#set bins=2048\n#set encodings.0.path=e.json\n"
            "#set encodings.1.path=null\n#set preprocess.mean=0.5\n" + HEAD +
            "encodings:\n  - method: minmax\n  - method: entropy\n",
    "many_keys": HEAD + """bins: 1024
skip-bad: true
dump: "conv.*"
dump-samples: 2
dump-out: ../out/d.h5
checkpoint-every: 16
resume: false
size: 28x28
resize: letterbox
layout: nhwc
scale: 0.00392
encodings:
  - method: mse
    act-bitwidth: 16
    param-bitwidth: 4
    act-symmetric: strict
    param-symmetric: unsigned
    per-channel: true
    bias-bitwidth: 8
    overrides: ["^input$=float", "relu=fp32", "fc=16"]
    label: custom
    format: trt
    trt-version: 8601
    path: ../out/cache.trt
""",
    "data_list": "model: m.onnx\ndata: [image=calib, mask=list.txt]\nout: out/s.h5\n",
    "anchors": "model: &m m.onnx\ndata: *m\nout: !!str out/x.h5\nquiet: ~\nbins: null\n",
    "error_twice": HEAD + "bins: 1024\nbins: 2048\n",
    "error_syntax": HEAD + "preprocess:\n  mean: [0.5, 0.4\n  std: 1\n",
    "error_mixed": HEAD + "method: percentile\nencodings: [{method: minmax}]\n",
    "error_two_docs": HEAD + "---\nbins: 8\n",
    "notmap": "- model: x.onnx\n",
}


def test_jobs():
    """The job files tests/cli/test_jobs.sh writes with cat >"$J/NAME.yaml" <<'EOF'."""
    jobs, name, lines = {}, None, []
    with open(os.path.join(REPO, "tests", "cli", "test_jobs.sh")) as f:
        for line in f:
            if name is None and line.startswith('cat >"$J/') and "<<'EOF'" in line:
                name = line.split("/")[1].split(".")[0]
                lines = []
            elif name is not None and line.rstrip("\n") == "EOF":
                jobs[name] = "".join(lines)
                name = None
            elif name is not None:
                lines.append(line)
    return jobs


def job_corpus():
    d = folder("job")
    for f in ("demo.yaml", "template-imagenet.yaml"):
        shutil.copy(os.path.join(REPO, "jobs", f), os.path.join(d, "jobs_" + f[:-5]))
    for name, text in {**test_jobs(), **JOBS}.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)


onnx_corpus()
qdq_corpus()
image_corpus()
stats_corpus()
job_corpus()
