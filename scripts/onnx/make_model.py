#!/usr/bin/env python3
"""Generate small and benchmark-sized ONNX models (random weights) for the inference engine.

Built with onnx.helper + numpy only (no PyTorch), then quantized with
onnxruntime.quantization.quantize_static in QDQ format: int8 per-channel weights,
uint8 or int8 activations, calibrated on random data.

usage: make_model.py NAME OUT.onnx [--act uint8|int8|float] [--size N] [--seed N]
        [--expose-int8]   also list every QuantizeLinear output as a graph output
                          (lets tests compare int8 intermediates with ONNX Runtime)
        [--reduce-range]  7-bit weights (see --help)
names: resnet18, resnext101, mobilenetv2, convstack, lstm, detector
"""
import argparse
import os
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class Builder:
    """Accumulates nodes and initializers; names values uniquely."""

    def __init__(self, seed):
        self.nodes, self.inits, self.n = [], [], 0
        self.rng = np.random.default_rng(seed)
        self.macs = 0  # multiply-accumulates per batch item

    def name(self, prefix):
        self.n += 1
        return f"{prefix}_{self.n}"

    def const(self, arr, prefix="w"):
        n = self.name(prefix)
        self.inits.append(numpy_helper.from_array(arr, n))
        return n

    def node(self, op, inputs, n_out=1, prefix=None, **attrs):
        outs = [self.name(prefix or op.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=self.name("n_" + op), **attrs))
        return outs[0] if n_out == 1 else outs

    def conv(self, x, cin, cout, k, hw, stride=1, groups=1, relu=True, bias=True):
        """Conv (He init) with 'same'-style padding; returns (value, new hw)."""
        fan_in = cin // groups * k * k
        w = (self.rng.standard_normal((cout, cin // groups, k, k)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        ins = [x, self.const(w)]
        if bias:
            ins.append(self.const((self.rng.standard_normal(cout) * 0.1).astype(np.float32), "b"))
        p = k // 2
        y = self.node("Conv", ins, kernel_shape=[k, k], strides=[stride, stride], pads=[p, p, p, p], group=groups)
        out_hw = (hw + 2 * p - k) // stride + 1
        self.macs += out_hw * out_hw * cout * (cin // groups) * k * k
        if relu:
            y = self.node("Relu", [y])
        return y, out_hw

    def gemm(self, x, cin, cout):
        w = (self.rng.standard_normal((cout, cin)) * np.sqrt(1.0 / cin)).astype(np.float32)
        b = (self.rng.standard_normal(cout) * 0.1).astype(np.float32)
        self.macs += cin * cout
        return self.node("Gemm", [x, self.const(w), self.const(b, "b")], transB=1)


def stem(b, x, size, width=64):
    y, hw = b.conv(x, 3, width, 7, size, stride=2)
    y = b.node("MaxPool", [y], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    return y, (hw + 2 - 3) // 2 + 1


def head(b, y, c, classes=6):
    y = b.node("GlobalAveragePool", [y])
    y = b.node("Flatten", [y], axis=1)
    return b.gemm(y, c, classes)


def resnet18(b, x, size):
    y, hw = stem(b, x, size)
    cin = 64
    for stage, cout in enumerate([64, 128, 256, 512]):
        for blk in range(2):
            stride = 2 if stage > 0 and blk == 0 else 1
            a, hw2 = b.conv(y, cin, cout, 3, hw, stride)
            a, _ = b.conv(a, cout, cout, 3, hw2, relu=False)
            sc = y
            if stride != 1 or cin != cout:
                sc, _ = b.conv(y, cin, cout, 1, hw, stride, relu=False)
            y = b.node("Relu", [b.node("Add", [a, sc])])
            cin, hw = cout, hw2
    return head(b, y, cin), ["logits"]


def resnext101(b, x, size, groups=32, width_per_group=8):
    y, hw = stem(b, x, size)
    cin = 64
    for stage, (planes, blocks) in enumerate(zip([64, 128, 256, 512], [3, 4, 23, 3])):
        width = planes * width_per_group * groups // 64
        cout = planes * 4
        for blk in range(blocks):
            stride = 2 if stage > 0 and blk == 0 else 1
            a, _ = b.conv(y, cin, width, 1, hw)
            a, hw2 = b.conv(a, width, width, 3, hw, stride, groups=groups)
            a, _ = b.conv(a, width, cout, 1, hw2, relu=False)
            sc = y
            if blk == 0:
                sc, _ = b.conv(y, cin, cout, 1, hw, stride, relu=False)
            y = b.node("Relu", [b.node("Add", [a, sc])])
            cin, hw = cout, hw2
    return head(b, y, cin), ["logits"]


def relu6(b, y):
    return b.node("Clip", [y, b.const(np.array(0, np.float32), "lo"), b.const(np.array(6, np.float32), "hi")])


def mobilenetv2(b, x, size):
    y, hw = b.conv(x, 3, 32, 3, size, stride=2, relu=False)
    y = relu6(b, y)
    cin = 32
    cfg = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    for t, c, n, s in cfg:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            a = y
            if t != 1:
                a, _ = b.conv(a, cin, hidden, 1, hw, relu=False)
                a = relu6(b, a)
            a, hw2 = b.conv(a, hidden, hidden, 3, hw, stride, groups=hidden, relu=False)
            a = relu6(b, a)
            a, _ = b.conv(a, hidden, c, 1, hw2, relu=False)
            if stride == 1 and cin == c:
                a = b.node("Add", [a, y])
            y, cin, hw = a, c, hw2
    y, _ = b.conv(y, cin, 1280, 1, hw, relu=False)
    y = relu6(b, y)
    return head(b, y, 1280), ["logits"]


def convstack(b, x, size):
    """Small net covering the int8 paths: strides, groups, depthwise, residual Add, both pools, Gemm, Sigmoid."""
    y, hw = b.conv(x, 3, 16, 3, size, stride=2)
    y = b.node("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
    hw //= 2
    a, _ = b.conv(y, 16, 16, 3, hw, groups=4)                       # grouped
    a, _ = b.conv(a, 16, 16, 3, hw, groups=16, relu=False)          # depthwise
    a = relu6(b, a)
    a, _ = b.conv(a, 16, 16, 1, hw, relu=False)
    y = b.node("Relu", [b.node("Add", [a, y])])                     # residual
    y, hw = b.conv(y, 16, 24, 5, hw, stride=2)
    y = b.node("AveragePool", [y], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0)
    y, hw = b.conv(y, 24, 32, 3, hw, stride=2, bias=False)
    feat = b.node("Identity", [y], prefix="features")
    z = b.node("GlobalAveragePool", [feat])
    z = b.node("Flatten", [z], axis=1)
    z = b.node("Relu", [b.gemm(z, 32, 20)])
    logits = b.gemm(z, 20, 6)
    probs = b.node("Sigmoid", [logits])
    return [probs, logits], ["probs", "logits"]


def lstm_layer(b, x, din, hidden, bidirectional=True):
    dirs = 2 if bidirectional else 1
    s = 1.0 / np.sqrt(hidden)
    W = b.const(b.rng.uniform(-s, s, (dirs, 4 * hidden, din)).astype(np.float32))
    R = b.const(b.rng.uniform(-s, s, (dirs, 4 * hidden, hidden)).astype(np.float32))
    B = b.const(b.rng.uniform(-s, s, (dirs, 8 * hidden)).astype(np.float32), "b")
    y, yh, yc = b.node("LSTM", [x, W, R, B], n_out=3, hidden_size=hidden,
                       direction="bidirectional" if bidirectional else "forward")
    b.macs += 4 * hidden * (din + hidden) * dirs
    return y, yh, yc


def sequence_head(b, emb, dim, hidden, layers, classes=6):
    """[S, dim] per-slice embedding -> bidirectional LSTM over slices -> [S, classes] probabilities."""
    seq = b.node("Unsqueeze", [emb, b.const(np.array([1], np.int64), "axes")])       # [S, 1, dim]
    extra = []
    for _ in range(layers):
        y, yh, yc = lstm_layer(b, seq, dim, hidden)                                   # [S, 2, 1, H]
        y = b.node("Transpose", [y], perm=[0, 2, 1, 3])                              # [S, 1, 2, H]
        seq = b.node("Reshape", [y, b.const(np.array([0, 0, -1], np.int64), "shape")])  # [S, 1, 2H]
        dim = 2 * hidden
        extra = [yh, yc]
    out = b.node("Squeeze", [seq, b.const(np.array([1], np.int64), "axes")])          # [S, 2H]
    logits = b.gemm(out, dim, classes)
    return b.node("Sigmoid", [logits]), extra


def lstm(b, x, size):
    """Quantized conv front, float LSTM over the batch axis (slices)."""
    y, hw = b.conv(x, 3, 8, 3, size, stride=2)
    y = b.node("GlobalAveragePool", [y])
    y = b.node("Flatten", [y], axis=1)
    emb = b.gemm(y, 8, 12)
    probs, (yh, yc) = sequence_head(b, emb, 12, 10, 1)
    return [probs, yh, yc], ["probs", "y_h", "y_c"]


def detector(b, x, size):
    """The detector's graph family at a small width: CNN -> slice logits + PCA projection -> BiLSTM -> probs."""
    y, hw = stem(b, x, size, width=16)
    cin = 16
    for stage, cout in enumerate([16, 32, 64]):
        stride = 1 if stage == 0 else 2
        a, hw2 = b.conv(y, cin, cout, 3, hw, stride)
        a, _ = b.conv(a, cout, cout, 3, hw2, relu=False)
        sc = y if stride == 1 and cin == cout else b.conv(y, cin, cout, 1, hw, stride, relu=False)[0]
        y = b.node("Relu", [b.node("Add", [a, sc])])
        cin, hw = cout, hw2
    feat = b.node("Identity", [y], prefix="features")
    z = b.node("GlobalAveragePool", [feat])
    z = b.node("Flatten", [z], axis=1)
    slice_logits = b.gemm(z, cin, 6)
    pca = b.gemm(z, cin, 20)
    emb = b.node("Concat", [pca, b.node("Sigmoid", [slice_logits])], axis=1)
    probs, _ = sequence_head(b, emb, 26, 16, 2)
    return [probs, slice_logits, feat], ["probs", "slice_logits", "features"]


MODELS = {"resnet18": resnet18, "resnext101": resnext101, "mobilenetv2": mobilenetv2,
          "convstack": convstack, "lstm": lstm, "detector": detector}
DEFAULT_SIZE = {"resnet18": 256, "resnext101": 256, "mobilenetv2": 256,
                "convstack": 32, "lstm": 16, "detector": 64}


def build(name, size, seed):
    b = Builder(seed)
    x = "slices"
    outs, names = MODELS[name](b, x, size)
    if not isinstance(outs, list):
        outs = [outs]
    # Rename the final values to the public output names.
    rename = dict(zip(outs, names))
    for n in b.nodes:
        for i, o in enumerate(n.output):
            if o in rename:
                n.output[i] = rename[o]
        for i, v in enumerate(n.input):
            if v in rename:
                n.input[i] = rename[v]
    inp = helper.make_tensor_value_info(x, TensorProto.FLOAT, ["S", 3, size, size])
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in names]
    graph = helper.make_graph(b.nodes, name, [inp], outputs, b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="ichtriage-make_model")
    model.ir_version = 8
    model = typed_outputs(model)
    model.doc_string = f"macs_per_slice={b.macs}"
    onnx.checker.check_model(model)
    return model, b.macs


def quantize(model, out_path, act, size, seed, reduce_range=False):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class RandomReader(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(seed + 1)
            # Inputs like windowed CT channels in [0, 1]; batch 4 so batch-dependent ops see S > 1.
            self.items = iter([{"slices": rng.random((4, 3, size, size), dtype=np.float32)} for _ in range(4)])

        def get_next(self):
            return next(self.items, None)

    with tempfile.TemporaryDirectory() as tmp:
        fp = os.path.join(tmp, "float.onnx")
        onnx.save(model, fp)
        quantize_static(fp, out_path, RandomReader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        reduce_range=reduce_range,
                        activation_type=QuantType.QUInt8 if act == "uint8" else QuantType.QInt8,
                        weight_type=QuantType.QInt8,
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})


def typed_outputs(model):
    """Give every graph output the type and shape that ONNX shape inference finds."""
    inferred = onnx.shape_inference.infer_shapes(model)
    known = {v.name: v for v in inferred.graph.value_info}
    known.update({v.name: v for v in inferred.graph.output if v.type.tensor_type.HasField("shape")})
    for o in model.graph.output:
        if o.name in known:
            o.CopyFrom(known[o.name])
    return model


def expose_quantized(path):
    """Add every QuantizeLinear output (activation, not weight) as an extra graph output."""
    m = onnx.load(path)
    have = {o.name for o in m.graph.output}
    inits = {i.name for i in m.graph.initializer}
    zp_type = {i.name: i.data_type for i in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type == "QuantizeLinear" and n.input[0] not in inits and n.output[0] not in have:
            elem = zp_type.get(n.input[2], TensorProto.UINT8) if len(n.input) > 2 else TensorProto.UINT8
            m.graph.output.append(helper.make_tensor_value_info(n.output[0], elem, None))
    onnx.save(m, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name", choices=sorted(MODELS))
    ap.add_argument("out")
    ap.add_argument("--act", choices=["uint8", "int8", "float"], default="uint8")
    ap.add_argument("--size", type=int)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--expose-int8", action="store_true")
    ap.add_argument("--reduce-range", action="store_true",
                    help="7-bit weights: ONNX Runtime's uint8 x int8 path on x86 without VNNI (vpmaddubsw) saturates "
                         "int16 pair sums otherwise, so its results are not exact QDQ")
    a = ap.parse_args()
    size = a.size or DEFAULT_SIZE[a.name]
    model, macs = build(a.name, size, a.seed)
    if a.act == "float":
        onnx.save(model, a.out)
    else:
        quantize(model, a.out, a.act, size, a.seed, a.reduce_range)
        if a.expose_int8:
            expose_quantized(a.out)
    print(f"{a.out}: {a.name} {a.act} {size}x{size} {macs / 1e9:.3f} GMAC/slice")


if __name__ == "__main__":
    sys.exit(main())
