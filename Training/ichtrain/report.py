"""EVALUATION.md from the pipeline's results (every figure labelled with the data it comes from)."""
from __future__ import annotations

from .data import SUBTYPES


def _f(v, nd=4):
    return "n/a" if v is None else f"{v:.{nd}f}"


def _table(summary: dict) -> list[str]:
    rows = ["| label | positives | AUC | threshold | sensitivity | specificity |", "|---|---|---|---|---|---|"]
    for s in SUBTYPES:
        d = summary["per_subtype"][s]
        rows.append(f"| {s} | {d['positives']} | {_f(d['auc'])} | {_f(d['threshold'])} | "
                    f"{_f(d['sensitivity'], 3)} | {_f(d['specificity'], 3)} |")
    return rows


def _ranges(idx: list[int]) -> str:
    """[0,1,2,5] -> '0-2, 5'."""
    out, start = [], None
    for k, i in enumerate(idx):
        if start is None:
            start = i
        if k + 1 == len(idx) or idx[k + 1] != i + 1:
            out.append(f"{start}-{i}" if i != start else f"{i}")
            start = None
    return ", ".join(out)


def _extra_train_lines(r: dict) -> list[str]:
    x = r.get("extra_train") or {}
    if not x.get("sets"):
        return []
    return [f"Added to the training split only: {', '.join(x['sets'])} ({x['series']} sub-series, "
            f"{x['slices_total']} slices; ordered slices {x['slices'] or 'all'}); the extra held-out sets use "
            f"ordered slices {r.get('extra_test_slices') or 'all'} and other generator seeds."]


def _cam_lines(ev: dict) -> list[str]:
    """The toolkit's Grad-CAM localisation check on the test split (ichtrain.cam; reports after 2026-11-30)."""
    c = ev.get("cam") or {}
    if not c.get("key_slices_with_bleed"):
        return []
    n, k = c["key_slices_with_bleed"], c["peak_cell_on_mask"]
    per = ", ".join(f"{s} {d['peak_cell_on_mask']}/{d['key_slices_with_bleed']}"
                    for s, d in c["by_subtype"].items() if d["key_slices_with_bleed"])
    return ["", f"Grad-CAM (int8, the appliance's key slices at the operating thresholds): on {k} of {n} key slices "
            f"with a bleed ({100 * k / n:.0f} %) in {c['positive_series']} positive test series, the peak's cell of "
            f"the {'x'.join(map(str, c['grid']))} feature grid lies on the generator's bleed mask (a random cell inside "
            f"the head: {100 * c['random_head_cell_on_mask']:.0f} %); by subtype present "
            f"on the slice: {per}. `make model-check` is the release check (15 positive series of its own)."]


def _checkpoint_lines(r: dict) -> list[str]:
    """The slice CNN's validation checks and which one was kept (with an --extra-val set: both losses)."""
    tc = r.get("train_config") or {}
    hist = tc.get("slice_validation") or []
    if not hist:
        return []
    xv = r.get("extra_val") or {}
    extra = "extra_val_weighted_log_loss" in hist[0]
    cam = any(h.get("val_cam_peak_on_mask") is not None for h in hist)
    out = ["", f"Slice CNN checkpoints (rule `{tc.get('val_rule', 'data')}`; kept: after {tc.get('slice_step_kept')} "
           "steps). Validation slice weighted log loss"
           + (f"; extra validation: {', '.join(xv.get('sets') or [])} ({xv.get('series')} sub-series, ordered slices "
              f"{xv.get('slices') or 'all'}), never trained on" if extra else "")
           + ("; CAM peak: share of the positive validation (slice, label) pairs whose Grad-CAM peak cell lies on "
              "that label's bleed mask (every positive slice, not only key slices; not used to choose)" if cam else "")
           + (f"; trained with the localisation term, weight {tc['cam_loss']}" if tc.get("cam_loss") else "") + ":",
           "", "| step | minutes | validation |" + (" extra validation |" if extra else "") + (" CAM peak |" if cam else ""),
           "|---|---|---|" + ("---|" if extra else "") + ("---|" if cam else "")]
    for h in hist:
        out.append(f"| {h['step']}{' (kept)' if h['step'] == tc.get('slice_step_kept') else ''} | {h['seconds'] / 60:.1f} | "
                   f"{h['val_weighted_log_loss']:.4f} |" + (f" {h['extra_val_weighted_log_loss']:.4f} |" if extra else "")
                   + ((" - |" if h.get("val_cam_peak_on_mask") is None else f" {100 * h['val_cam_peak_on_mask']:.1f} % |")
                      if cam else ""))
    return out


def _by_kind_lines(e: dict) -> list[str]:
    """An extra test set's positives, and its negatives with each distinct pixel content once."""
    k = e["int8"].get("by_kind")
    if not k:
        return []
    f = e["float32"]["by_kind"]
    return ["", f"By kind, slice weighted log loss float32 / int8: {k['positive_series']} positive series "
            f"{_f(f['positive_slice_weighted_log_loss'])} / {_f(k['positive_slice_weighted_log_loss'])}; "
            f"{k['negative_series']} negative series holding {k['negative_distinct']} distinct pixel contents, each "
            f"counted once, {_f(f['negative_distinct_slice_weighted_log_loss'])} / "
            f"{_f(k['negative_distinct_slice_weighted_log_loss'])}."]


def _calibration_lines(ev: dict, r: dict) -> list[str]:
    """Temperature scaling and the int8 calibration choice, when the run made them."""
    out = []
    t = (r.get("train_config") or {}).get("temperature")
    if t:
        out += ["", "Temperature scaling per output, fitted on the validation split and folded into the graph's last "
                "layer (probabilities = sigmoid(logit / T); rankings and AUCs unchanged): "
                + ", ".join(f"{s} {t[s]:.2f}" for s in SUBTYPES) + "."]
    cm = ev.get("calibration_methods") or {}
    if cm.get("chosen"):
        rows = []
        for m, d in cm.items():
            if m == "chosen":
                continue
            tst = d.get("test") or {}
            gap = d.get("val_mean_abs_logit_gap")
            rows.append(f"{m}: validation {100 * d['val_relative_change']:+.2f} %"
                        + (f" (mean |logit gap| {gap:.4f})" if gap is not None else "") + ", test "
                        f"{_f(None if tst.get('relative_change') is None else 100 * tst['relative_change'], 2)} % "
                        f"(same series decision {tst.get('series_same_decision')}/{tst.get('series_total')})")
        by_gap = any("val_mean_abs_logit_gap" in d for k, d in cm.items() if k != "chosen")  # bundles before k7: by loss
        why = ("int8 outputs closest to float32's on the validation split: the smaller mean |logit(int8) - logit(float32)|"
               if by_gap else "int8 log loss closer to float32 on the validation split")
        out += ["", f"int8 activation ranges: both made, {cm['chosen']} kept ({why}; test figures only reported). "
                "Relative change int8 vs float32: " + "; ".join(rows) + "."]
    kept = (r.get("quantization") or {}).get("float_convs") or []
    for key, on in (("int8_sensitivity", "validation"), ("int8_sensitivity_extra_val", "the --extra-val sets'")):
        sens = ev.get(key) or []
        if not sens:
            continue
        out += ["", f"Mixed precision (`--float-convs`): {on} int8 log loss (MinMax) with each CNN Conv left "
                "float32 in turn, best first; left float32 in model.onnx: " + (", ".join(f"`{n}`" for n in kept) or "none") + ".",
                "", f"| conv left float32 | {on} int8 weighted log loss |", "|---|---|"]
        out += [f"| {d['float_conv'] or '(none: all int8)'} | {d['val_int8_weighted_log_loss']:.4f} |" for d in sens]
    return out


def _critical_lines(e: dict) -> list[str]:
    """One report sentence for evaluate.appliance_critical's counts (absent in reports before 0.5.0)."""
    c = e.get("appliance_critical")
    if c is None:
        return []
    extra = "; ".join(f"{s} {n}" for s, n in c["negatives_critical_by_subtypes_only"].items())
    return ["", f"int8 series CRITICAL by the appliance's rule (any label at or above its threshold): negatives "
            f"{c['negatives_critical']} of {c['negatives']} ({c['negatives_critical_by_any']} through 'any'"
            f"{', through subtypes only: ' + extra if extra else ''}), positives {c['positives_critical']} of {c['positives']}."]


def render(r: dict) -> str:
    ev, cmp = r["evaluation"], r["evaluation"]["int8_vs_float32"]
    n_test = len(r["splits"]["test"])
    out = [
        "# Evaluation of the default model",
        "",
        "**All accuracy figures below are on SYNTHETIC data** made by the project's generator "
        "(see Provenance); there is no labelled real hemorrhage data on these machines. They say how well "
        "the model learnt the generator's lesions, not how it performs on patients.",
        "",
        *([f"**Model selection:** {r['selection_note']}", ""] if r.get("selection_note") else []),
        "## Reproduce",
        "",
        "```sh",
        "make train      # generate data -> train -> evaluate -> quantize -> calibrate -> package",
        "```",
        "",
        "which ran:",
        "",
        "```sh",
        r["command"],
        "```",
        "",
    ]
    if r.get("added_tests"):
        out += ["then, for held-out sets added afterwards to the same bundle:", "", "```sh", *r["added_tests"], "```", ""]
    out += [
        f"Provenance of the data: {r['provenance'] or 'not recorded'}",
        "",
        f"Splits by a hash of the generator seed (else SeriesInstanceUID): train {len(r['splits']['train'])}, validation "
        f"{len(r['splits']['val'])}, held-out test {n_test} series.",
        *_extra_train_lines(r),
        f"Timings (2 CPU threads): " + ", ".join(f"{k} {v:.0f} s" for k, v in r["timings_s"].items()),
        "",
        "int8 figures are ONNX Runtime with graph optimizations disabled (ORT_DISABLE_ALL), i.e. the QDQ graph "
        "as ONNX defines it, which is what the appliance's engine computes (see docs/model.md).",
        "",
        "## Held-out synthetic test series",
        "",
        "| model | slice weighted log loss | series weighted log loss | slice AUC any | series AUC any |",
        "|---|---|---|---|---|",
    ]
    for k in ("float32", "int8"):
        e = ev[k]
        out.append(f"| {k} | {_f(e['slice']['weighted_log_loss'])} | {_f(e['series']['weighted_log_loss'])} | "
                   f"{_f(e['slice']['per_subtype']['any']['auc'])} | {_f(e['series']['per_subtype']['any']['auc'])} |")
    out += ["", f"int8 against float32: slice weighted log loss {_f(cmp['slice_log_loss_float32'])} -> "
            f"{_f(cmp['slice_log_loss_int8'])} (relative change {_f(None if cmp['relative_change'] is None else 100 * cmp['relative_change'], 2)} %); "
            f"same series decision (any) on {cmp['series_same_decision']}/{cmp['series_total']} series.",
            *_critical_lines(ev["int8"]), *_cam_lines(ev), *_checkpoint_lines(r), *_calibration_lines(ev, r), "", "Goals (issue 4): weighted log loss < 0.05, AUC(any) >= 0.98, int8 within 2 % relative "
            "and the same decision on >= 99 % of series.", ""]
    for k in ("float32", "int8"):
        for level in ("slice", "series"):
            out += [f"### {k}, {level} level (synthetic test set, {ev[k][level]['n']} {level} rows)", ""]
            out += _table(ev[k][level]) + [""]
    for name, e in ev.get("extra_tests", {}).items():
        c = e["int8_vs_float32"]
        rng = (f", only ordered slices {', '.join(f'{a}-{b}' for a, b in e['slice_ranges'])} (each range a sub-series)"
               if e.get("slice_ranges") else "")
        out += [f"## Extra held-out synthetic set '{name}' ({len(e['series'])} series from {e['folder']}{rng})", "",
                "| model | slice weighted log loss | series weighted log loss | slice AUC any | series AUC any |",
                "|---|---|---|---|---|"]
        for k in ("float32", "int8"):
            out.append(f"| {k} | {_f(e[k]['slice']['weighted_log_loss'])} | {_f(e[k]['series']['weighted_log_loss'])} | "
                       f"{_f(e[k]['slice']['per_subtype']['any']['auc'])} | {_f(e[k]['series']['per_subtype']['any']['auc'])} |")
        out += ["", f"Same series decision (any), int8 vs float32: {c['series_same_decision']}/{c['series_total']}.",
                *_critical_lines(e["int8"]), *_by_kind_lines(e), ""]
        for level in ("slice", "series"):
            out += [f"### int8, {level} level ('{name}', {e['int8'][level]['n']} {'series' if level == 'series' else level + 's'})", ""]
            out += _table(e["int8"][level]) + [""]
    out += ["## Operating points", "",
            "Chosen on the validation split with the int8 model at series level (series score = max over "
            "slices): " + "; ".join(f"{s}: {_f(r['thresholds'][s])} ({r['threshold_rule'][s]})" for s in SUBTYPES), ""]
    out += ["## Real exams (no hemorrhage known: real negatives)", ""]
    if not r["real_exams"]:
        out += ["Not run (no --real folder given).", ""]
    for e in r["real_exams"]:
        verdict = ("**FALSE ALERT**: series max above the 'any' threshold" if e["alert_int8"]
                   else "no alert (series max below the 'any' threshold)")
        seen = e.get("slices_seen_in_training")
        out += [f"### {e['folder']} ({e['description']}), {len(e['files'])} slices: {verdict}", ""]
        if seen is not None:
            out += [f"This exam's anatomy is in the training set: real-anatomy insertions used its slices {_ranges(seen)} "
                    "(with and without inserted bleeds), so on those slices it is not an unseen negative; the other "
                    "slices were never trained on.", ""]
            out += ["| slice (ordered) | file | any float32 | any int8 | slice seen in training |", "|---|---|---|---|---|"]
            for i, (fn, a, b) in enumerate(zip(e["files"], e["any_float32"], e["any_int8"])):
                out.append(f"| {i} | {fn} | {a:.4f} | {b:.4f} | {'yes' if i in seen else 'no'} |")
        else:
            out += ["| slice (ordered) | file | any float32 | any int8 |", "|---|---|---|---|"]
            for i, (fn, a, b) in enumerate(zip(e["files"], e["any_float32"], e["any_int8"])):
                out.append(f"| {i} | {fn} | {a:.4f} | {b:.4f} |")
        out.append("")
    arch = r["architecture"]
    out += ["## Model", "",
            f"Backbone {arch['backbone']} ({arch['backbone_gmac_per_slice']:.3f} GMAC per 256x256 slice), "
            f"embedding {arch['embedding']} -> PCA {arch['pca']}; BiLSTM {arch['lstm_layers']} layers, hidden "
            f"{arch['lstm_hidden']}. ONNX opset 17 operators, float32: {', '.join(arch['ops_float32'])}; "
            f"int8: {', '.join(arch['ops_int8'])}.", ""]
    return "\n".join(out)
