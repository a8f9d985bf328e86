"""What the diagnostics share: a folder's slices in HU, ordered along the normal (the toolkit's own
pixel_spec, to_hu and slice_order), the two-component point-spread, and the cranial cavity of one slice."""
import glob, os, sys
import numpy as np, pydicom
from scipy import ndimage as ndi
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from ichtrain.data import pixel_spec
from ichtrain.preprocess import slice_normal, slice_order, to_hu


def load_hu_series(folder):
    """[(hu float32 with everything below -1024 as -1024, pixel spacing mm, position along the normal
    mm)] in slice order; files without a position (DICOMDIR, localizer headers) are left out."""
    paths = glob.glob(os.path.join(folder, "*.dcm")) or [p for p in glob.glob(os.path.join(folder, "*")) if os.path.isfile(p)]
    ds = [d for d in (pydicom.dcmread(p) for p in paths) if hasattr(d, "ImagePositionPatient")]
    if not ds:
        return []
    normal = slice_normal(ds[0].ImageOrientationPatient)
    order = slice_order([d.ImagePositionPatient for d in ds], ds[0].ImageOrientationPatient)
    return [(np.maximum(to_hu(ds[i].pixel_array, pixel_spec(ds[i])), -1024), float(ds[i].PixelSpacing[0]),
             float(np.dot([float(v) for v in ds[i].ImagePositionPatient], normal))) for i in order]


def two_gaussian_psf(a, sp, w1, s1, w2, s2):
    """(1-w1-w2) a + w1 G(s1 mm) a + w2 G(s2 mm) a, edges clamped; a zero weight skips its Gaussian."""
    out = (1 - w1 - w2) * a
    if w1: out = out + w1 * ndi.gaussian_filter(a, s1 / sp, mode='nearest')
    if w2: out = out + w2 * ndi.gaussian_filter(a, s2 / sp, mode='nearest')
    return out


def cranial_cavity(hu):
    """(bone > 300 HU, the bone closed by 4 steps, what the closed bone encloses minus the bone)."""
    bone = hu > 300
    closed = ndi.binary_closing(bone, iterations=4)
    return bone, closed, ndi.binary_fill_holes(closed) & ~closed
