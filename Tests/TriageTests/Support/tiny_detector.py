"""A tiny detector-shaped ONNX model for the triage pipeline's tests (not a trained model):
slices [S,3,256,256] -> Conv 8x8/8 -> Relu = features [S,4,32,32] -> GlobalAveragePool -> Flatten
-> Gemm = slice_logits [S,6] -> Sigmoid = probs [S,6]. Channel 0 responds to bright pixels of the
brain window that are not bone (blood-like), so its CAM has a place to peak.

  python tiny_detector.py OUT_DIR [--qdq]   (needs numpy and onnx; writes model.onnx + manifest.json)
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
k = 8
w = np.zeros((4, 3, k, k), np.float32)
w[0, 0] = 1.0 / (k * k)       # brain window mean ...
w[0, 2] = -1.0 / (k * k)      # ... minus soft-tissue window mean (bone is bright in both)
w[1, 1] = 1.0 / (k * k)       # subdural window mean
w[2, 2] = 1.0 / (k * k)       # soft-tissue window mean
w[3, 0] = -1.0 / (k * k)      # dark in the brain window
b = np.array([0.0, -0.2, -0.3, 0.5], np.float32)
gw = np.array([[3, 1, 0, 0], [4, 0, 0, 0], [3, 1, 0, 0], [2, 0, 1, 0], [2, 1, 0, 0], [3, 0, 0, 1]], np.float32)
gb = np.array([-1.0, -1.5, -1.2, -1.3, -1.4, -1.1], np.float32)
nodes = [
    helper.make_node("Conv", ["slices", "w", "b"], ["features"], kernel_shape=[k, k], strides=[k, k], name="conv"),
    helper.make_node("GlobalAveragePool", ["features"], ["gap"], name="gap"),
    helper.make_node("Flatten", ["gap"], ["emb"], name="flatten"),
    helper.make_node("Gemm", ["emb", "gw", "gb"], ["slice_logits"], transB=1, name="head"),
    helper.make_node("Sigmoid", ["slice_logits"], ["probs"], name="sigmoid"),
]
# Relu between conv and the feature output
nodes[0].output[0] = "conv_out"
nodes.insert(1, helper.make_node("Relu", ["conv_out"], ["features"], name="relu"))
graph = helper.make_graph(
    nodes, "tiny_detector",
    [helper.make_tensor_value_info("slices", TensorProto.FLOAT, ["S", 3, 256, 256])],
    [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["S", 6]),
     helper.make_tensor_value_info("slice_logits", TensorProto.FLOAT, ["S", 6]),
     helper.make_tensor_value_info("features", TensorProto.FLOAT, ["S", 4, 32, 32])],
    [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b"),
     numpy_helper.from_array(gw, "gw"), numpy_helper.from_array(gb, "gb")])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="triage-tests")
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, os.path.join(out, "model.onnx"))
labels = ["any", "epidural", "intraparenchymal", "intraventricular", "subarachnoid", "subdural"]
with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump({"name": "tiny-test-detector", "version": "0.0.1-test", "model": "model.onnx", "labels": labels,
               "thresholds": {l: 0.5 for l in labels}}, f, indent=2)
np.save(os.path.join(out, "head_weight.npy"), gw)
