"""The one documented command: RSNA-format data -> train -> export -> quantize -> calibrate ->
evaluate -> package.  `python -m ichtrain pipeline --data DIR [...]` (see Training/README.md)."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import sys
import time

import numpy as np
import torch

# onnx / onnxruntime (calibrate, evaluate, export) are imported when the PyTorch training is done:
# the training phase needs neither. (What made training slow on the shared CPU was OpenMP's
# busy-waiting threads, not these imports: train.sh sets OMP_WAIT_POLICY=PASSIVE, see docs/model.md.)
from . import bundle, report
from .metrics import weighted_log_loss
from .data import (SUBTYPES, load_index, parse_slice_ranges, ranges_disjoint, read_real_exam, relpath,
                   restrict_to_ranges, split_key, load_many, load_series_masks, split_of, MASK_GRID)
from .model import count_macs
from .train import (TrainConfig, build_detector, fit_pca, fit_temperature, fold_temperature, slice_outputs,
                    train_sequence, train_slices)

SEQ_DATA_CHUNK = 32  # --seq-data series decoded at once (about 0.6 GB of float32 slices at 24 per series)


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m ichtrain pipeline", description=__doc__)
    ap.add_argument("--data", required=True, help="folder with the DICOM slices (any nesting)")
    ap.add_argument("--labels", help="RSNA-format CSV (default: DATA/labels.csv or DATA/stage_2_train.csv)")
    ap.add_argument("--work", default="build/train", help="intermediate files (float ONNX, checkpoints)")
    ap.add_argument("--bundle", default="Models/default", help="where the model bundle is written")
    ap.add_argument("--calibration-dir", default="Calibration", help="calibration set manifest + results")
    ap.add_argument("--extra-test", action="append", default=[], metavar="NAME=DIR",
                    help="another labelled held-out set (RSNA format: DIR/labels.csv), evaluated on its own; repeatable")
    ap.add_argument("--extra-train", action="append", default=[], metavar="NAME=DIR",
                    help="more labelled series (RSNA format: DIR/labels.csv) added to the training split only; repeatable")
    ap.add_argument("--extra-train-slices", default="", metavar="RANGES",
                    help="only these ordered slice indices of --extra-train series, e.g. 0-6,14-20 (each range a sub-series)")
    ap.add_argument("--extra-test-slices", default="", metavar="RANGES",
                    help="only these ordered slice indices of --extra-test series (must be disjoint from --extra-train-slices)")
    ap.add_argument("--extra-val", action="append", default=[], metavar="NAME=DIR",
                    help="labelled series (RSNA format: DIR/labels.csv) measured at every slice-training validation "
                         "check, never trained on (e.g. bleeds inserted into real slices training never sees); they "
                         "must share no generator seed with DATA or the extra sets; repeatable")
    ap.add_argument("--extra-val-slices", default="", metavar="RANGES",
                    help="only these ordered slice indices of --extra-val series (must be disjoint from --extra-train-slices)")
    ap.add_argument("--val-rule", default="data", choices=["data", "extra-no-worse"],
                    help="which slice-training checkpoint is kept: the lowest validation loss (data), or the lowest among "
                         "those whose --extra-val loss is no higher than the starting weights' (extra-no-worse; needs "
                         "--extra-val and --slice-init)")
    ap.add_argument("--cam-loss", type=float, default=0.0, metavar="W",
                    help="slice training adds W x the share of each positive label's softmax(Grad-CAM) outside its "
                         "bleed mask (the generator's masks/ folder; a training series with a bleed and no masks is refused); "
                         "0: off")
    ap.add_argument("--split", default="0.6,0.2,0.2", help="train,val,test fractions of DATA's series (by UID hash)")
    ap.add_argument("--real", help="folder of real exams without labels (their per-slice probabilities are reported)")
    ap.add_argument("--provenance", default="", help="how DATA was made (recorded in the report and calibration set)")
    ap.add_argument("--selection-note", default="",
                    help="how this model was chosen among candidates (e.g. that held-out figures served the choice); "
                         "printed at the top of EVALUATION.md")
    ap.add_argument("--name", default="ichtriage-default")
    ap.add_argument("--version", default="0.2.0")
    ap.add_argument("--backbone", default="small", choices=["small", "narrow", "narrow2", "resnext101_32x8d"],
                    help="narrow2: narrow with two blocks per stage (with --slice-init from a narrow CNN it starts "
                         "as that CNN: the added blocks begin as identities)")
    ap.add_argument("--slice-epochs", type=int, default=6)
    ap.add_argument("--slice-steps", type=int, default=0, help="optimizer steps of slice training (overrides --slice-epochs)")
    ap.add_argument("--slice-minutes", type=float, default=0.0,
                    help="wall-clock budget of slice training (overrides both; the steps reached are recorded)")
    ap.add_argument("--seq-epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay (slice and sequence training)")
    ap.add_argument("--val-checks", type=int, default=8,
                    help="validation checks during slice training; the weights with the lowest validation loss are kept (0: the last)")
    ap.add_argument("--lstm-hidden", type=int, default=64)
    ap.add_argument("--lstm-layers", type=int, default=2)
    ap.add_argument("--calib-series", type=int, default=24, help="training series used to calibrate int8 ranges")
    ap.add_argument("--calib-extra-train", type=int, default=0, metavar="K",
                    help="also calibrate on the first K --extra-train (sub-)series by split key, so that the int8 "
                         "activation ranges cover real anatomy too when --extra-train is real-anatomy insertions "
                         "(default 0: DATA series only)")
    ap.add_argument("--calib-method", default="MinMax", choices=["MinMax", "Percentile", "Entropy", "auto"],
                    help="how int8 activation ranges are taken from the calibration series (auto: MinMax and "
                         "Percentile both made, the one whose int8 outputs on validation are closest to float32's kept: "
                         "the smaller mean |logit(int8) - logit(float32)| over slices and labels)")
    ap.add_argument("--float-convs", type=int, default=0, metavar="K",
                    help="mixed precision: measure on validation the int8 log loss with each CNN Conv left float32 "
                         "in turn, and leave float the (at most) K that lower it most (each one alone must lower it)")
    ap.add_argument("--float-convs-on", default="val", choices=["val", "extra-val", "both"],
                    help="the set --float-convs measures on: the validation split (val), or the --extra-val sets "
                         "(extra-val: e.g. real anatomy, where int8 can cost far more than on procedural series), or "
                         "both (the best K of each, so up to 2K convs)")
    ap.add_argument("--slice-init", metavar="DETECTOR_PT",
                    help="start slice training from this detector.pt's CNN (fine-tuning it, e.g. on more data) "
                         "instead of from random weights")
    ap.add_argument("--slice-net", metavar="DETECTOR_PT",
                    help="take the slice CNN from this detector.pt (an earlier run's WORK/detector.pt) instead of training it")
    ap.add_argument("--seq-train", default="all", choices=["all", "data", "val-half", "seq-data"],
                    help="series the sequence head trains on: all training series, or DATA's only (not the "
                         "--extra-train sub-series, whose slices the CNN has seen many times and which are "
                         "fragments of one exam), or val-half: half of the validation series (by split key, "
                         "alternately), which the CNN never trained on (out-of-fold CNN outputs, as in stacking); "
                         "the other half then fits the temperature, the int8 calibration choice and the thresholds; "
                         "or seq-data: the --seq-data series only (out-of-fold CNN outputs at the scale of a data set)")
    ap.add_argument("--seq-data", action="append", default=[], metavar="NAME=DIR",
                    help="labelled series (RSNA format: DIR/labels.csv) that only the sequence head trains on (with "
                         "--seq-train seq-data): the CNN never sees them, so its outputs there are as noisy as on "
                         "new exams; they must share no generator seed with DATA or the extra sets; repeatable")
    ap.add_argument("--seq-head", default="lstm", choices=["lstm", "residual"],
                    help="residual: the head's logit = the CNN's slice logit + a learned correction (starts as the CNN)")
    ap.add_argument("--seq-logit-noise", type=float, default=0.0,
                    help="std of Gaussian noise on the CNN slice logits the sequence head sees while it trains")
    ap.add_argument("--seq-dropout", type=float, default=0.0, help="dropout on the PCA features while the head trains")
    ap.add_argument("--seq-correction-l2", type=float, default=0.0,
                    help="residual head: weight of the mean squared correction in its loss")
    ap.add_argument("--seq-views", type=int, default=0,
                    help="also train the sequence head on this many augmented views of each of its series (the CNN's "
                         "outputs on its own clean training slices are more confident than on unseen slices)")
    ap.add_argument("--temperature", default="fit", choices=["fit", "none"],
                    help="fit: temperature scaling per output fitted on the validation split, folded into the graph")
    ap.add_argument("--min-sensitivity", type=float, default=0.95)
    ap.add_argument("--subtype-rule", default="no-added-alerts", choices=["no-added-alerts", "sensitivity"],
                    help="subtype operating points: the sensitivity rule, then raised until no subtype alerts on a "
                         "validation negative that 'any' does not alert on (no-added-alerts); or the sensitivity "
                         "rule alone (up to model 0.4.0)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--load-workers", type=int, default=3, help="processes that decode and preprocess the DICOM slices")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


def calibration_series(train: list, extra_train: list, n: int, n_extra: int = 0) -> list:
    """The int8 calibration set: the first n DATA training series by split key (generator seed), then
    the first n_extra --extra-train (sub-)series by split key and UID (sub-series of one series share
    its seed)."""
    extra_ids = {id(s) for s in extra_train}
    data = sorted((s for s in train if id(s) not in extra_ids), key=split_key)[:n]
    return data + sorted(extra_train, key=lambda s: (split_key(s), s.uid))[:n_extra]


def write_reports(bundle_dir: str, results: dict) -> None:
    with open(os.path.join(bundle_dir, "evaluation.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(bundle_dir, "EVALUATION.md"), "w") as f:
        f.write(report.render(results))


def add_test(argv=None) -> int:
    """`python -m ichtrain add-test --bundle DIR --work DIR NAME=DIR ...`: evaluate an existing bundle
    (int8 model.onnx, and WORK/model-float32.onnx) on more held-out sets at its own thresholds, and
    update evaluation.json, EVALUATION.md and the manifest's hashes."""
    ap = argparse.ArgumentParser(prog="python -m ichtrain add-test", description=add_test.__doc__)
    ap.add_argument("--bundle", default="Models/default")
    ap.add_argument("--work", default="build/train/run")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--slices", default="", metavar="RANGES",
                    help="only these ordered slice indices of the sets' series, e.g. 21-27 (each range a sub-series)")
    ap.add_argument("sets", nargs="+", metavar="NAME=DIR")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from .evaluate import evaluate_set
    with open(os.path.join(a.bundle, "evaluation.json")) as f:
        results = json.load(f)
    with open(os.path.join(a.bundle, "manifest.json")) as f:
        m = json.load(f)
    thr = np.array([m["thresholds"][s] for s in SUBTYPES])
    for spec in a.sets:
        name, _, folder = spec.partition("=")
        e = evaluate_set(folder, os.path.join(a.work, "model-float32.onnx"), os.path.join(a.bundle, "model.onnx"),
                         thr, a.threads, parse_slice_ranges(a.slices))
        results["evaluation"].setdefault("extra_tests", {})[name] = e
        print(f"{name}: {len(e['series'])} series, int8 slice weighted log loss {e['int8']['slice']['weighted_log_loss']:.4f}")
    results.setdefault("added_tests", []).append("python -m ichtrain add-test " + " ".join(map(shlex.quote, argv or sys.argv[2:])))
    write_reports(a.bundle, results)
    bundle.write_manifest(a.bundle, name=m["name"], version=m["version"], thresholds=thr,
                          threshold_notes=m["threshold_rule"], calibration_id=m["calibration_id"],
                          quantization=m["quantization"], architecture=m["architecture"], created=m["created"])
    return 0 if not bundle.verify(a.bundle) else 1


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    t_start = time.time()
    timings = {}
    for d in (a.work, a.bundle, a.calibration_dir):
        os.makedirs(d, exist_ok=True)
    log_path = os.path.join(a.work, "train.log")
    log_file = open(log_path, "w")

    def log(msg):
        line = f"[{time.time() - t_start:7.1f}s] {msg}"
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    labels_csv = a.labels or next((os.path.join(a.data, n) for n in ("labels.csv", "stage_2_train.csv")
                                   if os.path.exists(os.path.join(a.data, n))), None)
    if labels_csv is None:
        raise SystemExit(f"error: no labels CSV given and none found in {a.data}")
    cfg = TrainConfig(backbone=a.backbone, slice_epochs=a.slice_epochs, slice_steps=a.slice_steps,
                      slice_minutes=a.slice_minutes,
                      batch_size=a.batch_size, lr=a.lr, weight_decay=a.weight_decay, val_checks=a.val_checks,
                      lstm_hidden=a.lstm_hidden, lstm_layers=a.lstm_layers, seq_epochs=a.seq_epochs,
                      seq_residual=a.seq_head == "residual", seq_logit_noise=a.seq_logit_noise,
                      seq_dropout=a.seq_dropout, seq_correction_l2=a.seq_correction_l2,
                      seed=a.seed, threads=a.threads, val_rule=a.val_rule, cam_loss=a.cam_loss)
    if a.cam_loss < 0:
        raise SystemExit(f"error: --cam-loss must be 0 or more, got {a.cam_loss}")

    # 1. data
    t = time.time()
    index = load_index(a.data, labels_csv)
    fr = [float(v) for v in a.split.split(",")]
    if len(fr) != 3 or abs(sum(fr) - 1) > 1e-6 or min(fr) <= 0:
        raise SystemExit(f"error: --split needs three positive fractions summing to 1, got {a.split}")
    splits = dict(zip(("train", "val", "test"), fr))
    split = {s.uid: split_of(split_key(s), splits) for s in index}
    parts = {k: [s for s in index if split[s.uid] == k] for k in splits}
    for k, v in parts.items():
        if not v:
            raise SystemExit(f"error: split '{k}' is empty ({len(index)} series): give more series")
    train_ranges, test_ranges = parse_slice_ranges(a.extra_train_slices), parse_slice_ranges(a.extra_test_slices)
    extra_train = []
    for spec in a.extra_train:
        name, _, folder = spec.partition("=")
        sub = restrict_to_ranges(load_index(folder, os.path.join(folder, "labels.csv")), train_ranges)
        extra_train += sub
        log(f"extra training set {name}: {len(sub)} (sub-)series from {folder}")
    extra_test_keys = {}  # name -> split keys, read once for the disjointness checks below
    if a.extra_test and (extra_train or a.seq_data or a.extra_val):
        for spec in a.extra_test:
            name, _, folder = spec.partition("=")
            extra_test_keys[name] = {split_key(s) for s in load_index(folder, os.path.join(folder, "labels.csv"))}
    if extra_train and a.extra_test:
        keys = {split_key(s) for s in extra_train}
        for name, test_keys in extra_test_keys.items():
            shared = keys & test_keys
            if shared:
                raise SystemExit(f"error: extra test set {name} shares series with --extra-train: {sorted(shared)[:3]}")
        if not ranges_disjoint(train_ranges, test_ranges):
            raise SystemExit("error: --extra-train-slices and --extra-test-slices must name disjoint slice ranges "
                             "(held-out insertions must be into slices training never saw)")
    parts["train"] = parts["train"] + extra_train
    if (a.seq_train == "seq-data") != bool(a.seq_data):
        raise SystemExit("error: --seq-train seq-data and --seq-data go together")
    seq_series = []
    if a.seq_data:
        if a.seq_views > 0:
            raise SystemExit("error: --seq-views works with --seq-train all|data only")
        taken = {split_key(s) for s in index + extra_train}.union(*extra_test_keys.values())
        for spec in a.seq_data:
            name, _, folder = spec.partition("=")
            sub = load_index(folder, os.path.join(folder, "labels.csv"))
            shared = taken & {split_key(s) for s in sub}
            if shared:
                raise SystemExit(f"error: --seq-data {name} shares series with DATA or the extra sets: {sorted(shared)[:3]}")
            seq_series += sub
            log(f"sequence-head set {name}: {len(sub)} series from {folder} (the CNN never trains on them)")
    extra_val = []
    if a.extra_val:
        val_ranges = parse_slice_ranges(a.extra_val_slices)
        if train_ranges and not ranges_disjoint(train_ranges, val_ranges):
            raise SystemExit("error: --extra-val-slices must be disjoint from --extra-train-slices")
        taken = {split_key(s) for s in index + extra_train + seq_series}.union(*extra_test_keys.values())
        for spec in a.extra_val:
            name, _, folder = spec.partition("=")
            sub = restrict_to_ranges(load_index(folder, os.path.join(folder, "labels.csv")), val_ranges)
            shared = taken & {split_key(s) for s in sub}
            if shared:
                raise SystemExit(f"error: --extra-val {name} shares series with DATA or the other sets: {sorted(shared)[:3]}")
            extra_val += sub
            log(f"extra validation set {name}: {len(sub)} (sub-)series from {folder} (measured, never trained on)")
    if a.val_rule == "extra-no-worse" and not (extra_val and a.slice_init):
        raise SystemExit("error: --val-rule extra-no-worse needs --extra-val and --slice-init (it compares each "
                         "checkpoint with the starting weights)")
    pix = {k: load_many(v, a.load_workers) for k, v in parts.items()}
    if a.float_convs_on != "val" and not (extra_val and a.float_convs > 0):
        raise SystemExit(f"error: --float-convs-on {a.float_convs_on} needs --extra-val and --float-convs K")
    # the CNN's checkpoint choice and (--float-convs-on extra-val) the mixed-precision choice use them
    need_extra_val = extra_val and (not a.slice_net or a.float_convs_on != "val")
    pix_extra_val = load_many(extra_val, a.load_workers) if need_extra_val else []
    lab = {k: [s.labels for s in v] for k, v in parts.items()}
    timings["load"] = time.time() - t
    log(f"data: {len(index)} series, {sum(len(s.slices) for s in index)} slices; "
        + ", ".join(f"{k} {len(v)} series/{sum(x.shape[0] for x in pix[k])} slices" for k, v in parts.items()))

    # The int8 calibration set (step 5) is fixed here: its series stay float32 while the CNN trains.
    calib = calibration_series(parts["train"], extra_train, a.calib_series, a.calib_extra_train)
    calib_ids = {s.uid for s in calib}
    extra_ids = {id(s) for s in extra_train}

    # 2. slice CNN, 3. PCA + sequence model
    t = time.time()
    def cnn_weights(path):
        sd = torch.load(path, map_location="cpu")["state_dict"]
        return {k[len("slice_net."):]: v for k, v in sd.items() if k.startswith("slice_net.")}
    if a.slice_net and a.slice_init:
        raise SystemExit("error: --slice-net (no slice training) and --slice-init (start slice training from) exclude each other")
    if a.slice_net:
        from .model import SliceNet
        net = SliceNet(a.backbone)
        net.load_state_dict(cnn_weights(a.slice_net))
        net.eval()
        net.steps_taken, net.kept_step, net.val_history = None, None, []
        log(f"slice CNN taken from {a.slice_net} (not trained in this run)")
    else:
        init = None
        if a.slice_init:
            from .model import SliceNet, grow_depth
            log(f"slice CNN starts from {a.slice_init}")
            init = cnn_weights(a.slice_init)
            shape = SliceNet(a.backbone)
            if set(init) != set(shape.state_dict()):
                init = grow_depth(init, shape)
                log(f"slice CNN grown to {a.backbone}: the added blocks start as identities")
        # The CNN trains on float16 slices: the training split is converted in place, series by
        # series, so it never exists twice (float32 and float16) in memory; only the int8 calibration
        # series (calib, above) stay float32, so their activation ranges do not depend on this. From here on
        # the CNN's outputs on training series (--seq-train all|data, val-half's PCA) see float16 input.
        for i, s in enumerate(parts["train"]):
            if s.uid not in calib_ids:
                pix["train"][i] = pix["train"][i].astype(np.float16)
        masks = val_masks = None
        if a.cam_loss > 0:
            masks = [load_series_masks(s) for s in parts["train"]]
            # a series without a masks folder is fine when nothing in it bleeds (nothing to localise)
            masks = [np.zeros((len(s.slices), MASK_GRID, MASK_GRID), np.uint8)
                     if m is None and not s.labels[:, 0].any() else m for s, m in zip(parts["train"], masks)]
            bare = [s.uid for s, m in zip(parts["train"], masks) if m is None]
            if bare:
                raise SystemExit(f"error: --cam-loss needs the generator's bleed masks (masks/ next to the series "
                                 f"folders) for every training series with a bleed; {len(bare)} have none, e.g. {bare[0]}")
            log(f"bleed masks: {sum(int((m != 0).any(axis=(1, 2)).sum()) for m in masks)} training slices with a bleed "
                f"(localisation term weight {a.cam_loss})")
        vm = [load_series_masks(s) for s in parts["val"]]
        if vm and all(m is not None for m in vm):  # the CAM diagnostic at each check
            val_masks = vm
        net = train_slices(pix["train"], lab["train"], cfg, log, pix["val"], lab["val"], init=init,
                           extra_val_pixels=pix_extra_val, extra_val_labels=[s.labels for s in extra_val],
                           masks=masks, val_masks=val_masks)
    timings["train_slices"] = time.time() - t
    slice_steps_taken = net.steps_taken
    t = time.time()
    if a.seq_train == "val-half":
        # out-of-fold: the CNN never trained on validation series (it only picked its checkpoint on
        # them). Half A trains the head; half B becomes "val" for everything that follows.
        if len(parts["val"]) < 4:
            raise SystemExit(f"error: --seq-train val-half needs at least 4 validation series, got {len(parts['val'])}")
        order = sorted(range(len(parts["val"])), key=lambda i: split_key(parts["val"][i]))
        half = {"val_seq": order[0::2], "val": order[1::2]}
        parts["val_seq"], pix["val_seq"], lab["val_seq"] = ([d["val"][i] for i in half["val_seq"]] for d in (parts, pix, lab))
        parts["val"], pix["val"], lab["val"] = ([d["val"][i] for i in half["val"]] for d in (parts, pix, lab))
        outs = [slice_outputs(net, x) for x in pix["val_seq"]]
        seq_lab = list(lab["val_seq"])
        pca_src = [slice_outputs(net, x)[1] for s, x in zip(parts["train"], pix["train"]) if id(s) not in extra_ids]
        log(f"sequence head on {len(outs)} validation series (out-of-fold); the other {len(parts['val'])} "
            "fit temperature, int8 calibration choice and thresholds")
    elif a.seq_train == "seq-data":
        # A chunk of series at a time: hundreds of series of float32 slices would not fit in memory
        # next to the training split, and only the CNN's outputs are kept.
        outs = []
        for k in range(0, len(seq_series), SEQ_DATA_CHUNK):
            outs += [slice_outputs(net, x) for x in load_many(seq_series[k:k + SEQ_DATA_CHUNK], a.load_workers)]
        seq_lab = [s.labels for s in seq_series]
        pca_src = None
        log(f"sequence head on {len(outs)} --seq-data series ({sum(len(l) for l in seq_lab)} slices; out-of-fold)")
    else:
        seq_idx = [i for i, s in enumerate(parts["train"]) if a.seq_train == "all" or id(s) not in extra_ids]
        outs = [slice_outputs(net, pix["train"][i]) for i in seq_idx]
        seq_lab = [lab["train"][i] for i in seq_idx]
        pca_src = None
    if a.seq_views > 0:
        if a.seq_train == "val-half":
            raise SystemExit("error: --seq-views works with --seq-train all|data only")
        from .train import _augment
        gen = torch.Generator().manual_seed(cfg.seed + 2)
        for _ in range(a.seq_views):
            outs += [slice_outputs(net, _augment(torch.from_numpy(pix["train"][i]).float(), gen).numpy()) for i in seq_idx]
            seq_lab += [lab["train"][i] for i in seq_idx]
        log(f"sequence head: {len(seq_idx)} series, each also in {a.seq_views} augmented views")
    # PCA is label-free: with val-half it is fitted on the (many more) procedural training slices
    mean, comps = fit_pca(np.concatenate(pca_src or [e for _, e in outs]), cfg.pca_dim)
    seq = train_sequence([e for _, e in outs], [l for l, _ in outs], seq_lab, mean, comps, cfg, log)
    temperature = None
    if a.temperature == "fit":
        vouts = [slice_outputs(net, x) for x in pix["val"]]
        temperature = fit_temperature(seq, [e for _, e in vouts], [l for l, _ in vouts], lab["val"])
        fold_temperature(seq, temperature)
        log("temperature scaling (fitted on validation): " + ", ".join(f"{n} {t:.2f}" for n, t in zip(SUBTYPES, temperature)))
    det = build_detector(net, seq)
    torch.save({"state_dict": det.state_dict(), "config": vars(cfg)}, os.path.join(a.work, "detector.pt"))
    timings["train_sequence"] = time.time() - t

    # 4. export float32 ONNX, 5. int8 QDQ calibrated on recorded training series
    import onnx
    from . import calibrate
    from .evaluate import compare, evaluate, evaluate_set, predict
    from .export import OnnxRunner, check_ops, export_onnx, ops_in
    t = time.time()
    float_path = os.path.join(a.work, "model-float32.onnx")
    model = export_onnx(det, float_path, pix["val"][0][:4])
    float_ops = ops_in(model)
    calib_pix = [x for s, x in zip(parts["train"], pix["train"]) if s.uid in calib_ids]
    int8_path = os.path.join(a.bundle, "model.onnx")
    float_convs, sensitivity = [], {}  # set name -> [(conv, int8 loss)], all-int8 first
    if a.float_convs > 0:
        sets = {"val": (pix["val"], lab["val"]), "extra-val": (pix_extra_val, [s.labels for s in extra_val])}
        for on in (["val", "extra-val"] if a.float_convs_on == "both" else [a.float_convs_on]):
            sens = calibrate.conv_sensitivity(float_path, os.path.join(a.work, "model-int8-sensitivity.onnx"),
                                              calib_pix, *sets[on], a.threads, log)
            sensitivity[on] = sens
            float_convs += [n for n, loss in sens[1:] if loss < sens[0][1] and n not in float_convs][: a.float_convs]
        log(f"convs left float32 (measured on {a.float_convs_on}): {float_convs or 'none'}")
    methods = ["MinMax", "Percentile"] if a.calib_method == "auto" else [a.calib_method]
    calib_choice = {}
    if len(methods) == 1:
        qsettings = calibrate.quantize(float_path, int8_path, calib_pix, methods[0], float_convs=float_convs)
    else:  # both made; the one whose outputs are closest to float32's on VALIDATION is kept (test only reported)
        # Chosen by output fidelity, not by the change of the log loss: a loss difference of a few tenths
        # of a percent is noise that can favour a calibration moving the outputs more (candidate k6,
        # docs/model.md: Percentile kept on -0.2 % against +0.8 %, then +2.2-2.4 % on held-out sets).
        val_pf = np.concatenate(predict(float_path, pix["val"], a.threads))
        val_fl = weighted_log_loss(np.concatenate(lab["val"]), val_pf)
        made = {}
        for m in methods:
            path = os.path.join(a.work, f"model-int8-{m}.onnx")
            made[m] = calibrate.quantize(float_path, path, calib_pix, m, float_convs=float_convs)
            val_pq = np.concatenate(predict(path, pix["val"], a.threads))
            lq = weighted_log_loss(np.concatenate(lab["val"]), val_pq)
            gap = calibrate.logit_gap(val_pq, val_pf)
            calib_choice[m] = {"val_int8": lq, "val_float32": val_fl, "val_relative_change": (lq - val_fl) / val_fl,
                               "val_mean_abs_logit_gap": gap}
            log(f"int8 calibration {m}: validation mean |logit int8 - float32| {gap:.4f}; log loss int8 {lq:.4f} "
                f"float32 {val_fl:.4f} ({100 * (lq - val_fl) / val_fl:+.1f} %)")
        chosen = min(methods, key=lambda m: calib_choice[m]["val_mean_abs_logit_gap"])
        calib_choice["chosen"] = chosen
        shutil.copyfile(os.path.join(a.work, f"model-int8-{chosen}.onnx"), int8_path)
        qsettings = made[chosen]
        a.calib_method = chosen
    int8_ops = check_ops(onnx.load(int8_path))
    calib_record = {
        "purpose": f"int8 activation ranges ({a.calib_method}) for model.onnx",
        "provenance": a.provenance,
        "data": os.path.abspath(a.data),
        "rule": f"the first {a.calib_series} training series by split key (generator seed, else SeriesInstanceUID)"
                + (f", then the first {a.calib_extra_train} --extra-train (sub-)series by split key and UID"
                   if a.calib_extra_train else ""),
        "series": [{"split_key": split_key(s), "seed": s.meta.get("seed"), "series_uid": s.uid, "slices": len(s.slices),
                    "source": "extra-train" if id(s) in extra_ids else "data",  # extra-train: absolute paths
                    "files": [os.path.abspath(r.path) if id(s) in extra_ids else relpath(r.path, a.data)
                              for r in s.slices]} for s in calib],
    }
    h = hashlib.sha256(json.dumps([c["split_key"] for c in calib_record["series"]]).encode())
    for x in calib_pix:  # the model input itself: identical when the generator remakes the same seeds
        h.update(np.ascontiguousarray(x).tobytes())
    calib_id = "calib-" + h.hexdigest()[:12]
    calib_record["calibration_id"] = calib_id
    timings["export_quantize"] = time.time() - t

    # 6. operating points on the validation set (int8 model: the one shipped), 7. evaluation on test
    t = time.time()
    val_q = predict(int8_path, pix["val"], a.threads)
    thr, thr_why = calibrate.choose_thresholds(np.stack([l.max(axis=0) for l in lab["val"]]),
                                               np.stack([p.max(axis=0) for p in val_q]), SUBTYPES, a.min_sensitivity,
                                               a.subtype_rule)
    test_f = predict(float_path, pix["test"], a.threads)
    test_q = predict(int8_path, pix["test"], a.threads)
    ev = {"float32": evaluate(test_f, lab["test"], thr), "int8": evaluate(test_q, lab["test"], thr),
          "val_int8": evaluate(val_q, lab["val"], thr)}
    ev["int8_vs_float32"] = compare(ev["float32"], ev["int8"])
    for m in (k for k in calib_choice if k != "chosen"):
        q = predict(os.path.join(a.work, f"model-int8-{m}.onnx"), pix["test"], a.threads)
        calib_choice[m]["test"] = compare(ev["float32"], evaluate(q, lab["test"], thr))
    ev["calibration_methods"] = calib_choice
    # "int8_sensitivity" (validation split) keeps its name and shape from earlier reports
    ev["int8_sensitivity"] = [{"float_conv": n or None, "val_int8_weighted_log_loss": v} for n, v in sensitivity.get("val", [])]
    ev["int8_sensitivity_extra_val"] = [{"float_conv": n or None, "val_int8_weighted_log_loss": v}
                                        for n, v in sensitivity.get("extra-val", [])]
    ev["int8_sensitivity_on"] = a.float_convs_on if sensitivity else None
    extra = {}
    for spec in a.extra_test:
        name, _, folder = spec.partition("=")
        extra[name] = evaluate_set(folder, float_path, int8_path, thr, a.threads, test_ranges)
        log(f"extra test {name}: {len(extra[name]['series'])} series, int8 slice weighted log loss "
            f"{extra[name]['int8']['slice']['weighted_log_loss']:.4f}")
    ev["extra_tests"] = extra
    from .cam import cam_localisation, slice_head_weights
    ev["cam"] = cam_localisation(int8_path, slice_head_weights(onnx.load(float_path)), parts["test"], pix["test"], thr, a.threads)
    if ev["cam"]["key_slices_with_bleed"]:
        log(f"Grad-CAM peak cell on the bleed mask: {ev['cam']['peak_cell_on_mask']} of "
            f"{ev['cam']['key_slices_with_bleed']} key slices with a bleed (test, int8)")
    timings["calibrate_evaluate"] = time.time() - t

    # 8. real exams (no labels: real negatives, every slice's "any" probability reported)
    real = []
    if a.real:
        runners = {"float32": OnnxRunner(float_path, a.threads), "int8": OnnxRunner(int8_path, a.threads)}
        for s, x in read_real_exam(a.real):
            entry = {"series_uid": s.uid, "description": s.description,
                     "folder": relpath(os.path.dirname(s.slices[0].path), a.real),
                     "files": [os.path.basename(r.path) for r in s.slices]}
            for k, run in runners.items():
                entry[f"any_{k}"] = [float(v) for v in run(x)[0][:, 0]]
            entry["alert_int8"] = bool(max(entry["any_int8"]) >= thr[0])
            # slices whose anatomy training saw (real-anatomy insertions are made in these exams' slices)
            anat = {str(x.meta.get("anatomy", "")) for x in extra_train}
            if any(v.startswith("real:") and v[5:] and entry["folder"].startswith(v[5:]) for v in anat):
                entry["slices_seen_in_training"] = sorted(set().union(*(range(a_, min(b_, len(s.slices)))
                                                                        for a_, b_ in train_ranges))) if train_ranges \
                    else list(range(len(s.slices)))
            real.append(entry)
            log(f"real exam {entry['folder']}: max any float32 {max(entry['any_float32']):.4f} "
                f"int8 {max(entry['any_int8']):.4f} -> {'ALERT (false positive)' if entry['alert_int8'] else 'no alert'}")

    # 9. package
    t = time.time()
    pos = max(range(len(parts["test"])), key=lambda i: lab["test"][i][:, 0].sum())
    x_st = pix["test"][pos]
    k = int(np.argmax(lab["test"][pos][:, 0])) if lab["test"][pos][:, 0].any() else 0
    k = min(k, x_st.shape[0] - 2) if x_st.shape[0] >= 2 else 0
    x_st = x_st[k:k + 2]
    bundle.write_selftest(a.bundle, x_st, OnnxRunner(int8_path, a.threads)(x_st))
    arch = {"backbone": a.backbone, "backbone_gmac_per_slice": count_macs(net.backbone) / 1e9,
            "embedding": net.backbone.out_channels, "pca": cfg.pca_dim, "lstm_layers": cfg.lstm_layers,
            "lstm_hidden": cfg.lstm_hidden, "bidirectional": True, "onnx_opset": 17,
            "ops_float32": float_ops, "ops_int8": int8_ops}
    results = {"command": "python -m ichtrain pipeline " + " ".join(shlex.quote(v) for v in argv),
               "provenance": a.provenance, "selection_note": a.selection_note, "labels_csv": os.path.abspath(labels_csv),
               "splits": {k: [split_key(s) + (f"#{s.meta['slice_range']}" if "slice_range" in s.meta else "")
                              for s in v] for k, v in parts.items()},
               "extra_train": {"sets": a.extra_train, "slices": a.extra_train_slices, "series": len(extra_train),
                               "slices_total": sum(len(s.slices) for s in extra_train)},
               "extra_test_slices": a.extra_test_slices,
               "extra_val": {"sets": a.extra_val, "slices": a.extra_val_slices, "series": len(extra_val),
                             "slices_total": sum(len(s.slices) for s in extra_val)},
               "train_config": {**vars(cfg), "slice_steps_taken": slice_steps_taken,
                                                 "slice_step_kept": net.kept_step, "slice_validation": net.val_history,
                                "slice_net_from": a.slice_net, "slice_init_from": a.slice_init, "seq_train": a.seq_train, "seq_views": a.seq_views,
                                "seq_data": {"sets": a.seq_data, "series": [split_key(s) for s in seq_series]},
                                "seq_head": a.seq_head, "seq_logit_noise": a.seq_logit_noise,
                                "seq_dropout": a.seq_dropout, "seq_correction_l2": a.seq_correction_l2,
                                "temperature": None if temperature is None else dict(zip(SUBTYPES, map(float, temperature)))}, "timings_s": timings, "thresholds": dict(zip(SUBTYPES, map(float, thr))),
               "threshold_rule": thr_why, "evaluation": ev, "real_exams": real, "architecture": arch,
               "quantization": qsettings, "calibration_id": calib_id}
    with open(os.path.join(a.calibration_dir, "calibration-set.json"), "w") as f:
        json.dump(calib_record, f, indent=1)
    with open(os.path.join(a.calibration_dir, "thresholds.json"), "w") as f:
        json.dump({"calibration_id": calib_id, "thresholds": results["thresholds"], "rule": thr_why,
                   "validation_series": results["splits"]["val"], "validation_int8": ev["val_int8"]}, f, indent=1)
    timings["total"] = time.time() - t_start
    write_reports(a.bundle, results)
    bundle.write_manifest(a.bundle, name=a.name, version=a.version, thresholds=thr, threshold_notes=thr_why,
                          calibration_id=calib_id, quantization=qsettings, architecture=arch)
    problems = bundle.verify(a.bundle)
    if problems:
        raise SystemExit("error: bundle does not verify: " + "; ".join(problems))
    log(f"bundle written to {a.bundle} ({timings['total']:.0f}s total); "
        f"test weighted log loss float32 {ev['float32']['slice']['weighted_log_loss']:.4f} "
        f"int8 {ev['int8']['slice']['weighted_log_loss']:.4f}")
    return 0
