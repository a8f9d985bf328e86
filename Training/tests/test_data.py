import os

import numpy as np
import pydicom
import pytest

from ichtrain.data import (DataError, Series, load_index, load_many, load_series_pixels, parse_slice_ranges,
                           ranges_disjoint, read_labels, read_real_exam, restrict_to_ranges, split_key)
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
        means.append(float(x[s.labels[:, 0] == 0, 0].mean()))  # slices without a lesion: the same anatomy
    assert max(means) - min(means) < 0.05


def test_real_exams_are_read_and_ordered(real_data):
    exams = read_real_exam(real_data)
    sizes = sorted(x.shape[0] for _, x in exams)
    assert sizes == [28, 28]  # GE series + Philips S2010; localizer and secondary captures skipped
    for s, x in exams:
        assert x.shape[1:] == (3, 256, 256)
        ds = pydicom.dcmread(s.slices[0].path, stop_before_pixels=True)
        assert ds.Modality == "CT"


def test_slice_ranges_parse_and_check_disjointness():
    assert parse_slice_ranges("0-6, 14-20") == [(0, 7), (14, 21)]
    assert parse_slice_ranges("3") == [(3, 4)] and parse_slice_ranges("") == []
    for bad in ("a-b", "5-2", "-1-3"):
        with pytest.raises(DataError):
            parse_slice_ranges(bad)
    assert ranges_disjoint(parse_slice_ranges("0-6,14-20"), parse_slice_ranges("7-13,21-27"))
    assert not ranges_disjoint(parse_slice_ranges("0-7"), parse_slice_ranges("7-13"))
    assert not ranges_disjoint([], parse_slice_ranges("7-13"))  # no ranges = every slice


def test_restrict_to_ranges_cuts_series_into_labelled_blocks():
    lab = np.arange(10 * 6, dtype=np.float32).reshape(10, 6)
    s = Series(uid="1.2.3", slices=list(range(10)), labels=lab, meta={"seed": "7"})
    subs = restrict_to_ranges([s], parse_slice_ranges("0-2,8-12"))
    assert [x.slices for x in subs] == [[0, 1, 2], [8, 9]]  # a range past the end is cut short
    np.testing.assert_array_equal(subs[1].labels, lab[8:10])
    assert subs[0].uid != subs[1].uid and subs[1].meta == {"seed": "7", "slice_range": [8, 9], "parent_uid": "1.2.3"}
    assert restrict_to_ranges([s], []) == [s]
    # without a generator seed (RSNA data) the split key is the UID of the series a block was cut from,
    # so that blocks of one series are recognised as one series by the train/test disjointness checks
    u = Series(uid="1.2.4", slices=list(range(10)), labels=lab)
    assert {split_key(x) for x in restrict_to_ranges([u], parse_slice_ranges("0-2,5-6"))} == {split_key(u)} == {"1.2.4"}


def test_load_many_in_processes_equals_one_by_one(tmp_path):
    csv = make_set(str(tmp_path), count=3, seed=3, n_slices=3, matrix=512)
    index = load_index(str(tmp_path), csv)
    for a, b in zip(load_many(index, 2), [load_series_pixels(s) for s in index]):
        np.testing.assert_array_equal(a, b)


def test_calibration_series_takes_data_first_then_extra_train_only_when_asked():
    from ichtrain.pipeline import calibration_series
    data = [Series(uid=f"d{i}", slices=[], meta={"seed": str(i)}) for i in (5, 3, 9)]
    extra = [Series(uid=f"r7#slices{a}", slices=[], meta={"seed": "7"}) for a in ("14-20", "0-6")]
    extra.append(Series(uid="r1#slices0-6", slices=[], meta={"seed": "1"}))
    train = data + extra
    assert [s.uid for s in calibration_series(train, extra, 2)] == ["d3", "d5"]
    # an extra-train sub-series never counts as DATA, whatever its seed sorts like
    assert [s.uid for s in calibration_series(train, extra, 10)] == ["d3", "d5", "d9"]
    assert [s.uid for s in calibration_series(train, extra, 2, 2)] == ["d3", "d5", "r1#slices0-6", "r7#slices0-6"]
