"""python -m ichtrain recover-cnn: the slice CNN of a shipped bundle's model.onnx as a detector.pt.

Why: a new sequence head, calibration or threshold rule for the shipped CNN needs the CNN as PyTorch
weights (`pipeline --slice-net`), and the training checkpoint may be gone (a new machine). The ONNX
graph holds the CNN with BatchNorm folded into each Conv (export.py) and, in an int8 bundle, each
weight as int8 + per-channel scale behind a DequantizeLinear. Recovered: each Conv's weight (the
dequantized int8 values, or the float32 ones of a conv left float) and bias, and the slice head's
Gemm. Each Conv+BatchNorm pair of the SliceNet gets the folded weight and an identity BatchNorm
(scale 1, mean 0, variance 1 - eps) carrying the bias, so that `fold_batchnorm` gives back the same
Conv. The int8 weights are exact multiples of their per-channel scale, so quantizing them again with
the same symmetric per-channel rule reproduces them.

Each graph Conv is matched to the SliceNet's conv by its weight's name (the exporter names weights
after their parameters; the quantizer reorders nodes, so their order cannot be used); every conv
must be found and every shape agree, else the backbone named is not the graph's.
"""
from __future__ import annotations

import argparse
import copy
import re
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from .cam import slice_head_node
from .model import N_OUT, BACKBONES, SliceNet, fold_batchnorm


class RecoverError(Exception):
    """The graph does not hold a SliceNet of the backbone named."""


def _tensors(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Every constant the graph defines (initializers, Constant nodes), DequantizeLinear of constants
    evaluated (weights of a QDQ graph), by output name."""
    g = model.graph
    vals = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            for at in n.attribute:
                if at.name == "value":
                    vals[n.output[0]] = numpy_helper.to_array(at.t)
    for n in g.node:
        if n.op_type != "DequantizeLinear" or n.input[0] not in vals or n.input[1] not in vals:
            continue
        q = vals[n.input[0]].astype(np.float64)
        scale = vals[n.input[1]].astype(np.float64)
        zp = vals[n.input[2]].astype(np.float64) if len(n.input) > 2 and n.input[2] else np.zeros_like(scale)
        axis = next((at.i for at in n.attribute if at.name == "axis"), 1)
        if scale.ndim == 1 and scale.size > 1:  # per-channel along `axis`
            shape = [1] * q.ndim
            shape[axis] = scale.size
            scale, zp = scale.reshape(shape), zp.reshape(shape)
        vals[n.output[0]] = ((q - zp) * scale).astype(np.float32)
    return vals


def _const(vals: dict, name: str, what: str) -> np.ndarray:
    if name not in vals:
        raise RecoverError(f"{what}: input {name!r} is not a constant of the graph (not a weight)")
    return vals[name]


def recover_slice_net(onnx_path: str, backbone: str = "narrow") -> SliceNet:
    """The SliceNet whose folded convs and head are those of the graph (eval mode)."""
    if backbone not in BACKBONES:
        raise RecoverError(f"unknown backbone {backbone!r} (known: {', '.join(BACKBONES)})")
    model = onnx.load(onnx_path)
    vals = _tensors(model)
    net = SliceNet(backbone).eval()
    folded = fold_batchnorm(copy.deepcopy(net)).eval()
    want = {k: m for k, m in folded.named_modules() if isinstance(m, nn.Conv2d)}
    got = {}  # folded conv module name -> (weight, bias) of the graph's Conv
    producer = {o: n for n in model.graph.node for o in n.output}
    for node in (n for n in model.graph.node if n.op_type == "Conv"):
        w = _const(vals, node.input[1], f"Conv {node.name}")
        b = _const(vals, node.input[2], f"Conv {node.name}") if len(node.input) > 2 and node.input[2] else None
        name = _module_name(node.input[1], producer)
        if name not in want:
            raise RecoverError(f"Conv {node.name}: weight {node.input[1]!r} names no conv of backbone {backbone!r}")
        if tuple(w.shape) != tuple(want[name].weight.shape):
            raise RecoverError(f"Conv {node.name}: weight {tuple(w.shape)} but {name} of {backbone!r} is "
                               f"{tuple(want[name].weight.shape)}")
        got[name] = (w, np.zeros(w.shape[0], np.float32) if b is None else b)
    if set(got) != set(want):
        raise RecoverError(f"backbone {backbone!r} has convs the graph lacks: {sorted(set(want) - set(got))[:3]}")
    sd = net.state_dict()
    for name, (w, b) in got.items():
        # folded conv "backbone.stem.0" <- unfolded Sequential "backbone.stem.0" = (conv "0", bn "1")
        sd[f"{name}.0.weight"] = torch.from_numpy(np.array(w, dtype=np.float32))
        bn = net.get_submodule(f"{name}.1")
        sd[f"{name}.1.weight"] = torch.ones(w.shape[0])
        sd[f"{name}.1.bias"] = torch.from_numpy(np.array(b, dtype=np.float32))
        sd[f"{name}.1.running_mean"] = torch.zeros(w.shape[0])
        sd[f"{name}.1.running_var"] = torch.full((w.shape[0],), 1.0 - bn.eps)
    head = _slice_head(model, vals, net.head.in_features)
    sd["head.weight"], sd["head.bias"] = (torch.from_numpy(np.array(t, dtype=np.float32)) for t in head)
    net.load_state_dict(sd)
    return net.eval()


def _module_name(weight: str, producer: dict) -> str | None:
    """'det.slice_net.backbone.stem.0.weight' (float32) or the DequantizeLinear of
    '...weight_quantized' (int8) -> 'backbone.stem.0', the folded SliceNet's module name. The
    exporter names each weight after its parameter; the quantizer keeps that name with a suffix."""
    n = producer.get(weight)
    if n is not None and n.op_type == "DequantizeLinear":
        weight = n.input[0]
    m = re.search(r"slice_net\.(.+)\.weight(_quantized)?$", weight)
    return m.group(1) if m else None


def _slice_head(model: onnx.ModelProto, vals: dict, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Weight [6,width] (nn.Linear's layout) and bias of the Gemm producing the graph output `slice_logits`."""
    try:
        n = slice_head_node(model)
    except KeyError:
        raise RecoverError("no Gemm produces the graph output 'slice_logits'") from None
    w = _const(vals, n.input[1], f"Gemm {n.name}")
    b = _const(vals, n.input[2], f"Gemm {n.name}")
    if next((at.i for at in n.attribute if at.name == "transB"), 0) == 0:
        w = w.T  # [in, out] -> nn.Linear's [out, in]
    if tuple(w.shape) != (N_OUT, width):
        raise RecoverError(f"slice head Gemm {n.name}: weight {tuple(w.shape)}, expected {(N_OUT, width)}")
    return w, b


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m ichtrain recover-cnn", description=__doc__.splitlines()[0])
    ap.add_argument("--onnx", required=True, help="a bundle's model.onnx (int8 QDQ or float32)")
    ap.add_argument("--backbone", default="narrow", choices=sorted(BACKBONES))
    ap.add_argument("--out", required=True, help="detector.pt to write (its slice_net.* weights; for --slice-net)")
    a = ap.parse_args(argv)
    try:
        net = recover_slice_net(a.onnx, a.backbone)
    except (RecoverError, OSError) as e:
        print(f"recover-cnn: {e}", file=sys.stderr)
        return 1
    sd = {f"slice_net.{k}": v for k, v in net.state_dict().items()}
    torch.save({"state_dict": sd, "config": {"backbone": a.backbone}, "recovered_from": a.onnx}, a.out)
    n = sum(v.numel() for k, v in net.state_dict().items() if k.endswith("weight"))
    print(f"recover-cnn: {a.backbone} slice CNN ({n} weights) from {a.onnx} -> {a.out}")
    return 0
