import pytest
import numpy as np
import onnx
import torch

from ichtrain.calibrate import choose_thresholds, equal_length_chunks, float_tail_nodes, logit_gap, quantize
from ichtrain.export import OnnxRunner, check_ops, export_onnx, run_onnx
from ichtrain.model import Detector, SequenceHead, SliceNet
from ichtrain.train import fit_pca


def _tiny_detector(backbone="small", width=256):
    """A small untrained detector (fixed seeds) with a PCA fitted on random embeddings."""
    torch.manual_seed(0)
    net = SliceNet(backbone).eval()
    seq = SequenceHead(width)
    seq.set_pca(*map(torch.from_numpy, fit_pca(np.random.default_rng(0).normal(size=(200, width)).astype(np.float32), 120)))
    return Detector(net, seq.eval()).eval()


def test_quantize_cnn_int8_lstm_float(tmp_path):
    det = _tiny_detector()
    rng = np.random.default_rng(1)
    calib = [rng.random((3, 3, 256, 256), dtype=np.float32) for _ in range(3)]
    fp, qp = str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx")
    fmodel = export_onnx(det, fp, calib[0])
    tail = float_tail_nodes(fmodel)
    assert any(n.op_type == "LSTM" for n in fmodel.graph.node if n.name in tail)
    assert not any(n.op_type == "Conv" for n in fmodel.graph.node if n.name in tail)
    quantize(fp, qp, calib)
    q = onnx.load(qp)
    check_ops(q)
    producers = {o: n for n in q.graph.node for o in n.output}
    conv = [n for n in q.graph.node if n.op_type == "Conv"]
    assert conv and all(producers[n.input[1]].op_type == "DequantizeLinear" for n in conv)  # int8 weights
    lstm = [n for n in q.graph.node if n.op_type == "LSTM"]
    assert lstm and all(producers.get(n.input[1]) is None or producers[n.input[1]].op_type != "DequantizeLinear"
                        for n in lstm)  # float LSTM weights
    inits = {i.name: i for i in q.graph.initializer}
    w_q = [inits[producers[n.input[1]].input[0]] for n in conv]
    assert all(t.data_type == onnx.TensorProto.INT8 for t in w_q)
    x = calib[0]
    f_out, q_out = run_onnx(fp, x), run_onnx(qp, x)
    assert np.abs(f_out[1] - q_out[1]).max() < 0.5  # int8 slice logits near float32
    # evaluation runs the QDQ graph as ONNX defines it (what the appliance's engine computes): no ORT fusions
    import onnxruntime as ort
    assert OnnxRunner(qp).sess.get_session_options().graph_optimization_level == \
        ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    assert OnnxRunner(qp, optimized=True).sess.get_session_options().graph_optimization_level != \
        ort.GraphOptimizationLevel.ORT_DISABLE_ALL


def test_calibration_batches_of_mixed_lengths_are_cut_to_equal_chunks(tmp_path):
    a, b = np.arange(24)[:, None].astype(np.float32), np.arange(100, 107)[:, None].astype(np.float32)
    assert [x.shape[0] for x in equal_length_chunks([a, a])] == [24, 24]  # equal lengths: as they are
    chunks = equal_length_chunks([a, b])
    assert {x.shape[0] for x in chunks} == {7}
    assert [x[0, 0] for x in chunks] == [0, 7, 14, 17, 100]  # the last chunk of a overlaps; b whole
    assert set(np.concatenate(chunks)[:, 0]) == set(a[:, 0]) | set(b[:, 0])  # every slice kept
    # Percentile (a histogram calibrator) on series of 4 and 2 slices: failed before the chunking
    det = _tiny_detector()
    rng = np.random.default_rng(2)
    calib = [rng.random((n, 3, 256, 256), dtype=np.float32) for n in (4, 2)]
    fp, qp = str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx")
    export_onnx(det, fp, calib[0])
    quantize(fp, qp, calib, "Percentile")
    assert np.abs(run_onnx(fp, calib[0])[1] - run_onnx(qp, calib[0])[1]).max() < 0.5


def test_choose_thresholds_per_subtype():
    y = np.zeros((20, 6)); y[:8, 0] = 1; y[:4, 1] = 1
    p = np.linspace(0, 1, 20)[::-1, None].repeat(6, axis=1)
    thr, why = choose_thresholds(y, p, ["a", "b", "c", "d", "e", "f"], subtype_rule="sensitivity")
    assert (p[:8, 0] >= thr[0]).all() and thr[2] == 0.5 and "no positives" in why["c"]
    # the default rule raises the no-positives default above the negatives "any" leaves quiet
    thr2, why2 = choose_thresholds(y, p, ["a", "b", "c", "d", "e", "f"])
    assert thr2[0] == thr[0] and thr2[2] > p[8:, 2].max() and "raised from 0.5000" in why2["c"]


def test_mixed_precision_leaves_the_named_conv_float_and_sensitivity_ranks_every_conv(tmp_path):
    """--float-convs: the named Conv keeps float32 weights (no DequantizeLinear feeding it), every
    other Conv stays int8; conv_sensitivity measures all-int8 first, then each Conv left float."""
    from ichtrain.calibrate import conv_sensitivity
    det = _tiny_detector("narrow", 128)
    rng = np.random.default_rng(1)
    calib = [rng.random((2, 3, 256, 256), dtype=np.float32) for _ in range(2)]
    fp, qp = str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx")
    fmodel = export_onnx(det, fp, calib[0])
    convs = [n.name for n in fmodel.graph.node if n.op_type == "Conv"]
    settings = quantize(fp, qp, calib, float_convs=[convs[1]])
    assert settings["float_convs"] == [convs[1]]
    q = onnx.load(qp)
    producers = {o: n for n in q.graph.node for o in n.output}
    weight_dq = {n.name: producers.get(n.input[1]) is not None and producers[n.input[1]].op_type == "DequantizeLinear"
                 for n in q.graph.node if n.op_type == "Conv"}
    assert weight_dq[convs[1]] is False and all(v for k, v in weight_dq.items() if k != convs[1])
    labels = [np.zeros((2, 6), dtype=np.float32) for _ in calib]
    ranked = conv_sensitivity(fp, str(tmp_path / "s.onnx"), calib, calib, labels, threads=1, log=lambda m: None)
    assert ranked[0][0] == "" and sorted(n for n, _ in ranked[1:]) == sorted(convs)
    assert [v for _, v in ranked[1:]] == sorted(v for _, v in ranked[1:])


def test_subtype_thresholds_add_no_alerts_beyond_any():
    """The appliance alerts CRITICAL when any label reaches its threshold: a subtype threshold that the
    sensitivity rule puts below a validation negative's score (one "any" leaves quiet) is raised above
    it; "any" and subtypes that add no alerts keep the sensitivity rule's value."""
    names = ["any", "b", "c"]
    y = np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1], [0, 0, 0], [0, 0, 0]], dtype=float)
    p = np.array([[0.9, 0.05, 0.1], [0.8, 0.6, 0.1], [0.85, 0.1, 0.7], [0.2, 0.3, 0.2], [0.1, 0.02, 0.05]])
    base, _ = choose_thresholds(y, p, names, subtype_rule="sensitivity")
    thr, why = choose_thresholds(y, p, names)
    assert base[1] < 0.3 and thr[1] > 0.3  # b: the sensitivity rule would alert on negative 3
    assert not ((p[3:, 1:] >= thr[1:]) & (p[3:, :1] < thr[0])).any()
    assert thr[0] == base[0] and thr[2] == base[2]
    assert "raised from" in why["b"] and "sensitivity now 0.50" in why["b"] and "raised" not in why["c"]
    with pytest.raises(ValueError):
        choose_thresholds(y, p, names, subtype_rule="other")


def test_logit_gap_measures_how_far_int8_moves_the_outputs():
    """`--calib-method auto` keeps the calibration with the smaller gap: it must be 0 for identical
    outputs, the mean logit distance otherwise, blind to saturation beyond the clip, and refuse
    outputs of another shape (another series order would compare the wrong slices)."""
    sig = lambda z: 1 / (1 + np.exp(-z))
    z = np.random.default_rng(0).normal(size=(10, 6))
    assert logit_gap(sig(z), sig(z)) == pytest.approx(0, abs=1e-9)
    assert logit_gap(sig(z + 0.5), sig(z)) == pytest.approx(0.5, rel=1e-6)
    shift = np.where(np.arange(6) < 3, 0.2, -0.6)  # per label: mean |shift| = 0.4
    assert logit_gap(sig(z + shift), sig(z)) == pytest.approx(0.4, rel=1e-6)
    assert logit_gap(np.ones((2, 6)), np.full((2, 6), 1 - 1e-9)) == pytest.approx(0, abs=1e-6)
    with pytest.raises(ValueError):
        logit_gap(sig(z), sig(z[:9]))
