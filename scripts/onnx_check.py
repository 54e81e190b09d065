"""Run exported ONNX files with ONNX Runtime beside dmasking's own logits (tests/export.rs).

usage: python3 scripts/onnx_check.py MANIFEST.json

The manifest lists cases {"name", "model", "input", "logits", "shape"}: the ONNX file, the
input [N, C, H, W] (float32 little-endian, RGB in [0, 1]) and dmasking's logits on it.
Prints one JSON list: per case the largest absolute difference, the reference's largest
magnitude, ONNX Runtime's argmax per image, the graph's input/output names and shapes, and
the largest difference between a batch of one and the first row of the full batch (the
batch dimension is dynamic).
"""

import json
import sys

import numpy as np
import onnxruntime as ort


def shape(v):
    return [d if isinstance(d, int) else str(d) for d in v.shape]


def main(path):
    manifest = json.load(open(path))
    out = []
    for case in manifest["cases"]:
        n = case["shape"][0]
        x = np.fromfile(case["input"], dtype="<f4").reshape(case["shape"])
        ref = np.fromfile(case["logits"], dtype="<f4").reshape(n, -1)
        s = ort.InferenceSession(case["model"], providers=["CPUExecutionProvider"])
        (i,), (o,) = s.get_inputs(), s.get_outputs()
        y = s.run(["logits"], {"image": x})[0]
        y1 = s.run(["logits"], {"image": x[:1]})[0]
        out.append(
            {
                "name": case["name"],
                "input": {"name": i.name, "shape": shape(i), "type": i.type},
                "output": {"name": o.name, "shape": shape(o)},
                "max_abs_diff": float(np.abs(y - ref).max()),
                "ref_max_abs": float(np.abs(ref).max()),
                "argmax": y.argmax(1).tolist(),
                "batch_one_diff": float(np.abs(y1 - y[:1]).max()),
            }
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
