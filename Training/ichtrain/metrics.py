"""Metrics without scikit-learn: RSNA weighted log loss, AUC, sensitivity/specificity, operating points."""
from __future__ import annotations

import numpy as np

WEIGHTS = np.array([2.0, 1.0, 1.0, 1.0, 1.0, 1.0])
EPS = 1e-15  # the clip of scikit-learn's log_loss, which the RSNA 2019 metric used


def weighted_log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """RSNA 2019: sum over rows and labels of w*logloss / sum of weights (rows = slices)."""
    y = np.asarray(y, dtype=np.float64)
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    ll = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    return float((ll * WEIGHTS).sum() / (WEIGHTS.sum() * y.shape[0]))


def auc(y: np.ndarray, s: np.ndarray) -> float | None:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties averaged; None if one class is absent."""
    y = np.asarray(y).astype(bool)
    s = np.asarray(s, dtype=np.float64)
    npos, nneg = int(y.sum()), int((~y).sum())
    if npos == 0 or nneg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y].sum() - npos * (npos + 1) / 2.0) / (npos * nneg))


def sens_spec(y: np.ndarray, s: np.ndarray, threshold: float) -> tuple[float | None, float | None]:
    y = np.asarray(y).astype(bool)
    pred = np.asarray(s) >= threshold
    sens = float((pred & y).sum() / y.sum()) if y.any() else None
    spec = float((~pred & ~y).sum() / (~y).sum()) if (~y).any() else None
    return sens, spec


def operating_point(y: np.ndarray, s: np.ndarray, min_sensitivity: float) -> tuple[float, str]:
    """The highest threshold whose sensitivity is >= min_sensitivity (fewest false alerts at that
    sensitivity), placed halfway down to the next lower score so it is not on a sample's score."""
    y = np.asarray(y).astype(bool)
    s = np.asarray(s, dtype=np.float64)
    if not y.any():
        return 0.5, "no positives in the validation set: default 0.5"
    pos = np.sort(s[y])[::-1]
    k = int(np.ceil(min_sensitivity * len(pos)))  # must catch the k highest positives
    t = pos[k - 1]
    below = s[s < t]
    thr = (t + below.max()) / 2.0 if below.size else t
    return float(thr), f"highest threshold with sensitivity >= {min_sensitivity} on {len(pos)} positives"


def summarize(y: np.ndarray, p: np.ndarray, thresholds: np.ndarray, names) -> dict:
    """Per subtype: AUC, sensitivity/specificity at its threshold, positives; plus weighted log loss."""
    out = {"n": int(y.shape[0]), "weighted_log_loss": weighted_log_loss(y, p), "per_subtype": {}}
    for k, name in enumerate(names):
        sens, spec = sens_spec(y[:, k], p[:, k], thresholds[k])
        out["per_subtype"][name] = {"auc": auc(y[:, k], p[:, k]), "positives": int(y[:, k].sum()),
                                    "threshold": float(thresholds[k]), "sensitivity": sens, "specificity": spec}
    return out
