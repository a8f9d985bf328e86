"""Which slice-training checkpoint is kept (ichtrain.train.choose_checkpoint, train_slices)."""
import numpy as np
import pytest
import torch

from ichtrain.train import TrainConfig, _val_loss, choose_checkpoint, train_slices


def _h(step, val, extra=None):
    d = {"step": step, "seconds": float(step), "val_weighted_log_loss": val}
    if extra is not None:
        d["extra_val_weighted_log_loss"] = extra
    return d


def test_data_rule_keeps_lowest_validation_earliest_on_ties():
    hist = [_h(0, 0.3), _h(1, 0.2), _h(2, 0.1), _h(3, 0.1)]
    assert choose_checkpoint(hist, "data") == 2


def test_extra_no_worse_skips_checkpoints_that_lost_ground_on_the_extra_set():
    # procedural validation keeps falling; the extra (real-anatomy) loss first falls, then rises past the start
    hist = [_h(0, 0.13, 0.43), _h(1, 0.10, 0.35), _h(2, 0.08, 0.40), _h(3, 0.07, 0.44), _h(4, 0.06, 0.50)]
    assert choose_checkpoint(hist, "data") == 4
    assert choose_checkpoint(hist, "extra-no-worse") == 2
    # equal to the start counts as no worse; when every later one is worse the start itself is kept
    assert choose_checkpoint(hist[:3] + [_h(3, 0.07, 0.43)], "extra-no-worse") == 3
    assert choose_checkpoint([_h(0, 0.13, 0.43), _h(1, 0.10, 0.45)], "extra-no-worse") == 0


def test_rule_errors():
    with pytest.raises(ValueError, match="extra validation set"):
        choose_checkpoint([_h(0, 0.1)], "extra-no-worse")
    with pytest.raises(ValueError, match="unknown val rule"):
        choose_checkpoint([_h(0, 0.1, 0.1)], "mean")
    with pytest.raises(ValueError, match="no validation checks"):
        choose_checkpoint([], "data")


def _series(rng, n, s=4, size=48):
    x = [rng.random((s, 3, size, size), dtype=np.float32) for _ in range(n)]
    y = [(rng.random((s, 6)) < 0.3).astype(np.float32) for _ in range(n)]
    return x, y


def test_train_slices_keeps_the_chosen_checkpoints_weights():
    rng = np.random.default_rng(0)
    tx, ty = _series(rng, 6)
    vx, vy = _series(rng, 2)
    ex, ey = _series(rng, 2)
    cfg = TrainConfig(backbone="narrow", slice_steps=6, batch_size=4, val_checks=3, lr=5e-2,
                      val_rule="extra-no-worse", log_every=1000)
    from ichtrain.model import SliceNet
    init = SliceNet("narrow").state_dict()
    net = train_slices(tx, ty, cfg, log=lambda m: None, val_pixels=vx, val_labels=vy, init=init,
                       extra_val_pixels=ex, extra_val_labels=ey)
    hist = net.val_history
    assert hist[0]["step"] == 0 and hist[-1]["step"] == 6 and all("extra_val_weighted_log_loss" in h for h in hist)
    k = choose_checkpoint(hist, "extra-no-worse")
    assert k < len(hist) - 1  # (lr 5e-2 on noise: later checkpoints are worse) so the kept weights are not the last
    assert net.kept_step == hist[k]["step"]
    # the returned weights are that checkpoint's: both losses measured again match the record
    X = lambda xs: torch.from_numpy(np.concatenate(xs).astype(np.float16))  # noqa: E731
    Y = lambda ys: torch.from_numpy(np.concatenate(ys))  # noqa: E731
    net = net.to(memory_format=torch.channels_last)
    assert _val_loss(net, X(vx), Y(vy)) == pytest.approx(hist[k]["val_weighted_log_loss"], rel=1e-4)
    assert _val_loss(net, X(ex), Y(ey)) == pytest.approx(hist[k]["extra_val_weighted_log_loss"], rel=1e-4)


def test_extra_no_worse_needs_starting_weights_and_extra_set():
    rng = np.random.default_rng(1)
    tx, ty = _series(rng, 2)
    cfg = TrainConfig(backbone="narrow", slice_steps=1, batch_size=4, val_rule="extra-no-worse")
    with pytest.raises(ValueError, match="starting weights"):
        train_slices(tx, ty, cfg, log=lambda m: None, val_pixels=tx, val_labels=ty, extra_val_pixels=tx,
                     extra_val_labels=ty)
