import os

import numpy as np
import pydicom
import pytest

from ichtrain.data import DataError, load_index, load_series_pixels, read_labels, read_real_exam
from ichtrain.fixtures import make_set


def test_read_labels_errors(tmp_path):
    p = tmp_path / "l.csv"
    p.write_text("Id,Label\n")
    with pytest.raises(DataError, match="header"):
        read_labels(p)
    p.write_text("ID,Label\nID_1.2_any,1\nID_1.2_epidural,0\n")
    with pytest.raises(DataError, match="lacks labels"):
        read_labels(p)
    p.write_text("ID,Label\nID_1.2_foo,1\n")
    with pytest.raises(DataError, match="subtype"):
        read_labels(p)
    p.write_text("ID,Label\nID_1.2_any,2\n")
    with pytest.raises(DataError, match="0 or 1"):
        read_labels(p)


@pytest.mark.parametrize("rsna_layout", [False, True])
def test_fixture_set_loads_ordered_with_labels(tmp_path, rsna_layout):
    csv = make_set(str(tmp_path), count=3, seed=7, n_slices=5, matrix=512, rsna_layout=rsna_layout)
    index = load_index(str(tmp_path), csv)
    assert len(index) == 3
    for s in index:
        z = [r.position[2] for r in s.slices]
        assert z == sorted(z)
        assert s.labels.shape == (5, 6)
        assert ((s.labels[:, 1:].max(axis=1)) == s.labels[:, 0]).all()  # any = some subtype
        x = load_series_pixels(s)
        assert x.shape == (5, 3, 256, 256) and x.dtype == np.float32
        assert 0.0 <= x.min() and x.max() <= 1.0
    assert any(s.labels[:, 0].any() for s in index)


def test_unlabelled_slice_in_labelled_series_is_an_error(tmp_path):
    csv = make_set(str(tmp_path), count=2, seed=8, n_slices=4, matrix=256)
    lines = open(csv).read().splitlines()
    open(csv, "w").write("\n".join(lines[:-6]) + "\n")  # drop the last slice's six rows
    with pytest.raises(DataError, match="without labels"):
        load_index(str(tmp_path), csv)


def test_encodings_give_same_hu(tmp_path):
    """The three fixture encodings (signed, 12-bit unsigned -1024, RSNA quirk) decode to the same HU range."""
    make_set(str(tmp_path), count=3, seed=9, n_slices=2, matrix=256)
    means = []
    for s in load_index(str(tmp_path), os.path.join(tmp_path, "labels.csv")):
        x = load_series_pixels(s)
        means.append(float(x[:, 0].mean()))
    assert max(means) - min(means) < 0.05


def test_real_exams_are_read_and_ordered(real_data):
    exams = read_real_exam(real_data)
    sizes = sorted(x.shape[0] for _, x in exams)
    assert sizes == [28, 28]  # GE series + Philips S2010; localizer and secondary captures skipped
    for s, x in exams:
        assert x.shape[1:] == (3, 256, 256)
        ds = pydicom.dcmread(s.slices[0].path, stop_before_pixels=True)
        assert ds.Modality == "CT"
