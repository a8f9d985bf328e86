"""The detector (after Burduja, Ionescu & Verga, Sensors 2020), sized for ARM boxes by default.

SliceNet: CNN backbone -> last conv feature map -> global average pool -> embedding -> Gemm -> 6 logits.
SequenceHead: PCA-120 (a fixed linear layer) of the embedding, concatenated with the 6 slice
probabilities -> bidirectional LSTM over the ordered slices -> concatenated again with the slice
probabilities -> Linear -> 6 logits per slice.
Detector: both in one module, the graph exported to ONNX.
"""
from __future__ import annotations

import torch
from torch import nn

N_OUT = 6


def _conv_bn(cin, cout, k=3, stride=1, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = _conv_bn(cin, cout, 3, stride)
        self.c2 = _conv_bn(cout, cout, 3, 1)
        self.relu = nn.ReLU()
        self.proj = _conv_bn(cin, cout, 1, stride) if (stride != 1 or cin != cout) else None

    def forward(self, x):
        y = self.c2(self.relu(self.c1(x)))
        return self.relu(y + (self.proj(x) if self.proj is not None else x))


class SmallResNet(nn.Module):
    """Small ResNet: about 0.27 GMAC per 256x256 slice; output [N,256,8,8]. `depth` BasicBlocks per
    stage (the first one strided); blocks[stage * depth + j] is block j of a stage."""

    def __init__(self, widths=(32, 64, 128, 256), depth=1):
        super().__init__()
        self.stem = nn.Sequential(_conv_bn(3, 16, 3, 2), nn.ReLU(), _conv_bn(16, widths[0], 3, 2), nn.ReLU())
        blocks, cin = [], widths[0]
        for i, w in enumerate(widths):
            for j in range(depth):
                blocks.append(BasicBlock(cin, w, 2 if (i > 0 and j == 0) else 1))
                cin = w
        self.blocks = nn.Sequential(*blocks)
        self.depth = depth
        self.out_channels = widths[-1]

    def forward(self, x):
        return self.blocks(self.stem(x))


class Bottleneck(nn.Module):
    def __init__(self, cin, width, cout, stride, groups):
        super().__init__()
        self.c1 = _conv_bn(cin, width, 1)
        self.c2 = _conv_bn(width, width, 3, stride, groups)
        self.c3 = _conv_bn(width, cout, 1)
        self.relu = nn.ReLU()
        self.proj = _conv_bn(cin, cout, 1, stride) if (stride != 1 or cin != cout) else None

    def forward(self, x):
        y = self.c3(self.relu(self.c2(self.relu(self.c1(x)))))
        return self.relu(y + (self.proj(x) if self.proj is not None else x))


class ResNeXt(nn.Module):
    """ResNeXt-101 32x8d (the paper's backbone; about 16 GMAC per 224x224 image, 2048-d output)."""

    def __init__(self, layers=(3, 4, 23, 3), groups=32, width_per_group=8):
        super().__init__()
        self.stem = nn.Sequential(_conv_bn(3, 64, 7, 2), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        blocks, cin = [], 64
        for i, n in enumerate(layers):
            planes = 64 * 2 ** i
            width = planes * width_per_group * groups // 64
            for j in range(n):
                blocks.append(Bottleneck(cin, width, planes * 4, 2 if (j == 0 and i > 0) else 1, groups))
                cin = planes * 4
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = cin

    def forward(self, x):
        return self.blocks(self.stem(x))


class NarrowResNet(SmallResNet):
    """SmallResNet at half the width (16/32/64/128 channels): about 0.08 GMAC per 256x256 slice,
    output [N,128,8,8]. The shipped default: training it fits a session on 2 shared CPU cores."""

    def __init__(self):
        super().__init__(widths=(16, 32, 64, 128))


class Narrow2ResNet(SmallResNet):
    """NarrowResNet with two blocks per stage: about 0.15 GMAC per slice. Grown from a trained
    NarrowResNet by `grow_depth`, so a longer training can start from the shipped CNN."""

    def __init__(self):
        super().__init__(widths=(16, 32, 64, 128), depth=2)


BACKBONES = {"small": SmallResNet, "narrow": NarrowResNet, "narrow2": Narrow2ResNet, "resnext101_32x8d": ResNeXt}


def grow_depth(src: dict, dst: "SliceNet") -> dict:
    """A state dict for `dst` (a SmallResNet-family SliceNet with more blocks per stage) that
    computes what `src` (the same family, fewer blocks) computes: each stage's first blocks are
    src's, and an added block starts as the identity. Its last BatchNorm has scale and shift zero,
    so the block gives relu(0 + x) = x: x is the previous block's ReLU output, never negative.
    (Zero-initialized residual branches, as in Goyal et al. 2017; training then grows them.)"""
    out = dict(dst.state_dict())
    bb = dst.backbone
    n_src = len({int(k.split(".")[2]) for k in src if k.startswith("backbone.blocks.")})
    stages = len(bb.blocks) // bb.depth
    src_depth = n_src // stages
    if src_depth < 1 or src_depth > bb.depth or src_depth * stages != n_src:
        raise ValueError(f"cannot grow {n_src} blocks into {len(bb.blocks)} ({bb.depth} per stage)")
    for k, v in src.items():
        if not k.startswith("backbone.blocks."):
            if k not in out or out[k].shape != v.shape:
                raise ValueError(f"{k}: not in the grown network or another shape")
            out[k] = v.clone()
            continue
        parts = k.split(".")
        i = int(parts[2])
        stage, j = divmod(i, src_depth)
        parts[2] = str(stage * bb.depth + j)
        k2 = ".".join(parts)
        if out[k2].shape != v.shape:
            raise ValueError(f"{k}: another shape than {k2} of the grown network")
        out[k2] = v.clone()
    for stage in range(stages):
        for j in range(src_depth, bb.depth):
            bn = f"backbone.blocks.{stage * bb.depth + j}.c2.1"
            out[bn + ".weight"].zero_()
            out[bn + ".bias"].zero_()
    return out


class SliceNet(nn.Module):
    def __init__(self, backbone="small"):
        super().__init__()
        self.backbone = BACKBONES[backbone]()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.head = nn.Linear(self.backbone.out_channels, N_OUT)

    def forward(self, x):
        """-> (logits [N,6], embedding [N,C], feature map [N,C,h,w])."""
        f = self.backbone(x)
        e = self.flatten(self.pool(f))
        return self.head(e), e, f


class SequenceHead(nn.Module):
    """residual=True: logits = skip(slice logits) + out(...), skip a fixed identity Linear (a Gemm in
    the graph, so temperature scaling folds into it) and out zero at the start: the head begins as
    the CNN and learns only a correction to it (candidate d, docs/model.md)."""

    def __init__(self, emb_dim, pca_dim=120, hidden=64, layers=2, residual=False):
        super().__init__()
        self.pca = nn.Linear(emb_dim, pca_dim)  # fixed: set from the SVD, not trained
        self.pca.requires_grad_(False)
        self.lstm = nn.LSTM(pca_dim + N_OUT, hidden, num_layers=layers, bidirectional=True)
        self.out = nn.Linear(2 * hidden + N_OUT, N_OUT)
        self.skip = None
        if residual:
            self.skip = nn.Linear(N_OUT, N_OUT)
            with torch.no_grad():
                self.skip.weight.copy_(torch.eye(N_OUT))
                self.skip.bias.zero_()
                self.out.weight.zero_()
                self.out.bias.zero_()
            self.skip.requires_grad_(False)

    def set_pca(self, mean: torch.Tensor, components: torch.Tensor):
        """PCA as a linear layer: y = (e - mean) @ components.T  (components [k,C])."""
        with torch.no_grad():
            self.pca.weight.copy_(components)
            self.pca.bias.copy_(-(components @ mean))

    def forward_features(self, z, slice_probs, slice_logits=None, state=None):
        """z: PCA features [S,k]; slice_probs [S,6]; slice_logits [S,6] (used by the residual head)
        -> logits [S,6] (one series)."""
        x = torch.cat([z, slice_probs], dim=1).unsqueeze(1)
        y, _ = self.lstm(x) if state is None else self.lstm(x, state)
        out = self.out(torch.cat([y.squeeze(1), slice_probs], dim=1))
        return out if self.skip is None else out + self.skip(slice_logits)

    def forward(self, emb, slice_probs, slice_logits=None):
        return self.forward_features(self.pca(emb), slice_probs, slice_logits)


class Detector(nn.Module):
    """The exported graph: slices [S,3,256,256] -> probs [S,6], slice_logits [S,6], features."""

    def __init__(self, slice_net: SliceNet, seq: SequenceHead):
        super().__init__()
        self.slice_net = slice_net
        self.seq = seq

    def forward(self, slices):
        logits, emb, feats = self.slice_net(slices)
        p = torch.sigmoid(logits)
        return torch.sigmoid(self.seq(emb, p, logits)), logits, feats


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every Conv+BatchNorm pair (as built by _conv_bn) by one Conv with bias (eval mode)."""
    for name, child in module.named_children():
        if (isinstance(child, nn.Sequential) and len(child) == 2 and isinstance(child[0], nn.Conv2d)
                and isinstance(child[1], nn.BatchNorm2d)):
            setattr(module, name, torch.nn.utils.fusion.fuse_conv_bn_eval(child[0], child[1]))
        else:
            fold_batchnorm(child)
    return module


def count_macs(net: nn.Module, size=256) -> int:
    """Multiply-accumulates of the convs and linears for one [1,3,size,size] input."""
    macs = 0

    def hook(m, inp, out):
        nonlocal macs
        if isinstance(m, nn.Conv2d):
            macs += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            macs += out.numel() * m.in_features

    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        net.eval()(torch.zeros(1, 3, size, size))
    for h in hs:
        h.remove()
    return macs
