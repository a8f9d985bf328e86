"""The one documented command, end to end, on a small RSNA-format set.

The set comes from `ichtriage phantom` when ICHTRIAGE_BIN names a built `ichtriage` with that verb,
else from the pydicom fixture maker (ichtrain.fixtures); the test prints which."""
import json
import os
import subprocess
import sys

import numpy as np

from ichtrain.bundle import verify
from ichtrain.export import check_ops, run_onnx
from ichtrain.fixtures import make_set

TRAINING = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def _make_data(out, seed=5000, count=20):
    binary = os.environ.get("ICHTRIAGE_BIN")
    if binary and os.path.exists(binary):
        r = subprocess.run([binary, "phantom", "--help"], capture_output=True)
        if r.returncode == 0:
            subprocess.run([binary, "phantom", "--out", out, "--seed", str(seed), "--count", str(count),
                            "--slices", "8"], check=True)
            return "ichtriage phantom"
    make_set(out, count=count, seed=seed - 4989, n_slices=6, matrix=512)
    return "pydicom fixture (ichtrain.fixtures)"


def test_pipeline_trains_quantizes_calibrates_packages(tmp_path, real_data):
    data = str(tmp_path / "data")
    source = _make_data(data)
    print(f"e2e data source: {source}")
    bundle, calib, work = tmp_path / "bundle", tmp_path / "calib", tmp_path / "work"
    cmd = [sys.executable, "-m", "ichtrain", "pipeline", "--data", data, "--work", str(work),
           "--bundle", str(bundle), "--calibration-dir", str(calib), "--real", real_data,
           "--slice-epochs", "1", "--seq-epochs", "2", "--calib-series", "2", "--provenance", source]
    r = subprocess.run(cmd, cwd=TRAINING, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for f in ("model.onnx", "manifest.json", "EVALUATION.md", "evaluation.json", "selftest_input.npy",
              "selftest_probs.npy", "selftest_slice_logits.npy", "selftest_features.npy"):
        assert (bundle / f).exists(), f
    assert verify(str(bundle)) == []
    m = json.loads((bundle / "manifest.json").read_text())
    assert set(m["thresholds"]) == {"any", "epidural", "intraparenchymal", "intraventricular", "subarachnoid",
                                    "subdural"}
    assert m["signature"] is None and m["calibration_id"].startswith("calib-")
    import onnx
    q = onnx.load(str(bundle / "model.onnx"))
    assert "QuantizeLinear" in check_ops(q) and "LSTM" in check_ops(q)
    # the self-test vectors reproduce with ONNX Runtime
    x = np.load(bundle / "selftest_input.npy")
    out = run_onnx(str(bundle / "model.onnx"), x)
    np.testing.assert_allclose(out[0], np.load(bundle / "selftest_probs.npy"), atol=1e-5)
    ev = json.loads((bundle / "evaluation.json").read_text())
    assert len(ev["real_exams"]) == 2 and all(len(e["any_int8"]) == 28 for e in ev["real_exams"])
    report = (bundle / "EVALUATION.md").read_text()
    assert "SYNTHETIC" in report and "weighted log loss" in report
    cam = ev["evaluation"]["cam"]  # the Grad-CAM check needs the generator's masks (not the pydicom fixture's)
    assert cam["key_slices_with_bleed"] >= cam["peak_cell_on_mask"] >= 0
    if source == "ichtriage phantom":  # every positive test series has its masks
        assert cam["positive_series"] == ev["evaluation"]["int8"]["appliance_critical"]["positives"]
        assert cam["key_slices"] >= cam["key_slices_with_bleed"]
        # the test split may hold no positive series: the check on every positive generated series,
        # with thresholds that make every label alert (so every series has key slices)
        from ichtrain.cam import cam_localisation, slice_head_weights
        from ichtrain.data import load_index, load_many
        pos = [s for s in load_index(data, os.path.join(data, "labels.csv")) if s.labels[:, 0].any()]
        c = cam_localisation(str(bundle / "model.onnx"), slice_head_weights(onnx.load(str(work / "model-float32.onnx"))),
                             pos, load_many(pos, 1), np.full(6, 1e-6), 1)
        assert c["positive_series"] == len(pos) > 0 and c["key_slices"] >= 3 * len(pos)
        assert 0 < c["key_slices_with_bleed"] <= c["key_slices"] and c["peak_cell_on_mask"] <= c["key_slices_with_bleed"]
        assert 0 < c["random_head_cell_on_mask"] < 1 and c["grid"] == [8, 8]
    cs = json.loads((calib / "calibration-set.json").read_text())
    assert len(cs["series"]) == 2 and cs["calibration_id"] == m["calibration_id"]
    # more held-out sets can be added to an existing bundle (re-hashed, still verifying)
    r = subprocess.run([sys.executable, "-m", "ichtrain", "add-test", "--bundle", str(bundle), "--work", str(work),
                        f"again={data}", f"againb={data}"], cwd=TRAINING, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    ev2 = json.loads((bundle / "evaluation.json").read_text())
    assert {"again", "againb"} <= set(ev2["evaluation"]["extra_tests"]) and verify(str(bundle)) == []
    assert len(ev2["added_tests"]) == 1, ev2["added_tests"]  # one command line per run, not per set
    assert "'again'" in (bundle / "EVALUATION.md").read_text()
    kind = ev2["evaluation"]["extra_tests"]["again"]["int8"]["by_kind"]  # positives; each distinct negative once
    assert kind["positive_series"] + kind["negative_series"] == len(ev2["evaluation"]["extra_tests"]["again"]["series"])
    assert 1 <= kind["negative_distinct"] <= kind["negative_series"]
    assert "distinct pixel contents, each counted once" in (bundle / "EVALUATION.md").read_text()
    r = subprocess.run([sys.executable, "-m", "ichtrain", "add-test", "--bundle", str(bundle), "--work", str(work),
                        "--slices", "1-2", f"again12={data}"], cwd=TRAINING, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    e12 = json.loads((bundle / "evaluation.json").read_text())["evaluation"]["extra_tests"]["again12"]
    assert e12["slice_ranges"] == [[1, 2]] and e12["int8"]["slice"]["n"] == 2 * len(e12["series"])
    # a tampered file no longer verifies
    with open(bundle / "selftest_probs.npy", "ab") as f:
        f.write(b"x")
    assert verify(str(bundle))
    # a second run on the first run's CNN (--slice-net): only what follows the CNN is trained; the
    # exported slice logits are the first model's, both int8 calibrations are made and one is kept
    bundle2, work2 = tmp_path / "bundle2", tmp_path / "work2"
    cmd2 = [sys.executable, "-m", "ichtrain", "pipeline", "--data", data, "--work", str(work2),
            "--bundle", str(bundle2), "--calibration-dir", str(tmp_path / "calib2"),
            "--slice-net", str(work / "detector.pt"), "--seq-train", "data", "--seq-views", "1", "--calib-method", "auto",
            "--seq-epochs", "2", "--calib-series", "2"]
    r = subprocess.run(cmd2, cwd=TRAINING, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert verify(str(bundle2)) == []
    ev3 = json.loads((bundle2 / "evaluation.json").read_text())
    assert ev3["train_config"]["slice_net_from"] == str(work / "detector.pt") and ev3["train_config"]["seq_views"] == 1
    assert "each also in 1 augmented views" in r.stdout
    assert set(ev3["train_config"]["temperature"]) == set(m["thresholds"])
    cm = ev3["evaluation"]["calibration_methods"]
    gaps = {k: cm[k]["val_mean_abs_logit_gap"] for k in ("MinMax", "Percentile")}
    assert cm["chosen"] == min(gaps, key=gaps.get) and all(g > 0 for g in gaps.values())
    assert "closest to float32's on the validation split" in (bundle2 / "EVALUATION.md").read_text()
    a = run_onnx(str(work / "model-float32.onnx"), x)
    b = run_onnx(str(work2 / "model-float32.onnx"), x)
    np.testing.assert_allclose(b[1], a[1], atol=1e-4)
    # candidate d's recipe: the head trained out-of-fold on half the validation series (which the CNN
    # never trained on), residual to the CNN; the other half fits temperature, calibration, thresholds
    bundle3, work3 = tmp_path / "bundle3", tmp_path / "work3"
    cmd3 = [sys.executable, "-m", "ichtrain", "pipeline", "--data", data, "--work", str(work3),
            "--bundle", str(bundle3), "--calibration-dir", str(tmp_path / "calib3"),
            "--slice-net", str(work / "detector.pt"), "--seq-train", "val-half", "--seq-head", "residual",
            "--seq-logit-noise", "0.5", "--seq-dropout", "0.2", "--seq-correction-l2", "1",
            "--seq-epochs", "2", "--calib-series", "2", "--split", "0.4,0.4,0.2",
            "--selection-note", "chosen on the held-out figures (test)"]
    r = subprocess.run(cmd3, cwd=TRAINING, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert verify(str(bundle3)) == []
    ev4 = json.loads((bundle3 / "evaluation.json").read_text())
    halves = ev4["splits"]["val_seq"], ev4["splits"]["val"]
    assert halves[0] and halves[1] and not set(halves[0]) & set(halves[1])
    assert not (set(halves[0]) | set(halves[1])) & (set(ev4["splits"]["train"]) | set(ev4["splits"]["test"]))
    assert ev4["evaluation"]["val_int8"]["series"]["n"] == len(halves[1])  # thresholds on half B only
    assert ev4["train_config"]["seq_train"] == "val-half" and ev4["train_config"]["seq_head"] == "residual"
    assert f"sequence head on {len(halves[0])} validation series (out-of-fold)" in r.stdout
    c = run_onnx(str(work3 / "model-float32.onnx"), x)
    np.testing.assert_allclose(c[1], a[1], atol=1e-4)
    assert "Add" in check_ops(onnx.load(str(bundle3 / "model.onnx")))
    assert "**Model selection:** chosen on the held-out figures (test)" in (bundle3 / "EVALUATION.md").read_text()
    # the CNN fine-tuned from the first run's (--slice-init; the starting weights are measured on
    # validation first) and the head trained only on series of its own, which the CNN never saw
    # (--seq-train seq-data); series shared with DATA are refused
    seqd = str(tmp_path / "seqdata")
    _make_data(seqd, seed=6000, count=6)
    bundle5, work5 = tmp_path / "bundle5", tmp_path / "work5"
    base5 = [sys.executable, "-m", "ichtrain", "pipeline", "--data", data, "--work", str(work5),
             "--bundle", str(bundle5), "--calibration-dir", str(tmp_path / "calib5"),
             "--slice-init", str(work / "detector.pt"), "--slice-steps", "2", "--seq-train", "seq-data", "--seq-head", "residual",
             "--seq-epochs", "2", "--calib-series", "2"]
    r = subprocess.run(base5 + ["--seq-data", f"same={data}"], cwd=TRAINING, capture_output=True, text=True)
    assert r.returncode != 0 and "--seq-data same shares series with DATA" in r.stderr, r.stderr[-2000:]
    r = subprocess.run(base5, cwd=TRAINING, capture_output=True, text=True)
    assert r.returncode != 0 and "--seq-train seq-data and --seq-data go together" in r.stderr, r.stderr[-2000:]
    # ... with real-anatomy-like --extra-train sub-series (3 slices) in the int8 calibration set too
    # (--calib-extra-train): series of different lengths, which ORT's Percentile calibrator cannot stack
    more = str(tmp_path / "more")
    _make_data(more, seed=7000, count=3)
    # ... and its checkpoint kept by --val-rule extra-no-worse on an --extra-val set (other seeds, other
    # slices than --extra-train's); a validation set sharing series with DATA is refused
    base5 += ["--seq-data", f"own={seqd}", "--extra-train", f"more={more}", "--extra-train-slices", "0-2"]
    r = subprocess.run(base5 + ["--extra-val", f"same={data}", "--extra-val-slices", "3-5", "--val-rule", "extra-no-worse"],
                       cwd=TRAINING, capture_output=True, text=True)
    assert r.returncode != 0 and "--extra-val same shares series with DATA" in r.stderr, r.stderr[-2000:]
    r = subprocess.run(base5 + ["--float-convs", "1", "--float-convs-on", "extra-val"], cwd=TRAINING, capture_output=True, text=True)
    assert r.returncode != 0 and "--float-convs-on extra-val needs --extra-val" in r.stderr, r.stderr[-2000:]
    xval = str(tmp_path / "xval")
    _make_data(xval, seed=7100, count=2)
    r = subprocess.run(base5 + ["--calib-extra-train", "2", "--calib-method", "auto", "--extra-val", f"xv={xval}",
                                "--extra-val-slices", "3-5", "--val-rule", "extra-no-worse",
                                "--float-convs", "1", "--float-convs-on", "both"],
                       cwd=TRAINING, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "convs left float32 (measured on both)" in r.stdout
    assert verify(str(bundle5)) == []
    ev5 = json.loads((bundle5 / "evaluation.json").read_text())
    hist = ev5["train_config"]["slice_validation"]
    assert ev5["train_config"]["val_rule"] == "extra-no-worse" and ev5["extra_val"]["series"] == 2
    assert hist[0]["step"] == 0 and all("extra_val_weighted_log_loss" in h for h in hist)
    kept = next(h for h in hist if h["step"] == ev5["train_config"]["slice_step_kept"])
    assert kept["extra_val_weighted_log_loss"] <= hist[0]["extra_val_weighted_log_loss"]
    assert "Slice CNN checkpoints (rule `extra-no-worse`" in (bundle5 / "EVALUATION.md").read_text()
    # the convs left float32: the best on the validation split and the best on the extra validation set
    # (one measurement per CNN Conv on each, plus all-int8), at most one each
    e5 = ev5["evaluation"]
    assert e5["int8_sensitivity_on"] == "both" and len(e5["int8_sensitivity"]) == len(e5["int8_sensitivity_extra_val"]) > 2
    assert len(ev5["quantization"]["float_convs"]) <= 2
    report5 = (bundle5 / "EVALUATION.md").read_text()
    assert "the --extra-val sets' int8 log loss" in report5 and "validation int8 log loss" in report5
    cs5 = json.loads((tmp_path / "calib5" / "calibration-set.json").read_text())
    assert [(c["source"], c["slices"]) for c in cs5["series"]][2:] == [("extra-train", 3), ("extra-train", 3)]
    assert [c["source"] for c in cs5["series"]][:2] == ["data", "data"] and "--extra-train" in cs5["rule"]
    assert all(os.path.isfile(f) for f in cs5["series"][2]["files"])
    ev5 = json.loads((bundle5 / "evaluation.json").read_text())
    assert ev5["train_config"]["seq_train"] == "seq-data" and len(ev5["train_config"]["seq_data"]["series"]) == 6
    assert not set(ev5["train_config"]["seq_data"]["series"]) & set(sum(ev5["splits"].values(), []))
    assert "sequence head on 6 --seq-data series" in r.stdout
    assert ev5["train_config"]["slice_init_from"] == str(work / "detector.pt")
    assert "validation after 0 steps" in r.stdout and ev5["train_config"]["slice_steps_taken"] == 2
    # the localisation term (--cam-loss) trains on the generator's bleed masks; the pydicom fixture
    # writes none, so there it is refused with the reason
    bundle6, work6 = tmp_path / "bundle6", tmp_path / "work6"
    cmd6 = [a for a in base5] + ["--cam-loss", "0.5"]
    cmd6[cmd6.index(str(work5))], cmd6[cmd6.index(str(bundle5))] = str(work6), str(bundle6)
    cmd6[cmd6.index(str(tmp_path / "calib5"))] = str(tmp_path / "calib6")
    r = subprocess.run(cmd6, cwd=TRAINING, capture_output=True, text=True)
    if source != "ichtriage phantom":
        assert r.returncode != 0 and "--cam-loss needs the generator's bleed masks" in r.stderr, r.stderr[-2000:]
        return
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "training slices with a bleed (localisation term weight 0.5)" in r.stdout
    ev6 = json.loads((bundle6 / "evaluation.json").read_text())
    assert ev6["train_config"]["cam_loss"] == 0.5 and verify(str(bundle6)) == []
    assert all("val_cam_peak_on_mask" in h for h in ev6["train_config"]["slice_validation"])
    assert "trained with the localisation term, weight 0.5" in (bundle6 / "EVALUATION.md").read_text()
