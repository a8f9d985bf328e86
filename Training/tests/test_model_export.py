import numpy as np
import onnx
import pytest
import torch

from ichtrain.export import ALLOWED_OPS, INPUT, OUTPUTS, ExportError, check_ops, export_onnx, run_onnx
from ichtrain.model import Detector, ResNeXt, SequenceHead, SliceNet, count_macs, fold_batchnorm
from ichtrain.train import fit_pca


def _trained_like_detector(seed=0):
    torch.manual_seed(seed)
    net = SliceNet("small")
    # non-trivial BatchNorm statistics, so folding is really tested
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(4, 3, 64, 64) * 2)
    net.eval()
    emb = np.random.default_rng(seed).normal(size=(200, net.backbone.out_channels)).astype(np.float32)
    mean, comps = fit_pca(emb, 120)
    seq = SequenceHead(net.backbone.out_channels)
    seq.set_pca(torch.from_numpy(mean), torch.from_numpy(comps))
    return Detector(net, seq.eval()).eval()


def test_small_backbone_size():
    g = count_macs(SliceNet("small").backbone) / 1e9
    assert 0.2 <= g <= 0.6, g


def test_fold_batchnorm_keeps_outputs():
    det = _trained_like_detector()
    x = torch.rand(3, 3, 256, 256)
    import copy
    folded = fold_batchnorm(copy.deepcopy(det))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    for a, b in zip(det(x), folded(x)):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_pca_layer_equals_projection():
    rng = np.random.default_rng(1)
    e = rng.normal(size=(300, 16)).astype(np.float32)
    mean, comps = fit_pca(e, 8)
    seq = SequenceHead(16, pca_dim=8)
    seq.set_pca(torch.from_numpy(mean), torch.from_numpy(comps))
    z = seq.pca(torch.from_numpy(e)).detach().numpy()
    np.testing.assert_allclose(z, (e - mean) @ comps.T, atol=1e-4)
    # principal directions: variance decreasing
    v = z.var(axis=0)
    assert (np.diff(v) <= 1e-5).all()


def test_export_one_graph_allowed_ops_dynamic_s(tmp_path):
    det = _trained_like_detector()
    x = np.random.default_rng(2).random((5, 3, 256, 256), dtype=np.float32)
    path = str(tmp_path / "m.onnx")
    model = export_onnx(det, path, x)
    assert [i.name for i in model.graph.input] == [INPUT]
    assert [o.name for o in model.graph.output] == list(OUTPUTS)
    assert model.opset_import[0].version == 17
    ops = check_ops(model)
    assert "LSTM" in ops and "Conv" in ops and "BatchNormalization" not in ops
    for s in (1, 7):
        xs = np.random.default_rng(s).random((s, 3, 256, 256), dtype=np.float32)
        probs, logits, feats = run_onnx(path, xs)
        assert probs.shape == (s, 6) and logits.shape == (s, 6) and feats.shape == (s, 256, 8, 8)
        ref = [t.detach().numpy() for t in det(torch.from_numpy(xs))]
        np.testing.assert_allclose(probs, ref[0], atol=1e-4)
        np.testing.assert_allclose(logits, ref[1], atol=1e-3)
    # the slice head really is GAP + Gemm over `features` (what exact Grad-CAM relies on)
    w = det.slice_net.head.weight.detach().numpy()
    b = det.slice_net.head.bias.detach().numpy()
    np.testing.assert_allclose(feats.mean(axis=(2, 3)) @ w.T + b, logits, atol=1e-3)


def test_check_ops_rejects_unknown_op():
    node = onnx.helper.make_node("Softmax", ["x"], ["y"])
    g = onnx.helper.make_graph([node], "g", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
                               [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
    with pytest.raises(ExportError, match="Softmax"):
        check_ops(onnx.helper.make_model(g))
    assert "Softmax" not in ALLOWED_OPS


def test_resnext_flag_builds_paper_backbone():
    net = SliceNet("resnext101_32x8d").eval()
    assert net.backbone.out_channels == 2048
    n_params = sum(p.numel() for p in net.backbone.parameters())
    assert 86e6 < n_params < 89e6  # ResNeXt-101 32x8d has about 86.7 M parameters without its fc
    with torch.no_grad():
        logits, emb, feats = net(torch.rand(1, 3, 64, 64))
    assert logits.shape == (1, 6) and emb.shape == (1, 2048)


def test_grow_depth_starts_as_the_shallower_cnn_and_refuses_other_shapes():
    """narrow -> narrow2 (--slice-init with a deeper backbone): the added blocks begin as
    identities, so the grown CNN's logits, embedding and feature map equal the source's; the added
    blocks are trainable (their zeroed BatchNorm scale has a gradient)."""
    import pytest
    import torch
    from ichtrain.model import SliceNet, grow_depth
    torch.manual_seed(3)
    a = SliceNet("narrow")
    for m in a.modules():  # non-trivial BatchNorm statistics, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    a.eval()
    b = SliceNet("narrow2")
    b.load_state_dict(grow_depth(a.state_dict(), b))
    b.eval()
    x = torch.randn(2, 3, 256, 256)
    with torch.no_grad():
        for u, v in zip(a(x), b(x)):
            torch.testing.assert_close(u, v)
    assert len(b.backbone.blocks) == 2 * len(a.backbone.blocks)
    b.train()
    b(x)[0].sum().backward()
    assert b.backbone.blocks[1].c2[1].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        grow_depth(SliceNet("small").state_dict(), SliceNet("narrow2"))
