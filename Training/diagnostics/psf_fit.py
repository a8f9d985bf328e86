"""usage: psf_fit.py GENERATED_SERIES_DIR... (real exam from $ICHTRIAGE_SHARED_DATA).
Does a long-tailed in-plane PSF explain the real GE exam's bright band under the inner table?
Applies out = (1-w1-w2) img + w1 G(s1) img + w2 G(s2) img to generated slices (HU, outside the field of
view set to air) and compares the lateral depth profile with the real exam's mid-brain slices."""
import sys, os, itertools
import numpy as np
from scipy import ndimage as ndi
from _series import cranial_cavity, load_hu_series, two_gaussian_psf as psf
def load(folder):
    return [(a, sp) for a, sp, _ in load_hu_series(folder)]
def profile(a, sp, bands=(1,2,3,4,6,9)):
    _,_,cav=cranial_cavity(a); d=ndi.distance_transform_edt(cav)*sp
    ys,xs=np.nonzero(cav); cx=xs.mean(); half=(xs.max()-xs.min())/2
    lat=np.zeros_like(cav); lat[:, :int(cx-half*0.5)]=True; lat[:, int(cx+half*0.5):]=True
    prof=[np.median(a[cav&lat&(d>=b)&(d<b+1)]) for b in bands]
    centre=np.median(a[cav&(d>25)]) if (cav&(d>25)).sum()>100 else np.nan
    return np.array(prof), centre
real=load(os.path.join(os.environ.get('ICHTRIAGE_SHARED_DATA', '../shared/data/real-head-ct'), 'ge-hispeed-human'))
R=[profile(a,sp) for a,sp in real[15:21]]
rp=np.mean([p-c for p,c in R],axis=0); print('real mid-brain excess over centre by band 1-2,2-3,3-4,4-5,6-7,9-10 mm:', np.round(rp,1), 'centre', np.round([c for _,c in R],0))
gens=[]
for s in sys.argv[1:]:
    g=load(s); n=len(g); gens+= [g[i] for i in range(n//2-2, n//2+3)]
best=[]
for w1,s1,w2,s2 in itertools.product([0,0.03,0.06,0.1],[1,2,3],[0,0.01,0.02,0.04,0.06],[5,8,12]):
    if (w1==0 and s1!=1) or (w2==0 and s2!=5): continue
    P=[profile(psf(a,sp,w1,s1,w2,s2),sp) for a,sp in gens]
    gp=np.mean([p-c for p,c in P],axis=0)
    err=np.sqrt(np.mean((gp-rp)**2)); best.append((err,w1,s1,w2,s2,np.round(gp,1)))
best.sort(key=lambda t:t[0])
for b in best[:6]: print('rms %.1f  w1 %.2f s1 %g mm  w2 %.2f s2 %g mm  excess %s'%b)
print('no psf:', [b for b in best if b[1]==0 and b[3]==0])
