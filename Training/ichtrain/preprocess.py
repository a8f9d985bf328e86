"""The model's input preprocessing, exactly as written in Training/PREPROCESSING.md.

The appliance re-implements this in Swift; any change here must change that document and the
Swift code together, or the shipped model sees different pixels than it was trained on.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OUT_SIZE = 256
# (centre, width) in HU: brain, subdural, soft tissue -> channels 0, 1, 2.
WINDOWS: tuple[tuple[float, float], ...] = ((40.0, 80.0), (80.0, 200.0), (40.0, 380.0))
PADDING_HU = np.float32(-1024.0)


class PreprocessError(Exception):
    """A slice whose pixels cannot be turned into model input (says which and why)."""


@dataclass(frozen=True)
class PixelSpec:
    """The header fields preprocessing needs (one slice)."""
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    bits_stored: int = 16
    pixel_representation: int = 1
    pixel_padding_value: int | None = None


def to_hu(stored: np.ndarray, spec: PixelSpec) -> np.ndarray:
    """Stored values -> HU (float32), padding -> -1024, with the RSNA 12-bit quirk undone."""
    raw = np.asarray(stored)
    if raw.ndim != 2:
        raise PreprocessError(f"pixel data must be 2-D, got shape {raw.shape}")
    s = raw.astype(np.int32)
    pad = (s == int(spec.pixel_padding_value)) if spec.pixel_padding_value is not None else None
    if spec.bits_stored == 12 and spec.pixel_representation == 0 and spec.rescale_intercept > -100:
        # Some RSNA files hold signed 12-bit values in an unsigned container: 4095 means -1.
        s = np.where(s >= 2048, s - 4096, s)
    hu = s.astype(np.float32) * np.float32(spec.rescale_slope) + np.float32(spec.rescale_intercept)
    if pad is not None:
        hu[pad] = PADDING_HU
    return hu


def window(hu: np.ndarray) -> np.ndarray:
    """HU [H,W] -> three windows [3,H,W] float32 in [0,1]."""
    chans = []
    for c, w in WINDOWS:
        lo = np.float32(c - w / 2.0)
        chans.append(np.clip((hu - lo) / np.float32(w), np.float32(0), np.float32(1)))
    return np.stack(chans).astype(np.float32, copy=False)


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] weights: output cell i averages input span [i*n_in/n_out, (i+1)*n_in/n_out)."""
    m = np.zeros((n_out, n_in), dtype=np.float64)
    scale = n_in / n_out
    for i in range(n_out):
        a, b = i * scale, (i + 1) * scale
        for j in range(int(np.floor(a)), min(int(np.ceil(b)), n_in)):
            m[i, j] = (min(b, j + 1) - max(a, j)) / scale
    return m


def downscale(x: np.ndarray) -> np.ndarray:
    """[3,H,W] -> [3,256,256] by area averaging (exact k x k block means when H, W = k*256)."""
    _, h, w = x.shape
    if h == w and h % OUT_SIZE == 0:
        k = h // OUT_SIZE
        if k == 1:
            return x.astype(np.float32, copy=True)
        if k == 2:  # the common case; this summation order is the documented one
            return (((x[:, 0::2, 0::2] + x[:, 0::2, 1::2]) + (x[:, 1::2, 0::2] + x[:, 1::2, 1::2]))
                    * np.float32(0.25)).astype(np.float32)
        return x.reshape(3, OUT_SIZE, k, OUT_SIZE, k).mean(axis=(2, 4), dtype=np.float64).astype(np.float32)
    r = _area_matrix(h, OUT_SIZE)
    c = _area_matrix(w, OUT_SIZE)
    return np.stack([r @ ch @ c.T for ch in x.astype(np.float64)]).astype(np.float32)


def preprocess_slice(stored: np.ndarray, spec: PixelSpec) -> np.ndarray:
    """One slice's stored pixels -> model input [3,256,256] float32."""
    return downscale(window(to_hu(stored, spec)))


def slice_normal(orientation) -> np.ndarray:
    """Unit normal of ImageOrientationPatient (row x column)."""
    o = np.asarray([float(v) for v in orientation], dtype=np.float64)
    if o.shape != (6,):
        raise PreprocessError(f"ImageOrientationPatient needs 6 values, got {len(o)}")
    n = np.cross(o[:3], o[3:])
    norm = np.linalg.norm(n)
    if norm < 1e-6:
        raise PreprocessError("ImageOrientationPatient rows and columns are parallel")
    return n / norm


def slice_order(positions, orientation, tiebreak=None) -> list[int]:
    """Indices that sort slices along the normal (ascending IPP . normal), ties by `tiebreak`."""
    n = slice_normal(orientation)
    keys = [float(np.dot(np.asarray([float(v) for v in p]), n)) for p in positions]
    tb = list(tiebreak) if tiebreak is not None else list(range(len(keys)))
    return sorted(range(len(keys)), key=lambda i: (keys[i], tb[i]))
