"""recover-cnn: the slice CNN of a float32 or int8 ONNX graph back as PyTorch weights."""
import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from ichtrain.calibrate import quantize
from ichtrain.export import export_onnx
from ichtrain.model import Detector, SequenceHead, SliceNet
from ichtrain.recover import RecoverError, main, recover_slice_net
from ichtrain.train import fit_pca


def _detector():
    """A narrow detector whose BatchNorms are not identities (random scale, shift and statistics),
    so that folding them into the convs changes the weights."""
    torch.manual_seed(0)
    net = SliceNet("narrow")
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
    seq = SequenceHead(net.head.in_features, residual=True)
    seq.set_pca(*map(torch.from_numpy, fit_pca(np.random.default_rng(0).normal(size=(200, 128)).astype(np.float32), 120)))
    return Detector(net.eval(), seq.eval()).eval()


def _slices(n, seed):
    return np.random.default_rng(seed).random((n, 3, 256, 256), dtype=np.float32)


def _int8_conv_weights(path):
    """The int8 weight tensor of every Conv, in graph order."""
    m = onnx.load(path)
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    producer = {o: n for n in m.graph.node for o in n.output}
    return [init[producer[c.input[1]].input[0]] for c in m.graph.node if c.op_type == "Conv"]


def test_recovered_from_float32_computes_what_the_detector_computes(tmp_path):
    det = _detector()
    path = str(tmp_path / "f.onnx")
    export_onnx(det, path, _slices(3, 1))
    net = recover_slice_net(path, "narrow")
    x = torch.from_numpy(_slices(2, 2))
    with torch.no_grad():
        want, got = det.slice_net(x), net(x)
    for a, b in zip(want, got):  # logits, embedding, feature map
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-4)


def test_recovered_from_int8_requantizes_to_the_same_int8_weights(tmp_path):
    det = _detector()
    fp, qp = str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx")
    export_onnx(det, fp, _slices(3, 1))
    calib = [_slices(3, 4), _slices(3, 5)]
    quantize(fp, qp, calib)
    net = recover_slice_net(qp, "narrow")
    # close to the float CNN (only the weights' int8 rounding differs) ...
    x = torch.from_numpy(_slices(2, 2))
    with torch.no_grad():
        want, got = det.slice_net(x)[0].numpy(), net(x)[0].numpy()
    assert np.max(np.abs(got - want)) < 0.05 * max(1.0, np.max(np.abs(want)))
    # ... and its weights lie on the int8 grid: exported and quantized again, the int8 weights are the same
    again = Detector(net, det.seq).eval()
    fp2, qp2 = str(tmp_path / "f2.onnx"), str(tmp_path / "q2.onnx")
    export_onnx(again, fp2, _slices(3, 1))
    quantize(fp2, qp2, calib)
    first, second = _int8_conv_weights(qp), _int8_conv_weights(qp2)
    assert len(first) == len(second) == 13
    for a, b in zip(first, second):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.max(np.abs(a.astype(np.int32) - b.astype(np.int32))) <= 1  # float rounding at a .5 only
        assert np.mean(a == b) > 0.999


def test_the_wrong_backbone_is_refused_with_the_reason(tmp_path, capsys):
    det = _detector()
    path = str(tmp_path / "f.onnx")
    export_onnx(det, path, _slices(2, 1))
    with pytest.raises(RecoverError, match="Conv"):
        recover_slice_net(path, "narrow2")
    assert main(["--onnx", path, "--backbone", "small", "--out", str(tmp_path / "x.pt")]) == 1
    assert "recover-cnn:" in capsys.readouterr().err
    out = str(tmp_path / "cnn.pt")
    assert main(["--onnx", path, "--out", out]) == 0
    sd = torch.load(out, map_location="cpu")["state_dict"]
    assert all(k.startswith("slice_net.") for k in sd) and "slice_net.head.weight" in sd
