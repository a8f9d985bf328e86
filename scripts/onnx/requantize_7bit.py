#!/usr/bin/env python3
"""Rewrite a QDQ model's int8 Conv/Gemm weights with 7 bits (|w| <= 64), as
onnxruntime.quantization.quantize_static(..., reduce_range=True) would have stored them, for speed
measurements of models whose float original is not at hand (the shipped detector).

Per output channel: scale' = scale * max|w| / 64, w' = round_half_even(w * 64 / max|w|), so DQ(w') ~ DQ(w)
to within half a 7-bit step; an int32 bias whose scale is input_scale * weight_scale follows (scale' and
round(b * scale / scale')). The result is a different model: its accuracy is NOT evaluated here; use it to
measure speed only, and re-quantize from float with reduce_range=True for a model to ship.

usage: requantize_7bit.py IN.onnx OUT.onnx
"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    m = onnx.load(sys.argv[1])
    inits = {i.name: i for i in m.graph.initializer}
    producer = {o: n for n in m.graph.node for o in n.output}

    def dq_of(value):
        n = producer.get(value)
        if n is None or n.op_type != "DequantizeLinear" or n.input[0] not in inits:
            return None
        return n

    def replace(name, array):
        inits[name].CopyFrom(numpy_helper.from_array(array, name))

    done = set()
    changed = 0
    for node in m.graph.node:
        if node.op_type not in ("Conv", "Gemm") or len(node.input) < 2:
            continue
        wdq = dq_of(node.input[1])
        if wdq is None or wdq.input[0] in done or len(wdq.input) < 2 or wdq.input[1] not in inits:
            continue
        w = numpy_helper.to_array(inits[wdq.input[0]])
        if w.dtype != np.int8:
            continue
        if len(wdq.input) > 2 and wdq.input[2] in inits and np.any(numpy_helper.to_array(inits[wdq.input[2]]) != 0):
            continue  # asymmetric weights: not what the kernels' byte format is about
        scale = numpy_helper.to_array(inits[wdq.input[1]]).astype(np.float32)
        axis = next((a.i for a in wdq.attribute if a.name == "axis"), 1)
        per_channel = scale.ndim == 1 and scale.size > 1
        wi = w.astype(np.int32)
        if per_channel:
            red = tuple(i for i in range(w.ndim) if i != axis % w.ndim)
            peak = np.maximum(np.abs(wi).max(axis=red), 1).astype(np.float32)
            shape = [1] * w.ndim
            shape[axis % w.ndim] = -1
            factor = 64.0 / peak
            w7 = np.clip(np.rint(wi * factor.reshape(shape)), -64, 64).astype(np.int8)
        else:
            peak = np.float32(max(int(np.abs(wi).max()), 1))
            factor = np.float32(64.0) / peak
            w7 = np.clip(np.rint(wi * factor), -64, 64).astype(np.int8)
        new_scale = (scale / factor).astype(np.float32)
        replace(wdq.input[0], w7)
        replace(wdq.input[1], new_scale)
        done.add(wdq.input[0])
        changed += 1
        if len(node.input) > 2:
            bdq = dq_of(node.input[2])
            if bdq is not None and len(bdq.input) > 1 and bdq.input[1] in inits:
                b = numpy_helper.to_array(inits[bdq.input[0]])
                if b.dtype == np.int32:
                    bscale = numpy_helper.to_array(inits[bdq.input[1]]).astype(np.float32)
                    nb = (bscale / factor).astype(np.float32)
                    b7 = np.rint(b.astype(np.float64) * factor).astype(np.int32)
                    replace(bdq.input[0], b7)
                    replace(bdq.input[1], nb)
    m.doc_string = (m.doc_string + "\n" if m.doc_string else "") + "weights re-quantized to 7 bits by requantize_7bit.py (speed tests only)"
    onnx.checker.check_model(m)
    onnx.save(m, sys.argv[2])
    print(f"{sys.argv[2]}: {changed} weight tensors re-quantized to 7 bits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
