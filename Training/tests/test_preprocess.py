import numpy as np
import pytest

from ichtrain.preprocess import (PixelSpec, PreprocessError, downscale, preprocess_slice, slice_order, to_hu,
                                 window)


def test_hu_slope_intercept_and_padding():
    s = np.array([[0, 1024], [2000, -2000]], dtype=np.int16)
    hu = to_hu(s, PixelSpec(rescale_slope=0.5, rescale_intercept=-1024, pixel_padding_value=-2000))
    assert hu.dtype == np.float32
    np.testing.assert_array_equal(hu, [[-1024, -512], [-24, -1024]])


def test_rsna_quirk_only_when_all_three_conditions_hold():
    s = np.array([[4095, 2048], [2047, 40]], dtype=np.uint16)
    quirk = to_hu(s, PixelSpec(bits_stored=12, pixel_representation=0, rescale_intercept=0))
    np.testing.assert_array_equal(quirk, [[-1, -2048], [2047, 40]])
    normal = to_hu(s, PixelSpec(bits_stored=12, pixel_representation=0, rescale_intercept=-1024))
    np.testing.assert_array_equal(normal, [[3071, 1024], [1023, -984]])
    signed = to_hu(s.astype(np.int32), PixelSpec(bits_stored=12, pixel_representation=1, rescale_intercept=0))
    assert signed[0, 0] == 4095


def test_padding_compared_on_raw_stored_values_before_quirk():
    s = np.array([[4095, 4094]], dtype=np.uint16)
    hu = to_hu(s, PixelSpec(bits_stored=12, pixel_representation=0, rescale_intercept=0, pixel_padding_value=4095))
    np.testing.assert_array_equal(hu, [[-1024, -2]])


def test_windows_values():
    hu = np.array([[0.0, 40.0, 80.0, -150.0, 230.0, 1000.0]], dtype=np.float32)
    v = window(hu)
    assert v.shape == (3, 1, 6) and v.dtype == np.float32
    np.testing.assert_allclose(v[0, 0], [0, 0.5, 1, 0, 1, 1])              # 40/80: [0,80]
    np.testing.assert_allclose(v[1, 0], [0.1, 0.3, 0.5, 0, 1, 1])          # 80/200: [-20,180]
    np.testing.assert_allclose(v[2, 0], [150 / 380, 190 / 380, 230 / 380, 0, 1, 1], rtol=1e-6)  # 40/380


def test_downscale_512_is_2x2_mean_in_documented_order():
    rng = np.random.default_rng(0)
    x = rng.random((3, 512, 512), dtype=np.float32)
    y = downscale(x)
    assert y.shape == (3, 256, 256) and y.dtype == np.float32
    ref = ((x[:, 0::2, 0::2] + x[:, 0::2, 1::2]) + (x[:, 1::2, 0::2] + x[:, 1::2, 1::2])) * np.float32(0.25)
    np.testing.assert_array_equal(y, ref)
    assert y[1, 7, 9] == np.float32((np.float32(x[1, 14, 18] + x[1, 14, 19]) + np.float32(x[1, 15, 18] + x[1, 15, 19])) * 0.25)


def test_downscale_other_sizes_is_area_average():
    x = np.random.default_rng(1).random((3, 384, 300)).astype(np.float32)
    y = downscale(x)
    assert y.shape == (3, 256, 256)
    np.testing.assert_allclose(y.mean(axis=(1, 2)), x.mean(axis=(1, 2)), rtol=1e-4)
    const = downscale(np.full((3, 300, 700), 0.3, np.float32))
    np.testing.assert_allclose(const, 0.3, rtol=1e-6)
    np.testing.assert_array_equal(downscale(x[:, :256, :256]), x[:, :256, :256])


def test_preprocess_slice_shape_and_range():
    s = np.full((512, 512), 40, dtype=np.int16)
    y = preprocess_slice(s, PixelSpec())
    assert y.shape == (3, 256, 256)
    np.testing.assert_allclose(y[:, 0, 0], [0.5, 0.3, 190 / 380], rtol=1e-6)
    with pytest.raises(PreprocessError):
        preprocess_slice(np.zeros((2, 2, 2)), PixelSpec())


def test_slice_order_along_tilted_normal():
    t = np.deg2rad(18.5)
    iop = [1, 0, 0, 0, np.cos(t), np.sin(t)]
    n = np.cross(iop[:3], iop[3:])
    pos = [list(np.array([0, 3.0 * k, 0]) + 5.0 * k * n) for k in (2, 0, 3, 1)]
    assert slice_order(pos, iop) == [1, 3, 0, 2]
    # equal positions: by InstanceNumber
    assert slice_order([[0, 0, 1], [0, 0, 1]], [1, 0, 0, 0, 1, 0], tiebreak=[5, 2]) == [1, 0]
    with pytest.raises(PreprocessError):
        slice_order([[0, 0, 0]], [1, 0, 0, 1, 0, 0])
