#!/usr/bin/env python3
"""Run an ONNX file with ONNX Runtime (CPU) and write every graph output as <name>.npy: the reference the
engine's parity tests compare against.

usage: ort_run.py MODEL.onnx OUTDIR name=input.npy [name=input.npy ...] [--threads N]
       ort_run.py MODEL.onnx OUTDIR --random SHAPE --seed N   writes the random input as input.npy too
"""
import argparse
import os

import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("outdir")
    ap.add_argument("inputs", nargs="*")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--random", help="comma-separated shape of a uniform [0,1) float32 input")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-optimization", action="store_true",
                    help="ORT_DISABLE_ALL: each QDQ op as ONNX defines it (ORT's fused x86 int8 kernels without VNNI "
                         "saturate int16 pair sums and differ from the reference semantics)")
    a = ap.parse_args()
    so = ort.SessionOptions()
    if a.no_optimization:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    feeds = {}
    if a.random:
        shape = [int(s) for s in a.random.split(",")]
        x = np.random.default_rng(a.seed).random(shape, dtype=np.float32)
        name = sess.get_inputs()[0].name
        np.save(os.path.join(a.outdir, "input.npy"), x)
        feeds[name] = x
    for spec in a.inputs:
        name, path = spec.split("=", 1)
        feeds[name] = np.load(path)
    os.makedirs(a.outdir, exist_ok=True)
    names = [o.name for o in sess.get_outputs()]
    for name, value in zip(names, sess.run(names, feeds)):
        np.save(os.path.join(a.outdir, name.replace("/", "_") + ".npy"), value)


if __name__ == "__main__":
    main()
