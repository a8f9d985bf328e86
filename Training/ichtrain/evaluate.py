"""Evaluation of an ONNX model on labelled series (slice and series level) and on real exams."""
from __future__ import annotations

import hashlib
import os

import numpy as np

from .data import SUBTYPES, load_index, load_many, restrict_to_ranges, split_key
from .export import OnnxRunner
from .metrics import summarize, weighted_log_loss


def predict(model_path: str, series_pixels: list[np.ndarray], threads: int = 2) -> list[np.ndarray]:
    """Per series: the model's `probs` [S,6] (after the LSTM)."""
    run = OnnxRunner(model_path, threads)
    return [run(x)[0] for x in series_pixels]


def evaluate(probs: list[np.ndarray], labels: list[np.ndarray], thresholds: np.ndarray) -> dict:
    """Slice level (every slice a row) and series level (max over slices, label = any slice positive)."""
    ys, ps = np.concatenate(labels), np.concatenate(probs)
    sy = np.stack([l.max(axis=0) for l in labels])
    sp = np.stack([p.max(axis=0) for p in probs])
    return {"slice": summarize(ys, ps, thresholds, SUBTYPES),
            "series": summarize(sy, sp, thresholds, SUBTYPES),
            "series_decisions_any": [bool(v) for v in sp[:, 0] >= thresholds[0]],
            "appliance_critical": appliance_critical(sy, sp, thresholds)}


def appliance_critical(series_labels: np.ndarray, series_scores: np.ndarray, thresholds: np.ndarray) -> dict:
    """The appliance's CRITICAL rule (Sources/Triage/Decision.swift): a series alerts when ANY label's
    series score reaches that label's threshold, so a low subtype threshold makes false alerts that
    neither the log loss nor the 'any' decision shows (candidate e4 of docs/model.md). Counted on
    negative and positive series; a negative alerting only through subtypes is counted per label."""
    hit = series_scores >= thresholds[None, :]
    critical = hit.any(axis=1)
    negative = series_labels[:, 0] == 0
    per_subtype = (negative & critical & ~hit[:, 0])[:, None] & hit[:, 1:]
    return {"negatives": int(negative.sum()), "negatives_critical": int((negative & critical).sum()),
            "negatives_critical_by_any": int((negative & hit[:, 0]).sum()),
            "negatives_critical_by_subtypes_only": {s: int(n) for s, n in zip(SUBTYPES[1:], per_subtype.sum(axis=0)) if n},
            "positives": int((~negative).sum()), "positives_critical": int((~negative & critical).sum())}


def compare(float_eval: dict, int8_eval: dict) -> dict:
    """int8 against float32: relative log-loss change and series 'any' decision agreement."""
    lf = float_eval["slice"]["weighted_log_loss"]
    lq = int8_eval["slice"]["weighted_log_loss"]
    a, b = float_eval["series_decisions_any"], int8_eval["series_decisions_any"]
    same = sum(x == y for x, y in zip(a, b))
    return {"slice_log_loss_float32": lf, "slice_log_loss_int8": lq,
            "relative_change": (lq - lf) / lf if lf > 0 else None,
            "series_same_decision": same, "series_total": len(a),
            "series_same_decision_fraction": same / len(a) if a else None}



def evaluate_set(folder: str, float_path: str, int8_path: str, thresholds: np.ndarray, threads: int = 2,
                 slice_ranges=None) -> dict:
    """A whole labelled RSNA-format folder (DIR/labels.csv) as one held-out set, float32 and int8;
    with slice_ranges only those ordered slices, each range a sub-series."""
    ex = restrict_to_ranges(load_index(folder, os.path.join(folder, "labels.csv")), slice_ranges or [])
    xp, xl = load_many(ex, 3), [s.labels for s in ex]
    pf, pq = predict(float_path, xp, threads), predict(int8_path, xp, threads)
    e = {"float32": evaluate(pf, xl, thresholds), "int8": evaluate(pq, xl, thresholds),
         "folder": os.path.abspath(folder), "series": [split_key(s) for s in ex],
         "slice_ranges": [[a, b - 1] for a, b in (slice_ranges or [])]}
    kinds = series_kinds(xl, xp)  # hashed once for both models
    e["float32"]["by_kind"] = positives_and_distinct_negatives(pf, xl, xp, kinds)
    e["int8"]["by_kind"] = positives_and_distinct_negatives(pq, xl, xp, kinds)
    e["int8_vs_float32"] = compare(e["float32"], e["int8"])
    return e


def series_kinds(labels: list[np.ndarray], pixels: list[np.ndarray]) -> tuple[list[int], list[int], int]:
    """(positive series, one series per distinct negative input, number of negative series): indices."""
    pos = [i for i, y in enumerate(labels) if y[:, 0].any()]
    neg: dict[bytes, int] = {}
    for i, y in enumerate(labels):
        if not y[:, 0].any():
            neg.setdefault(hashlib.sha256(np.ascontiguousarray(pixels[i], dtype=np.float32).tobytes()).digest(), i)
    return pos, list(neg.values()), len(labels) - len(pos)


def positives_and_distinct_negatives(probs: list[np.ndarray], labels: list[np.ndarray],
                                     pixels: list[np.ndarray], kinds=None) -> dict:
    """Slice weighted log loss of the positive series, and of the negative series with each distinct
    pixel content counted once. Negative real-anatomy (sub-)series are the real exam's own slices
    with no bleed inserted, so the same pixels recur once per generator seed (docs/model.md,
    "Candidates j1 and j2"): pooled, one real negative block outweighs the positives many times.
    Distinct = a different model input, byte for byte (the generator's two rescale encodings of one
    real slice give the same HU, so the same input). kinds: series_kinds(labels, pixels), when already made."""
    pos, neg, n_neg = kinds or series_kinds(labels, pixels)
    def wll(ix):
        return weighted_log_loss(np.concatenate([labels[i] for i in ix]), np.concatenate([probs[i] for i in ix])) if ix else None
    return {"positive_series": len(pos), "positive_slice_weighted_log_loss": wll(pos),
            "negative_series": n_neg, "negative_distinct": len(neg),
            "negative_distinct_slice_weighted_log_loss": wll(neg)}
