"""The model bundle the appliance installs: model.onnx + manifest.json + self-test vectors + report.

No signature yet: the signed bundle format belongs to another issue; manifest.json says so and
lists the SHA-256 of every other file so the signature can later cover the manifest alone.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os

import numpy as np

from .data import SUBTYPES
from .preprocess import OUT_SIZE, WINDOWS

FORMAT = "ichtriage-model-bundle/0 (unsigned)"


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_selftest(bundle_dir: str, slices: np.ndarray, outputs: list[np.ndarray]) -> list[str]:
    names = ["selftest_input.npy", "selftest_probs.npy", "selftest_slice_logits.npy", "selftest_features.npy"]
    for name, arr in zip(names, [slices, *outputs]):
        np.save(os.path.join(bundle_dir, name), arr.astype(np.float32))
    return names


def write_manifest(bundle_dir: str, *, name: str, version: str, thresholds, threshold_notes: dict,
                   calibration_id: str, quantization: dict, architecture: dict, created: str | None = None) -> dict:
    files = sorted(f for f in os.listdir(bundle_dir) if f != "manifest.json" and not f.startswith("."))
    manifest = {
        "format": FORMAT,
        "signature": None,
        "signature_note": "not signed yet: the signed bundle format comes from a later issue",
        "name": name,
        "version": version,
        "created": created or dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "model": "model.onnx",
        "input": {"name": "slices", "dtype": "float32", "shape": ["S", 3, OUT_SIZE, OUT_SIZE],
                  "slice_order": "ascending ImagePositionPatient . (row x column of ImageOrientationPatient)",
                  "windows": [{"channel": i, "center": c, "width": w} for i, (c, w) in enumerate(WINDOWS)],
                  "preprocessing": "Training/PREPROCESSING.md"},
        "outputs": {"probs": ["S", 6], "slice_logits": ["S", 6], "features": ["S", "C", "h", "w"]},
        "labels": list(SUBTYPES),
        "series_score": "max over slices of probs",
        "thresholds": {s: float(t) for s, t in zip(SUBTYPES, thresholds)},
        "threshold_rule": threshold_notes,
        "calibration_id": calibration_id,
        "quantization": quantization,
        "architecture": architecture,
        "selftest": {"input": "selftest_input.npy", "probs": "selftest_probs.npy",
                     "slice_logits": "selftest_slice_logits.npy", "features": "selftest_features.npy",
                     "tolerance_abs": {"probs": 0.02, "slice_logits": 0.25},
                     "note": "expected outputs from ONNX Runtime (CPU) on model.onnx with graph optimizations "
                              "disabled (ORT_DISABLE_ALL: each DequantizeLinear -> float op -> QuantizeLinear as "
                              "ONNX defines QDQ), the semantics the appliance's engine implements. ORT's optimized "
                              "x86 uint8 x int8 kernels without VNNI saturate int16 pair sums and differ from them."},
        "files": {f: sha256(os.path.join(bundle_dir, f)) for f in files},
    }
    with open(os.path.join(bundle_dir, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=2)
        fh.write("\n")
    return manifest


def verify(bundle_dir: str) -> list[str]:
    """Problems found (empty when every listed file exists with its SHA-256)."""
    with open(os.path.join(bundle_dir, "manifest.json")) as fh:
        m = json.load(fh)
    problems = []
    for f, digest in m["files"].items():
        p = os.path.join(bundle_dir, f)
        if not os.path.exists(p):
            problems.append(f"{f}: missing")
        elif sha256(p) != digest:
            problems.append(f"{f}: SHA-256 differs from the manifest")
    return problems
