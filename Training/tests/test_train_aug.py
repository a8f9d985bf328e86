"""The slice augmentation and the temperature scaling fitted on validation (ichtrain.train)."""
import numpy as np
import torch

from ichtrain.model import SequenceHead
from ichtrain.train import _augment, fit_temperature, fold_temperature


def _head_like(n=4, size=64):
    """Bright ring (bone: 1 in every window) around brain-like grey, air outside."""
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2)
    x = np.zeros((n, 3, size, size), np.float32)
    x[:, :, r < size * 0.4] = 1.0
    x[:, 0, r < size * 0.35] = 0.5   # 40 HU in the brain window
    x[:, 1, r < size * 0.35] = 0.3
    x[:, 2, r < size * 0.35] = 0.5
    return torch.from_numpy(x)


def test_augment_is_deterministic_from_the_generator_and_stays_in_range():
    x = _head_like()
    a = _augment(x, torch.Generator().manual_seed(5))
    b = _augment(x, torch.Generator().manual_seed(5))
    c = _augment(x, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and float(a.min()) >= 0 and float(a.max()) <= 1


def test_augment_keeps_air_air_and_brain_near_its_hu():
    x = _head_like(n=16)
    a = _augment(x, torch.Generator().manual_seed(1))
    assert float(a[:, :, 0, 0].abs().max()) == 0          # corners stay air (0 in every window)
    centre = a[:, 0, 28:36, 28:36].mean(dim=(1, 2))        # brain window, 40 HU = 0.5
    assert float((centre - 0.5).abs().max()) < 0.1          # offset +-4 HU, gain about 40 HU, noise averages out


def test_fit_temperature_recovers_an_overconfident_head_and_folds_into_the_graph():
    torch.manual_seed(0)
    seq = SequenceHead(emb_dim=8, pca_dim=4, hidden=4, layers=1).eval()
    seq.set_pca(torch.zeros(8), torch.eye(4, 8))
    with torch.no_grad():
        seq.out.weight.mul_(20)  # logits spread over several units, so T is well determined
    rng = np.random.default_rng(0)
    embs = [rng.normal(size=(10, 8)).astype(np.float32) for _ in range(200)]
    logits = [rng.normal(size=(10, 6)).astype(np.float32) for _ in range(200)]
    with torch.no_grad():
        z = [seq(torch.from_numpy(e), torch.sigmoid(torch.from_numpy(l))).numpy() for e, l in zip(embs, logits)]
    # labels drawn from sigmoid(z / 2): the head's raw logits are twice too confident
    labels = [(rng.random(zz.shape) < 1 / (1 + np.exp(-zz / 2))).astype(np.float32) for zz in z]
    t = fit_temperature(seq, embs, logits, labels)
    assert t.shape == (6,) and np.all((t > 1.6) & (t < 2.5)), t
    fold_temperature(seq, t)
    with torch.no_grad():
        z2 = seq(torch.from_numpy(embs[0]), torch.sigmoid(torch.from_numpy(logits[0]))).numpy()
    np.testing.assert_allclose(z2, z[0] / t, rtol=1e-4, atol=1e-5)
