"""Training as in the paper: slice-level CNN first, then PCA of its embeddings, then the
sequence model (bidirectional LSTM) on the ordered slices of each series."""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .model import Detector, SequenceHead, SliceNet

# RSNA 2019 weights: "any" counts twice.
LABEL_WEIGHTS = torch.tensor([2.0, 1.0, 1.0, 1.0, 1.0, 1.0])


@dataclass
class TrainConfig:
    backbone: str = "small"
    slice_epochs: int = 6
    slice_steps: int = 0        # when > 0: this many optimizer steps (epochs repeat as needed) instead of epochs
    slice_minutes: float = 0.0  # when > 0: train for this wall-clock budget instead (schedule over elapsed time)
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    pca_dim: int = 120
    lstm_hidden: int = 64
    lstm_layers: int = 2
    seq_epochs: int = 30
    seq_lr: float = 2e-3
    seq_residual: bool = False   # sequence head = CNN logit + learned correction (SequenceHead residual)
    seq_logit_noise: float = 0.0  # std of Gaussian noise on the CNN's slice logits while the head trains
    seq_dropout: float = 0.0      # dropout on the PCA features while the head trains
    seq_correction_l2: float = 0.0  # residual head: penalty on the mean squared correction (keeps it near the CNN)
    seed: int = 0
    threads: int = 2
    log_every: int = 50
    val_checks: int = 8         # validation checks during slice training (0: none; the last weights are kept)
    val_rule: str = "data"      # which checkpoint is kept: "data" (lowest validation loss) or "extra-no-worse"
                                # (lowest validation loss among those no worse than the start on the extra validation)
    cam_loss: float = 0.0       # weight of the localisation term (cam_outside_loss) on slices with bleed masks


def weighted_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Weighted multi-label BCE, weights 2 for any, 1 per subtype (the RSNA metric's loss)."""
    bce = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    w = LABEL_WEIGHTS.to(bce)
    return (bce * w).sum(dim=1).mean() / w.sum()


# The three window channels (centre, width in HU) as preprocess.window makes them: intensity
# augmentation works in HU so one scanner offset moves all three channels consistently.
_WINDOWS = torch.tensor([[40.0, 80.0], [80.0, 200.0], [40.0, 380.0]])


def _augment(x: torch.Tensor, gen: torch.Generator, masks: torch.Tensor | None = None):
    """Label-preserving variation per sample, all drawn from `gen` (deterministic):
    left-right flip; a random affine (rotation +-15 deg, scale 0.85-1.15, shift +-8 %; the border
    fills with 0 = air in every window); scanner-like HU gain (+-5 % about 40 HU) and offset (+-4 HU);
    Gaussian noise (0-5 HU); a mild blur for one sample in five. Without these the CNN learnt the
    few real slices it saw by heart and called every other real slice a bleed (model 0.3.0).
    Intensity changes touch only pixels inside a window (0 < v < 1): a clipped pixel's HU is unknown.

    masks [N,L,h,w] (0/1 per label, any resolution): moved by the same flip and affine, returned as
    (x, masks) with masks still 0/1 (a cell the lesion touches after the move counts). They draw
    nothing from `gen`, so x is the same with or without them."""
    n = x.shape[0]
    u = lambda *shape: torch.rand(*shape, generator=gen)  # noqa: E731
    flip = u(n) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    ang = (u(n) * 2 - 1) * math.radians(15)
    scale = 0.85 + 0.30 * u(n)                         # > 1 zooms in
    shift = (u(n, 2) * 2 - 1) * 0.16                   # normalized coordinates span 2: +-8 % of the width
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    x = nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if masks is not None:
        m = torch.where(flip[:, None, None, None], masks.flip(3), masks)
        mgrid = nn.functional.affine_grid(theta, list(m.shape), align_corners=False)
        masks = (nn.functional.grid_sample(m, mgrid, mode="bilinear", padding_mode="zeros", align_corners=False)
                 > 0.25).to(masks.dtype)
    # hu' = 40 + (hu - 40) * gain + offset + noise, in window units per channel c (lo_c, w_c):
    # v' = v * gain + ((lo_c - 40) * gain + 40 - lo_c + offset) / w_c + noise / w_c
    lo, w = (_WINDOWS[:, 0] - _WINDOWS[:, 1] / 2).view(1, 3, 1, 1), _WINDOWS[:, 1].view(1, 3, 1, 1)
    gain = (1 + (u(n) * 2 - 1) * 0.05).view(n, 1, 1, 1)
    offset = ((u(n) * 2 - 1) * 4).view(n, 1, 1, 1)
    sigma = (u(n) * 5).view(n, 1, 1, 1)
    noise = torch.randn(n, 1, x.shape[2], x.shape[3], generator=gen) * sigma  # one field, all windows
    v = torch.addcmul(((lo - 40) * gain + 40 - lo + offset) / w + noise / w, x, gain).clamp_(0, 1)
    x = torch.where((x > 0) & (x < 1), v, x)
    blur = torch.nonzero(u(n) < 0.2).flatten()
    if blur.numel():
        k = torch.tensor([0.25, 0.5, 0.25])
        k2 = (k[:, None] * k[None, :]).expand(3, 1, 3, 3).contiguous()
        xb = nn.functional.conv2d(nn.functional.pad(x[blur], (1, 1, 1, 1), mode="replicate"), k2, groups=3)
        x = x.index_copy(0, blur, xb)
    return x if masks is None else (x, masks)


def label_masks(bits: torch.Tensor) -> torch.Tensor:
    """[N,h,w] uint8 generator bitmasks -> [N,6,h,w] float 0/1 per label in SUBTYPES order: "any" is
    any bit, subtype s is bit s-1 (Subtype.maskBit)."""
    b = bits.to(torch.int32)
    per = [(b >> k) & 1 for k in range(5)]
    return torch.stack([(b != 0).to(torch.int32)] + per, dim=1).float()


def cam_outside_loss(features: torch.Tensor, head_weight: torch.Tensor, target: torch.Tensor,
                     masks: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The localisation term: for every (slice, label) with the label present and its mask non-empty,
    the share of softmax(CAM) over the feature grid that falls outside the mask's cells; mean over
    those pairs (0 and 0 pairs when there are none).

    CAM_l = sum_k w_lk A_k is the appliance's map before ReLU (the slice head's row l over the last
    feature map A), and the appliance shows its peak cell; softmax over the cells is a differentiable
    stand-in for "the peak cell lies on the lesion" (docs/model.md: fine-tuned CNNs moved their peaks
    off the lesion, most on intraventricular blood). masks [N,6,H,W] 0/1, max-pooled to the grid."""
    cam, m, pairs = _cams_on_masks(features, head_weight, target, masks)
    n = int(pairs.sum())
    if n == 0:
        return features.new_zeros(()), 0
    inside = (torch.softmax(cam, dim=2) * m).sum(dim=2)
    return ((1 - inside) * pairs).sum() / n, n


def _cams_on_masks(features: torch.Tensor, head_weight: torch.Tensor, target: torch.Tensor,
                   masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per slice and label over the feature grid's cells: the CAM [N,6,h*w], the label's mask pooled
    to the grid [N,6,h*w], and which (slice, label) pairs count [N,6] (label present, mask non-empty)."""
    m = nn.functional.adaptive_max_pool2d(masks, features.shape[-2:]).flatten(2)
    pairs = (target > 0.5) & (m.sum(dim=2) > 0)
    cam = torch.einsum("nchw,lc->nlhw", features, head_weight).flatten(2)
    return cam, m, pairs


def one_cycle_lr(max_lr: float, progress: float, warmup: float = 0.15) -> float:
    """The one-cycle shape over progress in [0,1]: linear warm-up from max/25, then cosine down to ~0."""
    if progress < warmup:
        return max_lr * (0.04 + 0.96 * progress / warmup)
    return max_lr * (1e-4 + (1 - 1e-4) * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup)))))


def choose_checkpoint(history: list[dict], rule: str) -> int:
    """Index into history of the checkpoint to keep. Each entry has "val_weighted_log_loss" (DATA's
    validation split) and, with an extra validation set, "extra_val_weighted_log_loss".

    "data": the lowest DATA validation loss (ties: the earliest).
    "extra-no-worse": the lowest DATA validation loss among the checkpoints whose extra validation
    loss is no higher than the first entry's (the starting weights, measured before any step). Made
    for fine-tuning on synthetic data while guarding a small real-anatomy set: procedural validation
    keeps improving while the real-anatomy loss, after a first improvement, grows (docs/model.md,
    "Candidates 0.6.0"); this keeps the most-trained weights that have not lost ground on real anatomy."""
    if not history:
        raise ValueError("no validation checks were made")
    if rule == "data":
        ok = range(len(history))
    elif rule == "extra-no-worse":
        if "extra_val_weighted_log_loss" not in history[0]:
            raise ValueError("val rule extra-no-worse needs an extra validation set")
        start = history[0]["extra_val_weighted_log_loss"]
        ok = [i for i, h in enumerate(history) if h["extra_val_weighted_log_loss"] <= start]
    else:
        raise ValueError(f"unknown val rule {rule!r} (data, extra-no-worse)")
    return min(ok, key=lambda i: (history[i]["val_weighted_log_loss"], i))


def _val_loss(net: SliceNet, x: torch.Tensor, y: torch.Tensor, batch: int = 64) -> float:
    """Slice weighted log loss (the RSNA metric) on held-in validation slices, eval mode."""
    return _val_measures(net, x, y, None, batch)[0]


@torch.no_grad()
def _val_measures(net: SliceNet, x: torch.Tensor, y: torch.Tensor, bits: torch.Tensor | None,
                  batch: int = 64) -> tuple[float, float | None]:
    """(slice weighted log loss, CAM peak rate) in one pass, eval mode. The CAM peak rate (with bleed
    bitmasks `bits`): the share of (slice, present label) pairs with a non-empty mask whose CAM peak
    cell lies on that label's mask, over every positive slice (not only the appliance's key slices);
    None without masks or pairs."""
    net.eval()
    total, on, pairs_n = 0.0, 0, 0
    for k in range(0, x.shape[0], batch):
        xb = x[k:k + batch].float().contiguous(memory_format=torch.channels_last)
        yb = y[k:k + batch]
        logits, _, f = net(xb)
        total += float(weighted_bce(logits, yb)) * xb.shape[0]
        if bits is not None:
            cam, m, pairs = _cams_on_masks(f, net.head.weight, yb, label_masks(bits[k:k + batch]))
            on += int((m.gather(2, cam.argmax(dim=2, keepdim=True)).squeeze(2) > 0)[pairs].sum())
            pairs_n += int(pairs.sum())
    net.train()
    return total / max(x.shape[0], 1), (on / pairs_n if pairs_n else None)


def train_slices(pixels: list[np.ndarray], labels: list[np.ndarray], cfg: TrainConfig, log=print,
                 val_pixels: list[np.ndarray] | None = None, val_labels: list[np.ndarray] | None = None,
                 init: dict | None = None, extra_val_pixels: list[np.ndarray] | None = None,
                 extra_val_labels: list[np.ndarray] | None = None, masks: list[np.ndarray] | None = None,
                 val_masks: list[np.ndarray] | None = None) -> SliceNet:
    """pixels: per series [S,3,256,256] (float16 or float32); labels: per series [S,6].

    The length is --slice-steps, or --slice-epochs, or (slice_minutes > 0) a wall-clock budget: then
    the one-cycle schedule runs over elapsed time, so training ends on time however busy the shared
    CPU is; the number of steps it reached is logged and kept in `net.steps_taken`.

    With validation slices, their weighted log loss is measured cfg.val_checks times along the way
    (and at the end) and the weights with the lowest one are kept (`net.val_history`): the
    validation split only picks the checkpoint, it is never trained on.

    init: a SliceNet state dict to start from (fine-tuning an earlier run's CNN on more data); the
    starting weights are measured on validation first, so they are kept if training never beats them.

    extra_val_*: a second validation set (e.g. bleeds inserted into real slices the CNN never trains
    on), measured at every check and recorded; with cfg.val_rule "extra-no-worse" it restricts which
    checkpoint may be kept (choose_checkpoint). It is never trained on either.

    masks / val_masks: per series [S,g,g] uint8 pooled bleed bitmasks (data.load_series_masks; zeros
    where a slice has none). With cfg.cam_loss > 0 the loss adds cfg.cam_loss * cam_outside_loss on
    the training slices; with val_masks every check also records where the CAM peaks on validation
    ("val_cam_peak_on_mask"), which the checkpoint rules do not use.

    The slices live in one float16 tensor (no per-step stacking of numpy arrays) and the network
    runs channels-last (about 25 % faster per step on x86 CPUs); neither changes the model."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    net = SliceNet(cfg.backbone).to(memory_format=torch.channels_last)
    if init is not None:
        net.load_state_dict(init)
    X = torch.from_numpy(np.concatenate([np.asarray(p, dtype=np.float16) for p in pixels]))
    Y = torch.from_numpy(np.concatenate(labels).astype(np.float32))
    have_val = val_pixels is not None and len(val_pixels) > 0 and cfg.val_checks > 0
    if have_val:
        Xv = torch.from_numpy(np.concatenate([np.asarray(p, dtype=np.float16) for p in val_pixels]))
        Yv = torch.from_numpy(np.concatenate(val_labels).astype(np.float32))
    have_extra = have_val and extra_val_pixels is not None and len(extra_val_pixels) > 0
    if have_extra:
        Xe = torch.from_numpy(np.concatenate([np.asarray(p, dtype=np.float16) for p in extra_val_pixels]))
        Ye = torch.from_numpy(np.concatenate(extra_val_labels).astype(np.float32))
    if cfg.cam_loss > 0:
        if masks is None or len(masks) != len(pixels):
            raise ValueError("cam_loss needs a bleed mask array per training series (masks)")
        M = torch.from_numpy(np.concatenate(masks))
        if M.shape[0] != X.shape[0]:
            raise ValueError(f"masks cover {M.shape[0]} slices, the training series {X.shape[0]}")
    have_val_masks = have_val and val_masks is not None and len(val_masks) == len(val_pixels)
    if have_val_masks:
        Mv = torch.from_numpy(np.concatenate(val_masks))
    if cfg.val_rule == "extra-no-worse" and not (have_extra and init is not None):
        raise ValueError("val rule extra-no-worse needs validation slices, an extra validation set and starting "
                         "weights (init): it compares each checkpoint with the start")
    n = X.shape[0]
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    timed = cfg.slice_minutes > 0
    total = cfg.slice_steps if cfg.slice_steps > 0 else steps_per_epoch * cfg.slice_epochs
    epochs = 10 ** 6 if timed else math.ceil(total / steps_per_epoch)
    budget = cfg.slice_minutes * 60
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = None if timed else torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(total, 1),
                                                                   pct_start=0.15)
    history, states = [], []
    next_check = 1

    def progress():
        return (time.time() - t0) / budget if timed else step / max(total, 1)

    def check():
        v, pk = _val_measures(net, Xv, Yv, Mv if have_val_masks else None)
        entry = {"step": step, "seconds": round(time.time() - t0, 1), "val_weighted_log_loss": v}
        msg = f"validation after {step} steps: slice weighted log loss {v:.4f}"
        if have_extra:
            entry["extra_val_weighted_log_loss"] = ve = _val_loss(net, Xe, Ye)
            msg += f", extra validation {ve:.4f}"
        if have_val_masks:
            entry["val_cam_peak_on_mask"] = pk
            if pk is not None:
                msg += f", CAM peak on the mask {100 * pk:.1f} %"
        history.append(entry)
        states.append(copy.deepcopy(net.state_dict()))
        # a checkpoint that loses now loses for good (its losses and the start are fixed): keep only
        # the current choice's weights (ResNeXt-101: 350 MB each)
        k = choose_checkpoint(history, cfg.val_rule)
        states[:] = [w if i == k else None for i, w in enumerate(states)]
        log(msg)

    step, t0 = 0, time.time()
    if init is not None and have_val:
        check()
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(n, generator=gen)
        run, done, run_cam = 0.0, 0, 0.0
        for b in range(steps_per_epoch):
            if (time.time() - t0 >= budget) if timed else (step >= total):
                break
            if timed:
                for g in opt.param_groups:
                    g["lr"] = one_cycle_lr(cfg.lr, (time.time() - t0) / budget)
            idx = perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            if len(idx) < 2:
                continue  # BatchNorm needs more than one sample
            if cfg.cam_loss > 0:
                x, m = _augment(X[idx].float(), gen, label_masks(M[idx]))
                logits, _, f = net(x.contiguous(memory_format=torch.channels_last))
                cam_term, _ = cam_outside_loss(f, net.head.weight, Y[idx], m)
                loss = weighted_bce(logits, Y[idx]) + cfg.cam_loss * cam_term
                run_cam += float(cam_term.detach())
            else:
                x = _augment(X[idx].float(), gen).contiguous(memory_format=torch.channels_last)
                logits, _, _ = net(x)
                loss = weighted_bce(logits, Y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            step += 1
            run += float(loss.detach())
            done += 1
            if step % cfg.log_every == 0:
                log(f"slice epoch {epoch + 1} step {step}/{'(time budget)' if timed else total} "
                    f"loss {run / done:.4f}{f' (CAM term {run_cam / done:.3f})' if cfg.cam_loss > 0 else ''} lr {opt.param_groups[0]['lr']:.2e} ({time.time() - t0:.0f}s)")
            if have_val and progress() >= next_check / cfg.val_checks:
                next_check += 1
                check()
        log(f"slice epoch {epoch + 1} done: mean loss {run / max(done, 1):.4f}")
        if timed and time.time() - t0 >= budget:
            break
    log(f"slice training: {step} steps of {cfg.batch_size} slices in {time.time() - t0:.0f}s")
    if have_val:
        if not history or history[-1]["step"] != step:
            check()
        k = choose_checkpoint(history, cfg.val_rule)
        net.load_state_dict(states[k])
        kept = history[k]
        log(f"kept the weights after {kept['step']} steps (rule {cfg.val_rule}: validation slice weighted log loss "
            f"{kept['val_weighted_log_loss']:.4f}"
            + (f", extra validation {kept['extra_val_weighted_log_loss']:.4f}" if have_extra else "") + ")")
    net.steps_taken = step
    net.kept_step = history[k]["step"] if have_val else step
    net.val_history = history
    return net.to(memory_format=torch.contiguous_format).eval()


@torch.no_grad()
def slice_outputs(net: SliceNet, pixels: np.ndarray, batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """One series -> (slice logits [S,6], embeddings [S,C]) in eval mode."""
    net.eval()
    lo, em = [], []
    for k in range(0, pixels.shape[0], batch):
        logits, e, _ = net(torch.from_numpy(pixels[k:k + batch].astype(np.float32)))
        lo.append(logits.numpy())
        em.append(e.numpy())
    return np.concatenate(lo), np.concatenate(em)


def fit_pca(embeddings: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """PCA by SVD (numpy): -> mean [C], components [k,C] (zero rows if fewer than k exist)."""
    mean = embeddings.mean(axis=0)
    _, _, vt = np.linalg.svd(embeddings - mean, full_matrices=False)
    comps = np.zeros((k, embeddings.shape[1]), dtype=np.float64)
    n = min(k, vt.shape[0])
    comps[:n] = vt[:n]
    return mean.astype(np.float32), comps.astype(np.float32)


def train_sequence(embs: list[np.ndarray], logits: list[np.ndarray], labels: list[np.ndarray],
                   mean: np.ndarray, comps: np.ndarray, cfg: TrainConfig, log=print) -> SequenceHead:
    """The LSTM on fixed CNN outputs, one series per step.

    Against a head that trusts the CNN blindly (its outputs on slices it trained on are confident and
    right, on unseen anatomy they are not): cfg.seq_logit_noise perturbs the slice logits it sees,
    cfg.seq_dropout drops PCA features, and the residual head (cfg.seq_residual) starts as the CNN
    with cfg.seq_correction_l2 pulling its correction towards zero."""
    torch.manual_seed(cfg.seed + 1)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    seq = SequenceHead(emb_dim=comps.shape[1], pca_dim=cfg.pca_dim, hidden=cfg.lstm_hidden, layers=cfg.lstm_layers,
                       residual=cfg.seq_residual)
    seq.set_pca(torch.from_numpy(mean), torch.from_numpy(comps))
    z = [seq.pca(torch.from_numpy(e)).detach() for e in embs]
    lg = [torch.from_numpy(l).float() for l in logits]
    y = [torch.from_numpy(l.astype(np.float32)) for l in labels]
    params = [q for q in seq.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.seq_lr, weight_decay=cfg.weight_decay)
    total = cfg.seq_epochs * len(z)
    if total == 0:  # no training: a residual head is then the CNN itself (temperature still fitted)
        return seq.eval()
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.seq_lr, total_steps=max(total, 1),
                                                pct_start=max(0.1, 3 / max(total, 1)))  # >= 2 warm-up steps
    seq.train()
    for epoch in range(cfg.seq_epochs):
        run = 0.0
        for i in torch.randperm(len(z), generator=gen).tolist():
            li = lg[i] + cfg.seq_logit_noise * torch.randn(lg[i].shape, generator=gen) if cfg.seq_logit_noise else lg[i]
            zi = z[i]
            if cfg.seq_dropout:
                keep = (torch.rand(zi.shape, generator=gen) >= cfg.seq_dropout).float()
                zi = zi * keep / (1 - cfg.seq_dropout)
            out = seq.forward_features(zi, torch.sigmoid(li), li)
            loss = weighted_bce(out, y[i])
            if seq.skip is not None and cfg.seq_correction_l2:
                loss = loss + cfg.seq_correction_l2 * (out - seq.skip(li)).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            run += float(loss.detach())
        if (epoch + 1) % 5 == 0 or epoch == cfg.seq_epochs - 1:
            log(f"sequence epoch {epoch + 1}/{cfg.seq_epochs}: mean loss {run / max(len(z), 1):.4f}")
    return seq.eval()


@torch.no_grad()
def fit_temperature(seq: SequenceHead, embs: list[np.ndarray], logits: list[np.ndarray], labels: list[np.ndarray],
                    grid=np.exp(np.linspace(np.log(0.5), np.log(4.0), 85))) -> np.ndarray:
    """Temperature scaling per output (Guo et al. 2017), fitted on VALIDATION series: the T_k that
    minimizes the log loss of sigmoid(z_k / T_k) over validation slices, z = the sequence head's
    logits. The weighted log loss is a sum over outputs, so per-output T minimizes it too.
    Monotone: no ranking (AUC) changes, only how confident the probabilities are."""
    seq.eval()
    z = np.concatenate([seq(torch.from_numpy(e), torch.sigmoid(torch.from_numpy(l)), torch.from_numpy(l)).numpy()
                        for e, l in zip(embs, logits)]).astype(np.float64)
    y = np.concatenate(labels).astype(np.float64)
    best = np.ones(z.shape[1])
    for k in range(z.shape[1]):
        losses = [np.mean(np.logaddexp(0, zz) - y[:, k] * zz) for zz in (z[:, k][None, :] / grid[:, None])]
        best[k] = grid[int(np.argmin(losses))]
    return best


@torch.no_grad()
def fold_temperature(seq: SequenceHead, temperature: np.ndarray) -> SequenceHead:
    """Divide the final linear layer's rows by T_k: the exported graph then outputs sigmoid(z / T)."""
    t = torch.as_tensor(temperature, dtype=seq.out.weight.dtype)
    seq.out.weight.div_(t[:, None])
    seq.out.bias.div_(t)
    if seq.skip is not None:
        seq.skip.weight.div_(t[:, None])
        seq.skip.bias.div_(t)
    return seq


def build_detector(net: SliceNet, seq: SequenceHead) -> Detector:
    return Detector(net, seq).eval()
