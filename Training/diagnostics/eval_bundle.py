"""Evaluate a bundle's int8 model.onnx (and a float32 onnx when given) on a labelled folder, at the
bundle's thresholds: slice weighted log loss, AUC(any), series decisions, by_kind.
usage: eval_bundle.py BUNDLE FOLDER [FLOAT_ONNX]   (run from Training/ with .venv/bin/python; SLICES=7-13,21-27 restricts to ordered slices)"""
import sys, json, os
import numpy as np
sys.path.insert(0, os.getcwd())
from ichtrain.evaluate import evaluate_set
from ichtrain.data import SUBTYPES
from ichtrain.pipeline import parse_slice_ranges
bundle, folder = sys.argv[1], sys.argv[2]
fl = sys.argv[3] if len(sys.argv) > 3 else os.path.join(bundle, "model.onnx")
m = json.load(open(os.path.join(bundle, "manifest.json")))
thr = np.array([m["thresholds"][s] for s in SUBTYPES])
e = evaluate_set(folder, fl, os.path.join(bundle, "model.onnx"), thr, 2, parse_slice_ranges(os.environ.get("SLICES", "")))
out = {}
for k in ("float32", "int8"):
    r = e[k]
    out[k] = {"slice_wll": r["slice"]["weighted_log_loss"], "auc_any_slice": r["slice"]["per_subtype"]["any"]["auc"],
              "auc_any_series": r["series"]["per_subtype"]["any"]["auc"], "series_wll": r["series"]["weighted_log_loss"],
              "appliance_critical": r["appliance_critical"], "by_kind": r.get("by_kind")}
out["int8_vs_float32"] = e.get("int8_vs_float32")
out["version"] = m["version"]; out["folder"] = folder
print(json.dumps(out, indent=1, default=str))
