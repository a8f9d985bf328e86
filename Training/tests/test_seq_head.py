"""The residual sequence head (candidate d): it starts as the CNN, learns only a correction, folds
temperature scaling into the graph, and exports into the same ONE graph with the allowed operators."""
import numpy as np
import torch

from ichtrain.export import OUTPUTS, check_ops, export_onnx, run_onnx
from ichtrain.model import Detector, SequenceHead, SliceNet
from ichtrain.train import TrainConfig, fit_pca, fold_temperature, train_sequence


def _residual_detector(seed=0):
    torch.manual_seed(seed)
    net = SliceNet("narrow").eval()
    with torch.no_grad():
        net.head.weight.mul_(30)  # slice logits spread over several units
    emb = np.random.default_rng(seed).normal(size=(200, net.backbone.out_channels)).astype(np.float32)
    mean, comps = fit_pca(emb, 120)
    seq = SequenceHead(net.backbone.out_channels, residual=True)
    seq.set_pca(torch.from_numpy(mean), torch.from_numpy(comps))
    return Detector(net, seq.eval()).eval()


def test_untrained_residual_head_is_the_cnn_and_temperature_folds_into_both_paths():
    det = _residual_detector()
    x = torch.from_numpy(np.random.default_rng(1).random((4, 3, 256, 256), dtype=np.float32))
    with torch.no_grad():
        probs, logits, _ = det(x)
        np.testing.assert_allclose(probs.numpy(), torch.sigmoid(logits).numpy(), atol=1e-6)
        with torch.no_grad():
            det.seq.out.bias.fill_(0.5)  # some correction, so both Gemms must be scaled
        before = torch.logit(det(x)[0].double()).numpy()
        t = np.array([1.5, 2.0, 0.8, 1.0, 3.0, 1.2])
        fold_temperature(det.seq, t)
        after = torch.logit(det(x)[0].double()).numpy()
    np.testing.assert_allclose(after, before / t, rtol=1e-3, atol=1e-3)


def test_residual_head_exports_to_the_same_graph_contract(tmp_path):
    det = _residual_detector()
    with torch.no_grad():
        det.seq.out.weight.normal_(0, 0.05)
    x = np.random.default_rng(2).random((5, 3, 256, 256), dtype=np.float32)
    path = str(tmp_path / "m.onnx")
    model = export_onnx(det, path, x)
    assert [o.name for o in model.graph.output] == list(OUTPUTS)
    ops = check_ops(model)
    assert "LSTM" in ops and "Add" in ops
    probs, logits, feats = run_onnx(path, x)
    ref = [t.detach().numpy() for t in det(torch.from_numpy(x))]
    np.testing.assert_allclose(probs, ref[0], atol=1e-4)
    np.testing.assert_allclose(logits, ref[1], atol=1e-3)


def test_correction_penalty_keeps_the_residual_head_near_the_cnn():
    rng = np.random.default_rng(0)
    embs = [rng.normal(size=(12, 16)).astype(np.float32) for _ in range(20)]
    logits = [rng.normal(0, 3, size=(12, 6)).astype(np.float32) for _ in range(20)]
    labels = [(rng.random((12, 6)) < 0.5).astype(np.float32) for _ in range(20)]  # unrelated to the CNN
    mean, comps = fit_pca(np.concatenate(embs), 8)

    def correction(l2):
        cfg = TrainConfig(pca_dim=8, lstm_hidden=8, lstm_layers=1, seq_epochs=8, seq_residual=True,
                          seq_correction_l2=l2, seq_logit_noise=0.5, seq_dropout=0.2)
        seq = train_sequence(embs, logits, labels, mean, comps, cfg, log=lambda m: None)
        with torch.no_grad():
            return float(np.mean([np.abs(seq(torch.from_numpy(e), torch.sigmoid(torch.from_numpy(l)),
                                             torch.from_numpy(l)).numpy() - l).mean() for e, l in zip(embs, logits)]))

    free, held = correction(0.0), correction(10.0)
    assert held < 0.5 * free, (held, free)
