"""The toolkit's Grad-CAM localisation check (ichtrain.cam) against hand-made cases."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ichtrain.cam import chance_on_mask, key_slices, peak_cell_on_mask, slice_head_weights


def test_peak_cell_maps_feature_grid_onto_source_pixels():
    cam = np.zeros((8, 8), np.float32)
    cam[2, 5] = 1.0                        # cell rows 128-191, columns 320-383 of a 512 image
    mask = np.zeros((512, 512), np.uint8)
    mask[190, 383] = 1                     # inside that cell, at its corner
    assert peak_cell_on_mask(cam, mask)
    mask[:] = 0
    mask[192, 383] = 1                     # one row below: the next cell
    assert not peak_cell_on_mask(cam, mask)
    mask[:] = 0
    mask[130, 384] = 1                     # one column right
    assert not peak_cell_on_mask(cam, mask)


def test_key_slices_follow_the_appliance_rule():
    p = np.full((10, 6), 0.01, np.float32)
    thr = np.full(6, 0.5, np.float32)
    assert key_slices(p, thr) == []        # nothing alerts: no key slices
    p[4, 0], p[8, 2], p[9, 5] = 0.9, 0.8, 0.6
    # any peaks at 4 (3-5), intraparenchymal at 8 (7-9), subdural at 9 (8-9, already taken): slice -> its first label
    assert key_slices(p, thr) == [(3, 0), (4, 0), (5, 0), (7, 2), (8, 2), (9, 2)]
    p[0, 3], p[0, 4] = 0.55, 0.7           # five labels alert: only the three highest score / threshold keep key slices
    assert {l for _, l in key_slices(p, thr)} == {0, 2, 4}


def test_slice_head_weights_read_through_transb_and_identity():
    w = np.arange(12, dtype=np.float32).reshape(6, 2)  # [out, in] as torch's Linear, exported with transB=1
    g = helper.make_graph(
        [helper.make_node("Gemm", ["e", "W", "b"], ["z"], transB=1), helper.make_node("Identity", ["z"], ["slice_logits"])],
        "g", [helper.make_tensor_value_info("e", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("slice_logits", TensorProto.FLOAT, [1, 6])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(np.zeros(6, np.float32), "b")])
    np.testing.assert_array_equal(slice_head_weights(helper.make_model(g)), w)
    g.node[0].ClearField("attribute")
    g.initializer[0].CopyFrom(numpy_helper.from_array(np.ascontiguousarray(w.T), "W"))
    np.testing.assert_array_equal(slice_head_weights(helper.make_model(g)), w)


def test_chance_counts_head_cells_only():
    image = np.zeros((3, 256, 256), np.float32)
    image[:, 64:192, 64:192] = 0.5         # head: the middle 4x4 cells of an 8x8 grid (32 px cells)
    mask = np.zeros((512, 512), np.uint8)
    mask[130:140, 130:140] = 1             # one head cell (rows/columns 128-191 of 512 = cell 2)
    mask[0:5, 0:5] = 1                     # outside the head: not counted
    assert chance_on_mask((8, 8), mask, image) == 1 / 16
