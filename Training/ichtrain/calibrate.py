"""int8 static quantization (ONNX Runtime, QDQ, per-channel int8 weights, uint8 activations) of
the CNN part of the graph, and per-subtype operating points chosen on a validation set.

The LSTM, the PCA Gemm and the final Gemm stay float32: they are a tiny part of the compute
and the appliance's engine runs the LSTM in float32.
"""
from __future__ import annotations

import numpy as np
import onnx

from .metrics import operating_point


def equal_length_chunks(series: list[np.ndarray]) -> list[np.ndarray]:
    """The calibration batches: each series whole when all have the same slice count; else each cut
    into chunks of the shortest one's length L (the last chunk of a series overlaps the one before,
    so every slice is in one). ONNX Runtime's histogram calibrators (Percentile, Entropy) stack each
    tensor over the batches and fail on batches of different lengths, e.g. 24-slice series with
    7-slice real-anatomy sub-series (--calib-extra-train). The quantized part (the CNN) works slice by
    slice, so the chunking changes no slice's activations; only the float32 LSTM sees shorter series."""
    lengths = {x.shape[0] for x in series}
    if len(lengths) <= 1:
        return list(series)
    n = min(lengths)
    out = []
    for x in series:
        starts = list(range(0, x.shape[0] - n + 1, n))
        if starts[-1] + n < x.shape[0]:
            starts.append(x.shape[0] - n)
        out += [x[a:a + n] for a in starts]
    return out


class _Reader:
    """CalibrationDataReader over a list of series inputs ([S,3,256,256] each)."""

    def __init__(self, series: list[np.ndarray]):
        self._it = iter(equal_length_chunks(series))

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
             percentile: float = 99.999, float_convs: list[str] | None = None, ranges_cache: str | None = None) -> dict:
    """method: how activation ranges are taken from the calibration slices (ONNX Runtime's
    calibrators): MinMax (the extremes), Percentile (clip at `percentile` of |x|), Entropy (KL).
    Only the scales and zero points differ: the graph and its operators are the same.
    float_convs: CNN Conv nodes left float32 as well (mixed precision, see `conv_sensitivity`).
    ranges_cache: a file for ONNX Runtime's calibration cache: the activation ranges are computed
    on the first call and read back by later calls with the same method (the same ranges)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method must be one of {CALIBRATION_METHODS}, got {method!r}")
    model = onnx.load(float_path)
    exclude = float_tail_nodes(model) + list(float_convs or [])
    settings = dict(quant_format="QDQ", per_channel=True, weight_type="QInt8", activation_type="QUInt8",
                    calibrate_method=method, op_types_to_quantize=["Conv", "Gemm", "Add", "MaxPool",
                                                                   "GlobalAveragePool"],
                    nodes_excluded=exclude, float_convs=list(float_convs or []), reduce_range=False)
    extra = {}
    if method == "Percentile":
        settings["calibrate_percentile"] = percentile
        extra["CalibPercentile"] = percentile
    quantize_static(float_path, int8_path, _Reader(calib_series), quant_format=QuantFormat.QDQ,
                    per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                    calibrate_method=getattr(CalibrationMethod, method),
                    op_types_to_quantize=settings["op_types_to_quantize"],
                    nodes_to_exclude=exclude, reduce_range=False, extra_options=extra,
                    **({"calibration_cache_path": ranges_cache} if ranges_cache else {}))
    q = onnx.load(int8_path)
    onnx.checker.check_model(q, full_check=True)
    return settings


def logit_gap(probs_int8: np.ndarray, probs_float: np.ndarray, eps: float = 1e-6) -> float:
    """Mean |logit(int8) - logit(float32)| over every slice and label: how far quantization moves the
    outputs, whatever the labels (`--calib-method auto` keeps the calibration with the smaller gap).
    Probabilities are clipped to [eps, 1-eps] so that saturated outputs count as equal."""
    def logit(p):
        p = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
        return np.log(p) - np.log1p(-p)
    if probs_int8.shape != probs_float.shape:
        raise ValueError(f"shapes differ: {probs_int8.shape} vs {probs_float.shape}")
    return float(np.mean(np.abs(logit(probs_int8) - logit(probs_float))))


def conv_sensitivity(float_path: str, work_path: str, calib_series: list[np.ndarray], val_series: list[np.ndarray],
                     val_labels: list[np.ndarray], threads: int = 2, log=print) -> list[tuple[str, float]]:
    """The validation weighted log loss of the int8 model (MinMax ranges) with each CNN Conv left
    float32 in turn, best first, after ("", all-int8 loss). A few layers (in the narrow CNNs: the
    stem's) carry most of the int8 loss; leaving one float costs little (stem.2 holds 12 % of the
    narrow CNN's MACs, 6 % of narrow2's) and the appliance's engine runs float Convs between
    DequantizeLinear and QuantizeLinear."""
    from .evaluate import predict
    from .metrics import weighted_log_loss
    import os
    y = np.concatenate(val_labels)
    convs = [n.name for n in onnx.load(float_path).graph.node if n.op_type == "Conv"]
    out = []
    cache = work_path + ".ranges.json"
    if os.path.exists(cache):
        os.remove(cache)
    for name in [""] + convs:  # the ranges are computed once (all convs int8) and reused
        quantize(float_path, work_path, calib_series, "MinMax", float_convs=[name] if name else [], ranges_cache=cache)
        loss = weighted_log_loss(y, np.concatenate(predict(work_path, val_series, threads)))
        log(f"int8 sensitivity: {name or 'all convs int8'}: validation log loss {loss:.4f}")
        out.append((name, loss))
    return [out[0]] + sorted(out[1:], key=lambda t: t[1])


def choose_thresholds(series_y: np.ndarray, series_p: np.ndarray, names, min_sensitivity=0.95,
                      subtype_rule: str = "no-added-alerts") -> tuple[np.ndarray, dict]:
    """Per label, at series level (series score = max over slices, as the appliance decides); label 0
    is "any". Every label first gets the highest threshold with sensitivity >= min_sensitivity.

    subtype_rule "no-added-alerts" then raises a subtype's threshold, where needed, until it alerts on
    none of the validation negatives (any = 0) that "any" does not already alert on. The appliance
    alerts CRITICAL when ANY label reaches its threshold, so a subtype threshold below the scores of
    such negatives adds false alerts that "any" would not make (candidate 0.5.0 e4: intraventricular
    0.035, 14 of 40 negative test series CRITICAL; docs/model.md). The alert's sensitivity rests on
    "any"; a subtype may lose sensitivity, which the rule text then states. "sensitivity": the first
    rule alone (bundles up to 0.4.0)."""
    if subtype_rule not in ("sensitivity", "no-added-alerts"):
        raise ValueError(f"subtype_rule must be sensitivity or no-added-alerts, got {subtype_rule!r}")
    series_y, series_p = np.asarray(series_y), np.asarray(series_p, dtype=np.float64)
    thr, why = np.zeros(len(names)), {}
    for k, name in enumerate(names):
        thr[k], why[name] = operating_point(series_y[:, k], series_p[:, k], min_sensitivity)
    if subtype_rule == "no-added-alerts":
        quiet = (series_y[:, 0] == 0) & (series_p[:, 0] < thr[0])
        for k, name in enumerate(names[1:], start=1):
            if not quiet.any() or series_p[quiet, k].max() < thr[k]:
                continue
            top = series_p[quiet, k].max()
            above = series_p[series_p[:, k] > top, k]
            old, thr[k] = thr[k], (top + (above.min() if above.size else 1.0)) / 2.0
            pos = series_y[:, k] == 1
            sens = f"{(series_p[pos, k] >= thr[k]).mean():.2f}" if pos.any() else "n/a"
            why[name] += (f"; raised from {old:.4f} so that it alerts on none of the {int(quiet.sum())} validation "
                          f"negatives 'any' does not alert on (sensitivity now {sens})")
    return thr, why
