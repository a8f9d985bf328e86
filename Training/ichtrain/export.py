"""ONE ONNX graph (opset 17): slices [S,3,256,256] -> probs [S,6], slice_logits [S,6], features [S,C,h,w].

BatchNorm is folded into the convolutions first; the graph may use only the operators the
appliance's engine implements (ALLOWED_OPS), which `check_ops` enforces.
"""
from __future__ import annotations

import copy
import io
import warnings

import numpy as np
import onnx
import torch
from torch import nn

from .model import Detector, fold_batchnorm

OPSET = 17
INPUT = "slices"
OUTPUTS = ("probs", "slice_logits", "features")
ALLOWED_OPS = frozenset({
    "Conv", "Relu", "Clip", "Add", "MaxPool", "AveragePool", "GlobalAveragePool", "Gemm", "MatMul",
    "Sigmoid", "LSTM", "QuantizeLinear", "DequantizeLinear", "Flatten", "Reshape", "Squeeze",
    "Unsqueeze", "Transpose", "Concat", "Gather", "Slice", "Shape", "Constant",
})


class ExportError(Exception):
    """The exported graph is not one the appliance can run."""


class _Exportable(nn.Module):
    """Detector with explicit zero LSTM states, so the graph needs no ConstantOfShape/Expand."""

    def __init__(self, det: Detector):
        super().__init__()
        self.det = det
        lstm = det.seq.lstm
        n = lstm.num_layers * (2 if lstm.bidirectional else 1)
        self.register_buffer("h0", torch.zeros(n, 1, lstm.hidden_size))
        self.register_buffer("c0", torch.zeros(n, 1, lstm.hidden_size))

    def forward(self, slices):
        logits, emb, feats = self.det.slice_net(slices)
        p = torch.sigmoid(logits)
        seq = self.det.seq
        out = seq.forward_features(seq.pca(emb), p, logits, (self.h0, self.c0))
        return torch.sigmoid(out), logits, feats


def remove_identities(model: onnx.ModelProto) -> onnx.ModelProto:
    """Drop Identity nodes (the exporter emits some around LSTM states): rewire to their inputs."""
    g = model.graph
    outputs = {o.name for o in g.output}
    for node in [n for n in g.node if n.op_type == "Identity"]:
        src, dst = node.input[0], node.output[0]
        g.node.remove(node)
        if dst in outputs:  # keep the graph output's name: rename the producer's output instead
            for n in g.node:
                n.output[:] = [dst if o == src else o for o in n.output]
                n.input[:] = [dst if i == src else i for i in n.input]
            continue
        for n in g.node:
            n.input[:] = [src if i == dst else i for i in n.input]
    return model


def ops_in(model: onnx.ModelProto) -> list[str]:
    return sorted({n.op_type for n in model.graph.node})


def check_ops(model: onnx.ModelProto) -> list[str]:
    ops = ops_in(model)
    bad = [o for o in ops if o not in ALLOWED_OPS]
    if bad:
        raise ExportError(f"graph uses operators the engine does not implement: {bad}")
    return ops


def export_onnx(det: Detector, path: str, sample: np.ndarray) -> onnx.ModelProto:
    """Fold BN, export, check (checker + allowed ops), and compare with PyTorch on `sample`."""
    folded = _Exportable(fold_batchnorm(copy.deepcopy(det).eval())).eval()
    x = torch.from_numpy(sample.astype(np.float32))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kwargs = dict(input_names=[INPUT], output_names=list(OUTPUTS), opset_version=OPSET,
                      dynamic_axes={INPUT: {0: "S"}, **{o: {0: "S"} for o in OUTPUTS}},
                      do_constant_folding=True)
        try:
            torch.onnx.export(folded, (x,), buf, dynamo=False, **kwargs)
        except TypeError:  # older PyTorch without the dynamo switch
            torch.onnx.export(folded, (x,), buf, **kwargs)
    model = onnx.load_from_string(buf.getvalue())
    model = remove_identities(model)
    model.producer_name = "ichtrain"
    onnx.checker.check_model(model, full_check=True)
    check_ops(model)
    onnx.save(model, path)
    # Same numbers as PyTorch (the unfolded model) through ONNX Runtime, on 1 slice and on the sample.
    ref = [t.detach().numpy() for t in det.eval()(x)]
    got = run_onnx(path, sample)
    for name, a, b in zip(OUTPUTS, ref, got):
        err = float(np.max(np.abs(a - b)))
        if err > 1e-3 * max(1.0, float(np.max(np.abs(a)))):
            raise ExportError(f"ONNX Runtime and PyTorch disagree on {name}: max abs diff {err:.3g}")
    run_onnx(path, sample[:1])  # dynamic S really dynamic
    return model


def run_onnx(path: str, slices: np.ndarray, threads: int = 2) -> list[np.ndarray]:
    return OnnxRunner(path, threads)(slices)


class OnnxRunner:
    """A reusable ONNX Runtime session (evaluation runs many series through one model).

    Graph optimizations are OFF by default: ONNX Runtime then runs a QDQ graph as written
    (DequantizeLinear -> float op -> QuantizeLinear), the reference semantics the appliance's
    engine reproduces. With them on, ORT fuses QDQ into its own u8s8 kernels, which on x86
    without VNNI saturate int16 intermediates and move the probabilities by up to ~0.1 (see
    docs/model.md); those numbers are not what the appliance computes."""

    def __init__(self, path: str, threads: int = 2, optimized: bool = False):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        if not optimized:
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        # no busy-waiting worker threads: on a shared, oversubscribed CPU they burn the cycles the work needs
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

    def __call__(self, slices: np.ndarray) -> list[np.ndarray]:
        return self.sess.run(list(OUTPUTS), {INPUT: slices.astype(np.float32)})
