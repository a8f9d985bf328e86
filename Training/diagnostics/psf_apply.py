"""Apply the fitted long-tailed PSF to every DICOM slice under SRC, writing the same files under DST
(UIDs, labels and masks unchanged): out = (1-w1-w2) img + w1 G(s1) img + w2 G(s2) img, in HU, outside
the field of view as air; padding kept. usage: psf_apply.py SRC DST [jobs]"""
import sys, os, glob, shutil, numpy as np, pydicom
from _series import two_gaussian_psf
from multiprocessing import Pool
W1, S1, W2, S2 = 0.10, 2.0, 0.05, 8.0
def one(args):
    src, dst = args
    d = pydicom.dcmread(src)
    raw = d.pixel_array
    slope, icpt = float(d.RescaleSlope), float(d.RescaleIntercept)
    hu = raw.astype(np.float32) * slope + icpt
    pad = getattr(d, 'PixelPaddingValue', None)
    outside = (raw == pad) if pad is not None else np.zeros(raw.shape, bool)
    a = hu.copy(); a[outside] = -1000; a[a < -1024] = -1000
    sp = float(d.PixelSpacing[0])
    b = two_gaussian_psf(a, sp, W1, S1, W2, S2)
    st = np.rint((b - icpt) / slope)
    info = np.iinfo(raw.dtype)
    lo = 0 if d.PixelRepresentation == 0 else -1024 - icpt
    hi = 4095 if d.BitsStored == 12 else 3071 - icpt
    st = np.clip(st, max(lo, info.min), min(hi, info.max)).astype(raw.dtype)
    st[outside] = raw[outside]
    d.PixelData = st.tobytes()
    d.save_as(dst)
def main():
    src, dst = sys.argv[1], sys.argv[2]; jobs = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    work = []
    for root, dirs, files in os.walk(src):
        out = os.path.join(dst, os.path.relpath(root, src)); os.makedirs(out, exist_ok=True)
        for f in files:
            p = os.path.join(root, f)
            if f.endswith('.dcm'): work.append((p, os.path.join(out, f)))
            else: shutil.copy2(p, os.path.join(out, f))
    with Pool(jobs) as pool:
        for i, _ in enumerate(pool.imap_unordered(one, work, chunksize=16)):
            if i % 2000 == 0: print(i, '/', len(work), flush=True)
    print('done', len(work))
main()
