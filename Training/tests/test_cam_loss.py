"""Training on the generator's bleed masks: reading them (ichtrain.data), moving them with the
augmentation, and the Grad-CAM localisation term (ichtrain.train.cam_outside_loss, --cam-loss)."""
import os

import numpy as np
import pytest
import torch

from ichtrain.data import Series, SliceRef, load_series_masks, pool_mask_bits
from ichtrain.train import (TrainConfig, _augment, _val_measures, cam_outside_loss, label_masks, train_slices)


def _reference_pool(mask, grid):
    R, C = mask.shape
    out = np.zeros((grid, grid), np.uint8)
    for r in range(R):
        for c in range(C):
            out[r * grid // R, c * grid // C] |= mask[r, c]
    return out


def test_pool_mask_bits_ors_each_cells_pixels():
    m = np.zeros((512, 512), np.uint8)
    m[100, 200] = 4          # intraventricular
    m[101, 201] |= 16        # subdural in the same cell
    m[511, 0] = 1            # epidural in the corner
    p = pool_mask_bits(m, 64)
    assert p.shape == (64, 64) and p[12, 25] == 20 and p[63, 0] == 1 and np.count_nonzero(p) == 2
    rng = np.random.default_rng(0)
    odd = (rng.random((100, 70)) < 0.01).astype(np.uint8) * rng.integers(1, 32, (100, 70), dtype=np.uint8)
    np.testing.assert_array_equal(pool_mask_bits(odd, 16), _reference_pool(odd, 16))  # not a multiple of the grid
    np.testing.assert_array_equal(pool_mask_bits(m, 64), _reference_pool(m, 64))


def test_load_series_masks_follows_slice_order_and_knows_when_there_are_none(tmp_path):
    folder = tmp_path / "series-000000"
    refs = [SliceRef(str(folder / f"{k}.dcm"), f"1.2.{k}", "1.2", (0, 0, k), (1, 0, 0, 0, 1, 0), k + 1) for k in range(3)]
    s = Series("1.2", refs)
    assert load_series_masks(s) is None  # no masks/ folder: RSNA data
    os.makedirs(tmp_path / "masks")
    m = np.zeros((512, 512), np.uint8)
    m[0:8, 8:16] = 2
    np.save(tmp_path / "masks" / "1.2.1.npy", m)
    out = load_series_masks(s)
    assert out.shape == (3, 64, 64) and out.dtype == np.uint8
    assert not out[0].any() and not out[2].any() and out[1, 0, 1] == 2 and np.count_nonzero(out[1]) == 1


def test_label_masks_splits_the_generator_bits_in_subtype_order():
    bits = torch.tensor([[[0b10101, 0]]], dtype=torch.uint8)  # epidural, intraventricular, subdural
    m = label_masks(bits)
    assert m.shape == (1, 6, 1, 2)
    assert m[0, :, 0, 0].tolist() == [1, 1, 0, 1, 0, 1] and m[0, :, 0, 1].tolist() == [0] * 6


def _square(n=8, size=64, at=(10, 30), side=12):
    x = torch.zeros(n, 3, size, size)
    x[:, :, at[0]:at[0] + side, at[1]:at[1] + side] = 1.0
    m = torch.zeros(n, 6, size // 2, size // 2)
    m[:, :2, at[0] // 2:(at[0] + side) // 2, at[1] // 2:(at[1] + side) // 2] = 1.0
    return x, m


def test_augment_moves_masks_with_the_image_and_leaves_the_image_as_without_them():
    x, m = _square()
    plain = _augment(x, torch.Generator().manual_seed(3))
    xa, ma = _augment(x, torch.Generator().manual_seed(3), m)
    assert torch.equal(plain, xa)
    assert set(torch.unique(ma).tolist()) <= {0.0, 1.0} and not ma[:, 2:].any()
    bright = nn_pool(xa[:, 0:1] > 0.5)  # where the square went, at the mask's resolution
    for k in range(x.shape[0]):
        inter = float((bright[k, 0] & (ma[k, 0] > 0)).sum())
        union = float((bright[k, 0] | (ma[k, 0] > 0)).sum())
        assert inter / union > 0.6, (k, inter, union)


def nn_pool(b):
    return torch.nn.functional.max_pool2d(b.float(), 2) > 0


def test_cam_outside_loss_is_low_on_the_mask_high_off_it_and_has_a_gradient():
    w = torch.zeros(6, 2)
    w[0, 0] = 1.0  # "any" reads channel 0
    target = torch.zeros(1, 6)
    target[0, 0] = 1
    mask = torch.zeros(1, 6, 4, 4)
    mask[0, 0, 1, 1] = 1
    f = torch.zeros(1, 2, 4, 4)
    f[0, 0, 1, 1] = 10.0
    on, n = cam_outside_loss(f, w, target, mask)
    assert n == 1 and float(on) < 0.01
    f2 = torch.zeros(1, 2, 4, 4, requires_grad=True)
    with torch.no_grad():
        f2[0, 0, 3, 3] = 10.0
    off, _ = cam_outside_loss(f2, w, target, mask)
    assert float(off.detach()) > 0.99
    flat, _ = cam_outside_loss(torch.zeros(1, 2, 4, 4), w, target, mask)
    assert float(flat) == pytest.approx(15 / 16)
    off.backward()
    assert f2.grad[0, 0, 1, 1] < 0  # raising the masked cell lowers the term
    # no present label with a mask: no pairs, zero
    z, n0 = cam_outside_loss(f, w, torch.zeros(1, 6), mask)
    assert n0 == 0 and float(z) == 0


def _shortcut_set(rng, n, size=128):
    """Slices with a faint lesion square (the label) at a random place; on positives also a bright
    bar in the top-left corner, an easier cue that says the same thing. Masks mark the lesion only."""
    x = np.zeros((n, 3, size, size), np.float32)
    x[:, :, 16:112, 16:112] = 0.3
    y = np.zeros((n, 6), np.float32)
    bits = np.zeros((n, 64, 64), np.uint8)
    for i in range(n):
        if i % 2:
            r, c = rng.integers(40, 88, 2)
            x[i, :, r:r + 12, c:c + 12] = 0.45
            x[i, :, 0:8, 0:48] = 1.0
            y[i, 0] = y[i, 2] = 1
            bits[i, r // 2:(r + 12) // 2, c // 2:(c + 12) // 2] = 2
    return x, y, bits


def test_the_term_moves_the_cam_peak_onto_the_lesion():
    """Trained without the term, the CNN may look at the bar; with it, the peaks go to the lesion (the
    rate on validation slices is measured by _val_measures, as each validation check records it)."""
    rng = np.random.default_rng(0)
    tx, ty, tm = _shortcut_set(rng, 64)
    vx, vy, vm = _shortcut_set(rng, 32)
    rates = {}
    for w in (0.0, 2.0):
        cfg = TrainConfig(backbone="narrow", slice_steps=60, batch_size=16, lr=3e-3, val_checks=2, log_every=1000,
                          cam_loss=w)
        net = train_slices([tx], [ty], cfg, log=lambda m: None, val_pixels=[vx], val_labels=[vy],
                           masks=[tm] if w else None, val_masks=[vm])
        assert all("val_cam_peak_on_mask" in h for h in net.val_history)
        loss, rate = _val_measures(net.to(memory_format=torch.channels_last), torch.from_numpy(vx),
                                   torch.from_numpy(vy), torch.from_numpy(vm))
        assert rate == pytest.approx(net.val_history[net.val_history.index(
            next(h for h in net.val_history if h["step"] == net.kept_step))]["val_cam_peak_on_mask"])
        rates[w] = rate
    print("CAM peak on the lesion, without and with the term:", rates)
    assert rates[2.0] >= 0.8 and rates[2.0] > rates[0.0] + 0.2, rates


def test_cam_loss_needs_masks_for_every_training_slice():
    rng = np.random.default_rng(1)
    x, y, m = _shortcut_set(rng, 4, size=64)
    cfg = TrainConfig(backbone="narrow", slice_steps=1, batch_size=4, cam_loss=1.0, val_checks=0)
    with pytest.raises(ValueError, match="bleed mask array per training series"):
        train_slices([x], [y], cfg, log=lambda s: None)
    with pytest.raises(ValueError, match="masks cover 3 slices"):
        train_slices([x], [y], cfg, log=lambda s: None, masks=[m[:3]])
