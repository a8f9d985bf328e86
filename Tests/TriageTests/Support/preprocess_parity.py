"""Preprocessing parity: the training toolkit's preprocessing (Training/ichtrain/preprocess.py) against
the appliance's, on the same DICOM slices. Prints one JSON line.

  python preprocess_parity.py TOOLKIT_DIR SWIFT_DIR
SWIFT_DIR holds what the Swift test wrote: uids.txt and paths.txt (one slice a line, series order),
input.f32 ([N,3,256,256] float32, the appliance's input) and hu.f32 ([N,rows,cols] float32, its HU) with
shape.txt ("N rows cols"). With pydicom importable the toolkit reads the DICOM files itself
(ichtrain.data.load_slice: pydicom decode + to_hu + window + downscale); without it, it starts from the
appliance's HU (window + downscale only) and says so in "mode".
"""
import json
import os
import sys

import numpy as np

toolkit, d = sys.argv[1], sys.argv[2]
sys.path.insert(0, toolkit)
n, rows, cols = (int(v) for v in open(os.path.join(d, "shape.txt")).read().split())
paths = open(os.path.join(d, "paths.txt")).read().splitlines()
ours = np.fromfile(os.path.join(d, "input.f32"), dtype=np.float32).reshape(n, 3, 256, 256)
try:
    import pydicom  # noqa: F401
    from ichtrain.data import load_slice
    theirs = np.stack([load_slice(p) for p in paths])
    mode = "toolkit: pydicom decode + to_hu + window + downscale"
except ImportError:
    from ichtrain.preprocess import downscale, window
    hu = np.fromfile(os.path.join(d, "hu.f32"), dtype=np.float32).reshape(n, rows, cols)
    theirs = np.stack([downscale(window(h)) for h in hu])
    mode = "toolkit window + downscale on the appliance's HU (no pydicom here)"
diff = np.abs(theirs.astype(np.float64) - ours.astype(np.float64))
print(json.dumps({"mode": mode, "slices": n, "max_abs_diff": float(diff.max()),
                  "mean_abs_diff": float(diff.mean()), "exact_fraction": float((diff == 0).mean())}))
