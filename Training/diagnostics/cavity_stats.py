"""usage: cavity_stats.py SERIES_DIR...
Per slice of a series folder (ordered by position): cavity area / the series' widest cavity and the
median HU of the brain more than 5 mm from bone (the calvarial-shift measurement, docs/phantom.md)."""
import pydicom, numpy as np, sys, glob, os
from scipy import ndimage as ndi
def load(folder):
    out=[]
    for f in glob.glob(os.path.join(folder,'*.dcm')) or [p for p in glob.glob(os.path.join(folder,'*')) if os.path.isfile(p)]:
        d=pydicom.dcmread(f)
        if not hasattr(d,'ImagePositionPatient'): continue
        iop=np.array([float(v) for v in d.ImageOrientationPatient]); n=np.cross(iop[:3],iop[3:])
        a=d.pixel_array.astype(np.float32)*float(d.RescaleSlope)+float(d.RescaleIntercept)
        out.append((float(np.dot(n,[float(v) for v in d.ImagePositionPatient])),a,float(d.PixelSpacing[0])))
    return sorted(out,key=lambda t:t[0])
for folder in sys.argv[1:]:
    sl=load(folder); rows=[]
    for pos,a,sp in sl:
        bone=a>300; closed=ndi.binary_closing(bone,iterations=4); filled=ndi.binary_fill_holes(closed)
        cav=filled&~closed&(a>-30)&(a<120); dist=ndi.distance_transform_edt(~bone)*sp
        inner=cav&(dist>5); b=a[inner]
        rows.append((pos,cav.sum()*sp*sp,np.median(b) if b.size>50 else float('nan'),100*((b>=50)&(b<=90)).mean() if b.size>50 else float('nan')))
    mx=max(r[1] for r in rows) or 1
    print(folder)
    for i,(pos,area,med,share) in enumerate(rows):
        if area>0.03*mx: print('  %2d z %7.1f cavity %.2f inner median %5.1f  50-90 %5.1f%%'%(i,pos,area/mx,med,share))
