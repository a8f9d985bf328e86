"""RSNA-format data: a labels CSV (`ID,Label`, rows `ID_<image>_<subtype>`) and a DICOM folder.

Works with the RSNA 2019 layout (stage_2_train.csv + one `ID_xxx.dcm` per slice, where the
file's SOPInstanceUID is `ID_xxx`) and with `ichtriage phantom` output (labels.csv + nested
series folders, SOPInstanceUID numeric, label key `ID_<SOPInstanceUID>`).
"""
from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom

from .preprocess import PixelSpec, PreprocessError, preprocess_slice, slice_order

SUBTYPES = ("any", "epidural", "intraparenchymal", "intraventricular", "subarachnoid", "subdural")
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


class DataError(Exception):
    """Bad or inconsistent training data, with the file or row that caused it."""


@dataclass
class SliceRef:
    path: str
    sop_uid: str
    series_uid: str
    position: tuple
    orientation: tuple
    instance: int


@dataclass
class Series:
    uid: str
    slices: list[SliceRef]                      # ordered along the slice normal
    labels: np.ndarray | None = None            # [S,6] float32, or None when unlabelled
    description: str = ""
    meta: dict = field(default_factory=dict)


def read_labels(csv_path: str | os.PathLike) -> dict[str, np.ndarray]:
    """labels CSV -> {image key: [6] float32}; every image must have all six labels."""
    out: dict[str, dict[str, int]] = {}
    with open(csv_path, newline="") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        if header is None or [h.strip() for h in header[:2]] != ["ID", "Label"]:
            raise DataError(f"{csv_path}: header must be 'ID,Label', got {header}")
        for lineno, row in enumerate(rows, start=2):
            if not row:
                continue
            if len(row) < 2:
                raise DataError(f"{csv_path}:{lineno}: expected 2 columns, got {row}")
            key, _, subtype = row[0].strip().rpartition("_")
            if subtype not in SUBTYPES or not key:
                raise DataError(f"{csv_path}:{lineno}: ID '{row[0]}' does not end in a known subtype")
            try:
                value = int(float(row[1]))
            except ValueError:
                raise DataError(f"{csv_path}:{lineno}: label '{row[1]}' is not 0 or 1") from None
            if value not in (0, 1):
                raise DataError(f"{csv_path}:{lineno}: label '{row[1]}' is not 0 or 1")
            out.setdefault(key, {})[subtype] = value  # RSNA's file repeats some rows: last wins
    labels = {}
    for key, d in out.items():
        missing = [s for s in SUBTYPES if s not in d]
        if missing:
            raise DataError(f"{csv_path}: image {key} lacks labels {missing}")
        labels[key] = np.array([d[s] for s in SUBTYPES], dtype=np.float32)
    return labels


def _is_axial_ct(ds) -> bool:
    if str(getattr(ds, "SOPClassUID", "")) != CT_IMAGE_STORAGE:
        return False
    image_type = [str(v).upper() for v in getattr(ds, "ImageType", [])]
    if "LOCALIZER" in image_type:
        return False
    return hasattr(ds, "ImagePositionPatient") and hasattr(ds, "ImageOrientationPatient")


def scan_dicom(folder: str | os.PathLike) -> dict[str, list[SliceRef]]:
    """All axial CT slices under `folder` (any nesting, any file names), grouped by series."""
    series: dict[str, list[SliceRef]] = {}
    for root, _, files in os.walk(folder):
        for name in sorted(files):
            if name.upper() in ("DICOMDIR", "DIRFILE") or name.endswith((".csv", ".json", ".md", ".png", ".npy", ".txt")):
                continue
            path = os.path.join(root, name)
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            except Exception:
                continue  # not DICOM: skipped, as the appliance's intake does
            if not _is_axial_ct(ds):
                continue
            ref = SliceRef(path=path, sop_uid=str(ds.SOPInstanceUID), series_uid=str(ds.SeriesInstanceUID),
                           position=tuple(float(v) for v in ds.ImagePositionPatient),
                           orientation=tuple(float(v) for v in ds.ImageOrientationPatient),
                           instance=int(getattr(ds, "InstanceNumber", 0) or 0))
            series.setdefault(ref.series_uid, []).append(ref)
    for uid, refs in series.items():
        seen, unique = set(), []
        for r in refs:
            if r.sop_uid not in seen:
                seen.add(r.sop_uid)
                unique.append(r)
        order = slice_order([r.position for r in unique], unique[0].orientation, [r.instance for r in unique])
        series[uid] = [unique[i] for i in order]
    return series


def _label_for(labels: dict[str, np.ndarray], sop: str):
    return labels.get(f"ID_{sop}", labels.get(sop))


def read_series_table(folder) -> dict[str, dict]:
    """`ichtriage phantom`'s series.csv (seed, anatomy, subtypes per SeriesInstanceUID), if present."""
    path = os.path.join(folder, "series.csv")
    if not os.path.exists(path):
        return {}
    with open(path, newline="") as f:
        return {row["series_instance_uid"]: row for row in csv.DictReader(f) if row.get("series_instance_uid")}


def split_key(series: Series) -> str:
    """What the train/val/test split hashes: the generator seed when known (UIDs differ between
    runs of the generator, seeds do not), else the SeriesInstanceUID."""
    seed = series.meta.get("seed")
    # a sub-series (restrict_to_ranges) keys as the series it was cut from, so that the checks that
    # no series is both trained and tested on see it
    return f"seed:{seed}" if seed not in (None, "") else series.meta.get("parent_uid", series.uid)


def load_index(dicom_dir, labels_csv) -> list[Series]:
    """Labelled series: every slice of every series must have labels (else DataError)."""
    labels = read_labels(labels_csv)
    table = read_series_table(dicom_dir)
    found = scan_dicom(dicom_dir)
    if not found:
        raise DataError(f"{dicom_dir}: no axial CT slices found")
    out = []
    for uid in sorted(found):
        refs = found[uid]
        lab = [_label_for(labels, r.sop_uid) for r in refs]
        missing = [r.path for r, l in zip(refs, lab) if l is None]
        if len(missing) == len(refs):
            continue  # a series the labels file does not cover (e.g. RSNA test images)
        if missing:
            raise DataError(f"series {uid}: {len(missing)} slice(s) without labels, e.g. {missing[0]}")
        out.append(Series(uid=uid, slices=refs, labels=np.stack(lab), meta=dict(table.get(uid, {}))))
    if not out:
        raise DataError(f"{labels_csv}: no label matches a slice under {dicom_dir}")
    return out


def pixel_spec(ds) -> PixelSpec:
    pad = getattr(ds, "PixelPaddingValue", None)
    return PixelSpec(rescale_slope=float(getattr(ds, "RescaleSlope", 1.0) or 1.0),
                     rescale_intercept=float(getattr(ds, "RescaleIntercept", 0.0) or 0.0),
                     bits_stored=int(getattr(ds, "BitsStored", 16)),
                     pixel_representation=int(getattr(ds, "PixelRepresentation", 0)),
                     pixel_padding_value=None if pad is None else int(pad))


def load_slice(path: str) -> np.ndarray:
    ds = pydicom.dcmread(path)
    try:
        stored = ds.pixel_array
    except Exception as e:
        raise PreprocessError(f"{path}: cannot decode pixel data ({e})") from None
    return preprocess_slice(stored, pixel_spec(ds))


def load_series_pixels(series: Series) -> np.ndarray:
    """[S,3,256,256] float32 model input, slices in the series' order."""
    return np.stack([load_slice(r.path) for r in series.slices]).astype(np.float32)


def load_many(series: list[Series], workers: int = 1) -> list[np.ndarray]:
    """load_series_pixels for many series, in `workers` processes (decoding and windowing are the
    slow part of loading thousands of slices; the result is the same as one by one)."""
    if workers <= 1 or len(series) < 2:
        return [load_series_pixels(s) for s in series]
    import multiprocessing as mp
    with mp.get_context("fork").Pool(workers) as pool:
        return pool.map(load_series_pixels, series, chunksize=1)


MASK_GRID = 64  # the bleed masks as training reads them: 8x8 source pixels per cell at 512x512


def mask_path(s: Series, k: int) -> str:
    """Where `ichtriage phantom` writes slice k's bleed mask: OUT/masks/<SOPInstanceUID>.npy, next to
    the series folders (the file exists only for slices with a bleed)."""
    ref = s.slices[k]
    return os.path.join(os.path.dirname(os.path.dirname(ref.path)), "masks", f"{ref.sop_uid}.npy")


def pool_mask_bits(mask: np.ndarray, grid: int = MASK_GRID) -> np.ndarray:
    """[R,C] uint8 bitmask (bit s-1 = SUBTYPES[s], the generator's Subtype.maskBit) -> [grid,grid]:
    each cell the OR of the source pixels it covers, so a cell holds a subtype if any pixel does."""
    R, C = mask.shape
    if R % grid == 0 and C % grid == 0:
        return np.bitwise_or.reduce(np.bitwise_or.reduce(mask.reshape(grid, R // grid, grid, C // grid), axis=3), axis=1)
    rows = np.zeros((grid, C), np.uint8)
    np.bitwise_or.at(rows, np.arange(R) * grid // R, mask)
    out = np.zeros((grid, grid), np.uint8)  # [column cell, row cell]
    np.bitwise_or.at(out, np.arange(C) * grid // C, rows.T)
    return out.T.copy()


def load_series_masks(series: Series, grid: int = MASK_GRID) -> np.ndarray | None:
    """[S,grid,grid] uint8 pooled bleed bitmasks in the series' slice order (zeros where a slice has
    no mask file), or None when the series has no masks folder (RSNA data, the pydicom fixture)."""
    if not os.path.isdir(os.path.dirname(mask_path(series, 0))):
        return None
    out = np.zeros((len(series.slices), grid, grid), np.uint8)
    for k in range(len(series.slices)):
        path = mask_path(series, k)
        if os.path.exists(path):
            out[k] = pool_mask_bits(np.load(path).astype(np.uint8, copy=False), grid)
    return out


def split_of(series_uid: str, fractions: dict[str, float]) -> str:
    """Deterministic split by a hash of the SeriesInstanceUID (independent of file order)."""
    h = int(hashlib.sha256(series_uid.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    acc = 0.0
    for name, frac in fractions.items():
        acc += frac
        if h < acc:
            return name
    return list(fractions)[-1]


def series_labels(labels: np.ndarray) -> np.ndarray:
    """Series label = any slice positive, per subtype."""
    return labels.max(axis=0)


def read_real_exam(folder) -> list[tuple[Series, np.ndarray]]:
    """Unlabelled exams (the real negatives): each axial CT series with its model input."""
    out = []
    for uid, refs in sorted(scan_dicom(folder).items()):
        s = Series(uid=uid, slices=refs)
        ds = pydicom.dcmread(refs[0].path, stop_before_pixels=True)
        s.description = str(getattr(ds, "SeriesDescription", ""))
        out.append((s, load_series_pixels(s)))
    return out


def parse_slice_ranges(spec: str | None) -> list[tuple[int, int]]:
    """'0-6,14-20' -> [(0, 7), (14, 21)] (inclusive ranges of ordered slice indices); '' or None -> []."""
    out = []
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise DataError(f"slice range '{part}' is not N or N-M") from None
        if a < 0 or b < a:
            raise DataError(f"slice range '{part}' is empty or negative")
        out.append((a, b + 1))
    return out


def restrict_to_ranges(index: list[Series], ranges: list[tuple[int, int]]) -> list[Series]:
    """Each series cut into one sub-series per range of ordered slice indices (a contiguous block of
    slices keeps the LSTM's view of neighbours). With no ranges the series are returned as they are.
    Used to keep the real-anatomy slices of training and of held-out testing disjoint."""
    if not ranges:
        return index
    out = []
    for s in index:
        for k, (a, b) in enumerate(ranges):
            if a >= len(s.slices):
                continue
            b = min(b, len(s.slices))
            out.append(Series(uid=f"{s.uid}#slices{a}-{b - 1}", slices=s.slices[a:b],
                              labels=None if s.labels is None else s.labels[a:b], description=s.description,
                              meta={**s.meta, "slice_range": [a, b - 1], "parent_uid": s.meta.get("parent_uid", s.uid)}))
    return out


def ranges_disjoint(r1: list[tuple[int, int]], r2: list[tuple[int, int]]) -> bool:
    """True when two range lists share no slice index (no ranges at all = every slice)."""
    if not r1 or not r2:
        return False
    return not (set().union(*(range(a, b) for a, b in r1)) & set().union(*(range(a, b) for a, b in r2)))


def relpath(p: str, base) -> str:
    return str(Path(p).resolve().relative_to(Path(base).resolve())) if base else p
