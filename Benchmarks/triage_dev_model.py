"""Development-only model bundle for the triage pipeline: an UNTRAINED detector (random weights),
exported and int8-quantized with the training toolkit exactly as the real pipeline does, plus a
manifest with placeholder thresholds. Its probabilities mean nothing; it exists so the pipeline,
Grad-CAM, outputs and benchmark can run before Models/default is trained.

  /work/wt-training/Training/.venv/bin/python Benchmarks/triage_dev_model.py OUT_DIR [TOOLKIT_DIR]

Never commit the output (torch artefacts stay out of the repository).
"""
import json
import os
import sys

out = sys.argv[1]
toolkit = sys.argv[2] if len(sys.argv) > 2 else "/work/wt-training/Training"
sys.path.insert(0, toolkit)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ichtrain.model import Detector, SequenceHead, SliceNet  # noqa: E402
from ichtrain.export import export_onnx  # noqa: E402
from ichtrain.calibrate import quantize  # noqa: E402
from ichtrain.data import SUBTYPES  # noqa: E402

torch.manual_seed(0)
rng = np.random.default_rng(0)
os.makedirs(out, exist_ok=True)
net = SliceNet("small")
det = Detector(net, SequenceHead(net.backbone.out_channels)).eval()
sample = rng.uniform(0, 1, size=(3, 3, 256, 256)).astype(np.float32)
float_path = os.path.join(out, "model_float.onnx")
export_onnx(det, float_path, sample)
calib = [rng.uniform(0, 1, size=(2, 3, 256, 256)).astype(np.float32) for _ in range(4)]
quantize(float_path, os.path.join(out, "model.onnx"), calib)
os.remove(float_path)
manifest = {
    "format": "ichtriage-model-bundle/0 (unsigned)",
    "name": "dev-untrained", "version": "0.0.0-dev",
    "model": "model.onnx", "labels": list(SUBTYPES),
    "thresholds": {s: 0.5 for s in SUBTYPES},
    "threshold_rule": {"note": "placeholder: untrained development model"},
}
with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=2)
print("wrote", out)
