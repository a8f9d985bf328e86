import itertools

import numpy as np
import pytest

from ichtrain.metrics import auc, operating_point, sens_spec, weighted_log_loss


def test_auc_matches_pairwise_count_with_ties():
    rng = np.random.default_rng(3)
    y = rng.random(60) < 0.4
    s = np.round(rng.random(60), 1)  # many ties
    pos, neg = s[y], s[~y]
    brute = np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg)])
    assert abs(auc(y, s) - brute) < 1e-12
    assert auc(np.ones(3), np.arange(3)) is None


def test_weighted_log_loss_weights_any_twice():
    y = np.zeros((2, 6)); y[0, 0] = 1
    p = np.full((2, 6), 0.5)
    assert abs(weighted_log_loss(y, p) - np.log(2)) < 1e-12
    p2 = p.copy(); p2[0, 0] = 0.9   # improving 'any' counts twice as much as a subtype
    p3 = p.copy(); p3[0, 1] = 0.1
    d_any = weighted_log_loss(y, p) - weighted_log_loss(y, p2)
    d_sub = weighted_log_loss(y, p) - weighted_log_loss(y, p3)
    assert abs(d_any - 2 * d_sub) < 1e-12
    assert weighted_log_loss(y, y) < 1e-12


def test_operating_point_reaches_sensitivity_with_fewest_alerts():
    rng = np.random.default_rng(4)
    y = rng.random(200) < 0.3
    s = np.where(y, rng.normal(0.7, 0.15, 200), rng.normal(0.3, 0.15, 200))
    t, _ = operating_point(y, s, 0.95)
    sens, spec = sens_spec(y, s, t)
    assert sens >= 0.95
    # a threshold just above the next score up loses the 0.95 sensitivity
    higher = np.sort(s[s > t])[0]
    assert sens_spec(y, s, np.nextafter(higher, 2.0))[0] < 0.95


def test_one_cycle_lr_over_progress():
    from ichtrain.train import one_cycle_lr
    assert abs(one_cycle_lr(1.0, 0.0) - 0.04) < 1e-9
    assert abs(one_cycle_lr(1.0, 0.15) - 1.0) < 1e-9
    assert one_cycle_lr(1.0, 0.5) < 1.0 and one_cycle_lr(1.0, 1.0) < 1e-3
    values = [one_cycle_lr(1.0, p / 100) for p in range(15, 101)]
    assert all(a >= b for a, b in zip(values, values[1:]))  # monotone after the warm-up


def test_appliance_critical_counts_subtype_only_false_alerts():
    from ichtrain.evaluate import appliance_critical
    from ichtrain.report import _critical_lines
    thr = np.array([0.6, 0.5, 0.5, 0.1, 0.5, 0.5])
    labels = np.zeros((5, 6)); labels[3:, 0] = 1; labels[3, 1] = 1; labels[4, 4] = 1
    scores = np.array([
        [0.1, 0.0, 0.0, 0.05, 0.0, 0.0],   # quiet negative
        [0.2, 0.0, 0.0, 0.30, 0.0, 0.0],   # negative: CRITICAL through intraventricular alone
        [0.7, 0.0, 0.0, 0.30, 0.0, 0.0],   # negative: CRITICAL through 'any' (not counted as subtype-only)
        [0.9, 0.8, 0.0, 0.00, 0.0, 0.0],   # positive, CRITICAL
        [0.3, 0.0, 0.0, 0.00, 0.4, 0.0],   # positive, missed
    ])
    c = appliance_critical(labels, scores, thr)
    assert c == {"negatives": 3, "negatives_critical": 2, "negatives_critical_by_any": 1,
                 "negatives_critical_by_subtypes_only": {"intraventricular": 1},
                 "positives": 2, "positives_critical": 1}
    line = _critical_lines({"appliance_critical": c})[1]
    assert "negatives 2 of 3 (1 through 'any', through subtypes only: intraventricular 1), positives 1 of 2" in line
    assert _critical_lines({}) == []


def test_extra_sets_count_each_distinct_negative_once():
    """Negative real-anatomy sub-series repeat the same real slices once per seed: pooled, one real
    block would outweigh the positives; by kind, each distinct pixel content counts once."""
    from ichtrain.evaluate import positives_and_distinct_negatives
    rng = np.random.default_rng(0)
    block = rng.random((3, 3, 4, 4), dtype=np.float32)
    other = rng.random((3, 3, 4, 4), dtype=np.float32)
    y0 = np.zeros((3, 6), np.float32)
    y1 = y0.copy()
    y1[1, [0, 2]] = 1
    p_bad = np.full((3, 6), 0.9, np.float32)   # the repeated negative block: confidently wrong
    p_ok = np.full((3, 6), 0.1, np.float32)
    p_pos = np.where(y1 > 0, 0.8, 0.2).astype(np.float32)
    # the same block five times, another negative once, one positive
    pixels = [block, block.copy(), block, block, block.astype(np.float64), other, rng.random((3, 3, 4, 4), dtype=np.float32)]
    labels = [y0] * 6 + [y1]
    probs = [p_bad] * 5 + [p_ok, p_pos]
    k = positives_and_distinct_negatives(probs, labels, pixels)
    assert k["positive_series"] == 1 and k["negative_series"] == 6 and k["negative_distinct"] == 2
    assert k["positive_slice_weighted_log_loss"] == pytest.approx(weighted_log_loss(y1, p_pos))
    assert k["negative_distinct_slice_weighted_log_loss"] == pytest.approx(
        weighted_log_loss(np.concatenate([y0, y0]), np.concatenate([p_bad, p_ok])))
    none = positives_and_distinct_negatives([p_ok, p_ok], [y0, y0], [other, other + np.float32(1e-3)])
    assert none["positive_slice_weighted_log_loss"] is None and none["negative_distinct"] == 2  # any change counts
