"""Tiny RSNA-format test sets written with pydicom (for the toolkit's own tests only).

Crude on purpose: an elliptic head with a skull ring, brain, ventricles, and bright blobs
placed by subtype. The realistic synthetic data for training comes from `ichtriage phantom`.
`python -m ichtrain fixture --out DIR --count K --seed N [--rsna-layout]`.
"""
from __future__ import annotations

import argparse
import os

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from .data import CT_IMAGE_STORAGE, SUBTYPES


def _head(n, rng):
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    cy, cx = n / 2 + rng.uniform(-n * 0.03, n * 0.03), n / 2 + rng.uniform(-n * 0.03, n * 0.03)
    ay, ax = n * rng.uniform(0.36, 0.42), n * rng.uniform(0.30, 0.35)
    r = np.sqrt(((yy - cy) / ay) ** 2 + ((xx - cx) / ax) ** 2)
    return yy, xx, cy, cx, ay, ax, r


def make_slice(n, rng, subtypes):
    """HU image [n,n] with the listed subtypes drawn in; returns (hu, outside-FOV mask)."""
    yy, xx, cy, cx, ay, ax, r = _head(n, rng)
    hu = np.full((n, n), -1000.0, dtype=np.float32)
    hu[r < 1.08] = 20.0              # scalp
    hu[r < 1.0] = 1200.0             # skull
    hu[r < 0.93] = 32.0              # brain
    vent = (((yy - cy) / (ay * 0.25)) ** 2 + ((xx - cx) / (ax * 0.12)) ** 2) < 1
    hu[vent] = 6.0
    ang = rng.uniform(0, 2 * np.pi)
    bleed = float(rng.uniform(60, 85))
    for s in subtypes:
        if s == "epidural":        # lens at the inner table
            py, px = cy + 0.86 * ay * np.sin(ang), cx + 0.86 * ax * np.cos(ang)
            m = (((yy - py) ** 2 + (xx - px) ** 2) < (n * 0.06) ** 2) & (r < 0.93)
        elif s == "subdural":      # crescent along the inner table
            th = np.arctan2((yy - cy) / ay, (xx - cx) / ax)
            m = (r > 0.85) & (r < 0.93) & (np.cos(th - ang) > 0.3)
        elif s == "intraparenchymal":
            py, px = cy + 0.45 * ay * np.sin(ang), cx + 0.45 * ax * np.cos(ang)
            d = np.sqrt((yy - py) ** 2 + (xx - px) ** 2)
            hu[(d < n * 0.07) & (r < 0.93)] = 18.0   # edema rim
            m = d < n * 0.05
        elif s == "intraventricular":
            m = vent & (yy > cy)
        else:                      # subarachnoid: thin bright lines in "sulci"
            m = (np.abs(np.sin((xx - cx) / (n * 0.02))) < 0.12) & (r > 0.6) & (r < 0.9)
        hu[m] = bleed
    hu += rng.normal(0, 4, size=hu.shape).astype(np.float32)
    fov = ((yy - n / 2) ** 2 + (xx - n / 2) ** 2) > (n * 0.49) ** 2
    return hu, fov


def _uid(rng) -> str:
    """A UID drawn from the set's generator: the same seed gives the same UIDs, so the same split by UID
    (random UIDs made the tests' train/val/test sizes vary from run to run)."""
    return generate_uid(entropy_srcs=[str(int(rng.integers(1 << 62)))])


def write_series(out_dir, rng, n_slices, n, subtypes, encoding, rsna_layout, labels_rows, study_uid=None):
    series_uid = _uid(rng)
    study_uid = study_uid or _uid(rng)
    thick = float(rng.choice([3.0, 5.0]))
    lesion_slices = set(range(n_slices // 3, n_slices // 3 + max(1, n_slices // 3))) if subtypes else set()
    order = rng.permutation(n_slices)  # files written in random order: the loader must sort
    folder = out_dir if rsna_layout else os.path.join(out_dir, series_uid)
    os.makedirs(folder, exist_ok=True)
    for k in order:
        present = subtypes if k in lesion_slices else []
        hu, fov = make_slice(n, np.random.default_rng(rng.integers(1 << 31)), present)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
        sop = ("ID_" + _uid(rng)[-12:].replace(".", "")) if rsna_layout else _uid(rng)
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = CT_IMAGE_STORAGE, sop
        ds.Modality, ds.ImageType = "CT", ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.InstanceNumber = int(k) + 1
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-125.0, -125.0, float(k) * thick]
        ds.SliceThickness = thick
        ds.PixelSpacing = [250.0 / n, 250.0 / n]
        ds.Rows = ds.Columns = n
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.HighBit = 16, 15
        if encoding == "signed":           # stored = HU, padding -2000
            ds.BitsStored, ds.PixelRepresentation = 16, 1
            ds.RescaleIntercept, ds.RescaleSlope = 0, 1
            stored = np.round(hu).astype(np.int16)
            ds.PixelPaddingValue = -2000
            stored[fov] = -2000
        elif encoding == "unsigned12":     # stored = HU + 1024
            ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, 0
            ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
            stored = np.clip(np.round(hu + 1024), 0, 4095).astype(np.uint16)
        else:                              # "rsna_quirk": signed 12-bit values in an unsigned container
            ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, 0
            ds.RescaleIntercept, ds.RescaleSlope = 0, 1
            stored = (np.clip(np.round(hu), -2048, 2047).astype(np.int32) & 0xFFF).astype(np.uint16)
        ds.PixelData = stored.tobytes()
        name = f"{sop}.dcm" if rsna_layout else f"IM{int(k):04d}.dcm"
        try:
            ds.save_as(os.path.join(folder, name), enforce_file_format=True)
        except TypeError:  # pydicom < 3
            ds.is_little_endian, ds.is_implicit_VR = True, False
            ds.save_as(os.path.join(folder, name), write_like_original=False)
        y = {s: int(k in lesion_slices and (s == "any" or s in subtypes)) for s in SUBTYPES}
        labels_rows.extend(f"ID_{sop.removeprefix('ID_')}_{s},{v}" for s, v in y.items())
    return series_uid


def make_set(out_dir, count, seed, n_slices=8, matrix=512, rsna_layout=False):
    """`count` series, about half positive; labels in OUT/labels.csv (RSNA layout: stage_2_train.csv)."""
    rng = np.random.default_rng(seed)
    os.makedirs(out_dir, exist_ok=True)
    rows = []
    encodings = ["signed", "unsigned12", "rsna_quirk"]
    for i in range(count):
        if i % 2 == 0:
            subtypes = []
        else:
            subtypes = list(rng.choice(SUBTYPES[1:], size=int(rng.integers(1, 3)), replace=False))
        write_series(out_dir, rng, n_slices, matrix, subtypes, encodings[i % 3], rsna_layout, rows)
    name = "stage_2_train.csv" if rsna_layout else "labels.csv"
    with open(os.path.join(out_dir, name), "w") as f:
        f.write("ID,Label\n" + "\n".join(rows) + "\n")
    return os.path.join(out_dir, name)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ichtrain fixture", description=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--slices", type=int, default=8)
    ap.add_argument("--matrix", type=int, default=512)
    ap.add_argument("--rsna-layout", action="store_true")
    a = ap.parse_args(argv)
    print(make_set(a.out, a.count, a.seed, a.slices, a.matrix, a.rsna_layout))
    return 0
