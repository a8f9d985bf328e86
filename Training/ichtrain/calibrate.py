"""int8 static quantization (ONNX Runtime, QDQ, per-channel int8 weights, uint8 activations) of
the CNN part of the graph, and per-subtype operating points chosen on a validation set.

The LSTM, the PCA Gemm and the final Gemm stay float32: they are a tiny part of the compute
and the appliance's engine runs the LSTM in float32.
"""
from __future__ import annotations

import numpy as np
import onnx

from .metrics import operating_point


class _Reader:
    """CalibrationDataReader over a list of series inputs ([S,3,256,256] each)."""

    def __init__(self, series: list[np.ndarray]):
        self._it = iter(series)

    def get_next(self):
        x = next(self._it, None)
        return None if x is None else {"slices": x.astype(np.float32)}


def float_tail_nodes(model: onnx.ModelProto) -> list[str]:
    """Nodes from the LSTM's inputs onwards (PCA Gemm, Concat, LSTM, final Gemm...): kept float.

    The CNN (every node the `slice_logits` output depends on) is quantized; everything else is
    the sequence part."""
    producers = {o: n for n in model.graph.node for o in n.output}
    cnn, stack = set(), ["slice_logits", "features"]
    while stack:
        t = stack.pop()
        n = producers.get(t)
        if n is None or n.name in cnn:
            continue
        cnn.add(n.name)
        stack.extend(n.input)
    return [n.name for n in model.graph.node if n.name not in cnn]


CALIBRATION_METHODS = ("MinMax", "Percentile", "Entropy")


def quantize(float_path: str, int8_path: str, calib_series: list[np.ndarray], method: str = "MinMax",
             percentile: float = 99.999) -> dict:
    """method: how activation ranges are taken from the calibration slices (ONNX Runtime's
    calibrators): MinMax (the extremes), Percentile (clip at `percentile` of |x|), Entropy (KL).
    Only the scales and zero points differ: the graph and its operators are the same."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method must be one of {CALIBRATION_METHODS}, got {method!r}")
    model = onnx.load(float_path)
    exclude = float_tail_nodes(model)
    settings = dict(quant_format="QDQ", per_channel=True, weight_type="QInt8", activation_type="QUInt8",
                    calibrate_method=method, op_types_to_quantize=["Conv", "Gemm", "Add", "MaxPool",
                                                                   "GlobalAveragePool"],
                    nodes_excluded=exclude, reduce_range=False)
    extra = {}
    if method == "Percentile":
        settings["calibrate_percentile"] = percentile
        extra["CalibPercentile"] = percentile
    quantize_static(float_path, int8_path, _Reader(calib_series), quant_format=QuantFormat.QDQ,
                    per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                    calibrate_method=getattr(CalibrationMethod, method),
                    op_types_to_quantize=settings["op_types_to_quantize"],
                    nodes_to_exclude=exclude, reduce_range=False, extra_options=extra)
    q = onnx.load(int8_path)
    onnx.checker.check_model(q, full_check=True)
    return settings


def choose_thresholds(series_y: np.ndarray, series_p: np.ndarray, names, min_sensitivity=0.95) -> tuple[np.ndarray, dict]:
    """Per subtype, at series level (series score = max over slices, as the appliance decides)."""
    thr, why = np.zeros(len(names)), {}
    for k, name in enumerate(names):
        thr[k], why[name] = operating_point(series_y[:, k], series_p[:, k], min_sensitivity)
    return thr, why
