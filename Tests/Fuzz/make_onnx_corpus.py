"""Seed inputs for the ONNX fuzzer (make fuzz-onnx): small models that between them use every
operator the engine implements, float and int8 QDQ. Run once; the outputs are committed under
Tests/Fuzz/onnx-corpus/. Usage: .venv-tools/bin/python Tests/Fuzz/make_onnx_corpus.py OUT_DIR"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)


def init(name, a):
    return numpy_helper.from_array(np.asarray(a), name)


def save(name, nodes, inputs, outputs, inits, opset=17):
    g = helper.make_graph(nodes, name, inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(out, name + ".onnx"))


f32 = TensorProto.FLOAT
vi = helper.make_tensor_value_info

# Float CNN: conv (grouped, strided, padded), relu, clip, add, pools, gemm, sigmoid.
save("cnn-float", [
    helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
    helper.make_node("Relu", ["c1"], ["r1"]),
    helper.make_node("Conv", ["r1", "w2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=4),
    helper.make_node("Clip", ["c2", "lo", "hi"], ["k2"]),
    helper.make_node("Add", ["k2", "r1"], ["a"]),
    helper.make_node("MaxPool", ["a"], ["m"], kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("AveragePool", ["m"], ["p"], kernel_shape=[2, 2], strides=[1, 1]),
    helper.make_node("GlobalAveragePool", ["p"], ["g"]),
    helper.make_node("Flatten", ["g"], ["f"]),
    helper.make_node("Gemm", ["f", "wg", "bg"], ["l"], transB=1),
    helper.make_node("Sigmoid", ["l"], ["y"]),
], [vi("x", f32, ["N", 3, 16, 16])], [vi("y", f32, ["N", 2])],
    [init("w1", rng.normal(size=(4, 3, 3, 3)).astype(np.float32)), init("b1", np.zeros(4, np.float32)),
     init("w2", rng.normal(size=(4, 1, 3, 3)).astype(np.float32)),
     init("lo", np.float32(0)), init("hi", np.float32(6)),
     init("wg", rng.normal(size=(2, 4)).astype(np.float32)), init("bg", np.zeros(2, np.float32))])

# int8 QDQ conv with per-channel weights, uint8 activations.
u8, i8 = TensorProto.UINT8, TensorProto.INT8
save("conv-qdq", [
    helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
    helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
    helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"], axis=0),
    helper.make_node("Conv", ["xd", "wd", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    helper.make_node("Relu", ["c"], ["r"]),
    helper.make_node("QuantizeLinear", ["r", "ys", "yz"], ["yq"]),
    helper.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["y"]),
], [vi("x", f32, ["N", 4, 8, 8])], [vi("y", f32, ["N", 8, 8, 8])],
    [init("xs", np.float32(0.02)), init("xz", np.uint8(128)),
     init("wq", rng.integers(-127, 128, size=(8, 4, 3, 3)).astype(np.int8)),
     init("ws", (rng.random(8) * 0.01 + 0.001).astype(np.float32)), init("wz", np.zeros(8, np.int8)),
     init("b", rng.normal(size=8).astype(np.float32)), init("ys", np.float32(0.05)), init("yz", np.uint8(0))])

# Bidirectional LSTM with shape ops around it.
H, I = 4, 3
save("lstm-shapes", [
    helper.make_node("Unsqueeze", ["x", "ax1"], ["u"]),
    helper.make_node("LSTM", ["u", "W", "R", "B"], ["h", "", ""], direction="bidirectional", hidden_size=H),
    helper.make_node("Transpose", ["h"], ["t"], perm=[0, 2, 1, 3]),
    helper.make_node("Reshape", ["t", "shape"], ["rs"]),
    helper.make_node("Squeeze", ["rs", "ax1"], ["sq"]),
    helper.make_node("Concat", ["sq", "x"], ["cc"], axis=1),
    helper.make_node("Gather", ["cc", "idx"], ["ga"], axis=1),
    helper.make_node("Slice", ["ga", "st", "en", "axs"], ["y"]),
    helper.make_node("MatMul", ["y", "mm"], ["z"]),
], [vi("x", f32, ["S", I])], [vi("z", f32, ["S", 2])],
    [init("ax1", np.array([1], np.int64)),
     init("W", rng.normal(size=(2, 4 * H, I)).astype(np.float32)),
     init("R", rng.normal(size=(2, 4 * H, H)).astype(np.float32)),
     init("B", np.zeros((2, 8 * H), np.float32)),
     init("shape", np.array([0, 1, 2 * H], np.int64)),
     init("idx", np.array([0, 2, 4, 8], np.int64)),
     init("st", np.array([0], np.int64)), init("en", np.array([3], np.int64)), init("axs", np.array([1], np.int64)),
     init("mm", rng.normal(size=(3, 2)).astype(np.float32))])
print("wrote", sorted(os.listdir(out)))
