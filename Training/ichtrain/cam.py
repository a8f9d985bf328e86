"""Where the Grad-CAM peak of a key slice lies against the generator's bleed mask: the toolkit's
version of the appliance's check (Tests/TriageTests/GeneratedSeriesTests, `make model-check`), so
that a model whose alerts point away from the lesion is seen in its own report, before release.

The appliance's rule, per positive series: the alerting labels (series score at or above the
label's threshold, at most 3, by score / threshold), for each the slice where its probability
peaks and one neighbour on each side, without repeats; the map for a key slice's label is
CAM = ReLU(sum_k w_k A_k) over the last feature map (`features`) with w that label's row of the
slice head (the Gemm producing `slice_logits`). Bilinear upsampling keeps the maximum on a grid
node, so the peak's cell is the argmax cell of the map itself. A key slice scores when that cell's
square of source pixels holds a bleed pixel of `masks/<SOPInstanceUID>.npy` (the generator writes
them next to the series folders). Differences from the appliance, which stays the gate: labels
alert at the bundle's operating thresholds here (the appliance also shows SUSPECT ones), and thin
slices are not grouped into slabs."""
from __future__ import annotations

import os

import numpy as np

from .data import SUBTYPES, Series, mask_path

MAX_LABELS, NEIGHBOURS = 3, 1  # TriageConfiguration.maximumAlertingLabels, keySliceNeighbours


def slice_head_node(model):
    """The Gemm node that produces the graph output `slice_logits` (KeyError if none does)."""
    by_output = {o: n for n in model.graph.node for o in n.output}
    node = by_output["slice_logits"]
    while node.op_type != "Gemm":  # e.g. an Identity in front of the graph output
        node = by_output[node.input[0]]
    return node


def slice_head_weights(model) -> np.ndarray:
    """[6, C] weights of the Gemm that produces `slice_logits` in a float32 detector graph."""
    from onnx import numpy_helper
    inits = {t.name: t for t in model.graph.initializer}
    node = slice_head_node(model)
    w = numpy_helper.to_array(inits[node.input[1]])
    trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
    return w if trans_b else w.T


def key_slices(probs: np.ndarray, thresholds: np.ndarray) -> list[tuple[int, int]]:
    """(slice, label) pairs the appliance would show, in slice order."""
    scores = probs.max(axis=0)
    alerting = sorted((l for l in range(probs.shape[1]) if scores[l] >= thresholds[l]),
                      key=lambda l: -scores[l] / thresholds[l])[:MAX_LABELS]
    keys: dict[int, int] = {}
    for l in alerting:
        peak = int(np.argmax(probs[:, l]))
        for j in range(max(0, peak - NEIGHBOURS), min(probs.shape[0] - 1, peak + NEIGHBOURS) + 1):
            keys.setdefault(j, l)
    return sorted(keys.items())


def peak_cell_on_mask(cam: np.ndarray, mask: np.ndarray) -> bool:
    """cam [h,w] over the whole image; mask [R,C] (source pixels): the argmax cell holds a bleed pixel."""
    h, w = cam.shape
    r, c = np.unravel_index(int(np.argmax(cam)), cam.shape)
    R, C = mask.shape
    cell = mask[r * R // h:(r + 1) * R // h, c * C // w:(c + 1) * C // w]
    return bool(cell.any())


def chance_on_mask(shape: tuple[int, int], mask: np.ndarray, image: np.ndarray) -> float:
    """What a peak put in a random cell inside the head would score: the share of the grid's cells
    holding head (soft-tissue window above air in the model's input, `image` [3,H,W]) that hold a
    bleed pixel. The appliance's check prints the same figure (from the generator's tissue map)."""
    h, w = shape
    R, C = mask.shape
    H, W = image.shape[1:]
    head = on = 0
    for r in range(h):
        for c in range(w):
            if (image[2, r * H // h:(r + 1) * H // h, c * W // w:(c + 1) * W // w] > 0.05).any():
                head += 1
                on += bool(mask[r * R // h:(r + 1) * R // h, c * C // w:(c + 1) * C // w].any())
    return on / head if head else 0.0


def cam_localisation(model_path: str, head: np.ndarray, series: list[Series], pixels: list[np.ndarray],
                     thresholds: np.ndarray, threads: int = 2) -> dict:
    """Over the positive series with masks: key slices that have a bleed, and on how many the CAM's
    peak cell lies on it. `head` from slice_head_weights of the float32 graph (the int8 graph's
    slice head holds the same weights, quantized per channel)."""
    from .export import OnnxRunner
    run = OnnxRunner(model_path, threads)
    n_series = n_keys = n_bleed = n_on = 0
    chance = 0.0
    by_subtype = {name: [0, 0] for name in SUBTYPES[1:]}  # key slices with that subtype: [with bleed, peak on mask]
    for s, x in zip(series, pixels):
        if s.labels is None or not s.labels[:, 0].any() or not os.path.isdir(os.path.dirname(mask_path(s, 0))):
            continue
        probs, _, feats = run(x)
        n_series += 1
        for j, l in key_slices(probs, thresholds):
            n_keys += 1
            path = mask_path(s, j)
            if not os.path.exists(path):  # the generator writes masks for slices with a bleed only
                continue
            mask = np.load(path)
            if not mask.any():
                continue
            n_bleed += 1
            cam = np.maximum(np.tensordot(head[l], feats[j], axes=(0, 0)), 0)
            on = peak_cell_on_mask(cam, mask)
            chance += chance_on_mask(cam.shape, mask, x[j])
            n_on += on
            for name, present in zip(SUBTYPES[1:], s.labels[j, 1:]):
                if present:
                    by_subtype[name][0] += 1
                    by_subtype[name][1] += on
    return {"positive_series": n_series, "key_slices": n_keys, "key_slices_with_bleed": n_bleed,
            "peak_cell_on_mask": n_on, "random_head_cell_on_mask": chance / n_bleed if n_bleed else None,
            "grid": list(feats.shape[2:]) if n_series else None,
            "by_subtype": {k: {"key_slices_with_bleed": a, "peak_cell_on_mask": b} for k, (a, b) in by_subtype.items()}}
