#!/usr/bin/env python3
"""Time ONNX Runtime (CPU, int8 QDQ as ORT fuses it) on one model: prints one JSON line
{"model":..., "threads":..., "batch":..., "seconds_per_run":..., "slices_per_s":...}.
Same input generator as `ichtriage bench`: uniform [0,1) float32 of the model's input shape with batch S.

usage: ort_bench.py MODEL.onnx --batch S --threads T [--runs N] [--warmup N]
"""
import argparse
import json
import time

import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    a = ap.parse_args()
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [a.batch if not isinstance(d, int) else d for d in inp.shape]
    shape[0] = a.batch
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    for _ in range(a.warmup):
        sess.run(None, {inp.name: x})
    best = float("inf")
    for _ in range(a.runs):
        t0 = time.perf_counter()
        sess.run(None, {inp.name: x})
        best = min(best, time.perf_counter() - t0)
    print(json.dumps({"model": a.model, "threads": a.threads, "batch": a.batch, "seconds_per_run": best,
                      "slices_per_s": a.batch / best, "ort_version": ort.__version__}))


if __name__ == "__main__":
    main()
