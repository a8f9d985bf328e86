"""usage: cavity_stats.py SERIES_DIR...
Per slice of a series folder (ordered by position): cavity area / the series' widest cavity and the
median HU of the brain more than 5 mm from bone (the calvarial-shift measurement, docs/phantom.md)."""
import sys
import numpy as np
from scipy import ndimage as ndi
from _series import cranial_cavity, load_hu_series
for folder in sys.argv[1:]:
    rows=[]
    for a,sp,z in load_hu_series(folder):
        bone,_,cav=cranial_cavity(a); cav&=(a>-30)&(a<120); dist=ndi.distance_transform_edt(~bone)*sp
        inner=cav&(dist>5); b=a[inner]
        rows.append((z,cav.sum()*sp*sp,np.median(b) if b.size>50 else float('nan'),100*((b>=50)&(b<=90)).mean() if b.size>50 else float('nan')))
    mx=max(r[1] for r in rows) or 1
    print(folder)
    for i,(z,area,med,share) in enumerate(rows):
        if area>0.03*mx: print('  %2d z %7.1f cavity %.2f inner median %5.1f  50-90 %5.1f%%'%(i,z,area/mx,med,share))
