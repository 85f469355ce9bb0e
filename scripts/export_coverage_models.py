"""Export torchvision architectures to ONNX for the idprune coverage table.

The models carry random weights (no download): the coverage run (bench/coverage.ts)
only checks how idprune handles each architecture's structure — which channel
spaces it finds and prunes, that keep-everything surgery is exact, and that the
compressed models load and run. Input is 1x3x64x64 (small, for speed), opset 13,
input name `input`, output `logits`, dynamic batch axis. Also writes `calib.npy`
(float32 standard normal, 32x3x64x64, fixed seed) next to the models.

Usage: /usr/bin/python3 scripts/export_coverage_models.py [out_dir]
       (default out_dir: /tmp/idprune-coverage; the files are large, keep them out of the repo)
"""

import os
import sys
import time

import numpy as np
import torch
import torchvision

MODELS = [
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "efficientnet_b0",
    "squeezenet1_1",
    "densenet121",
    "shufflenet_v2_x1_0",
    "regnet_y_400mf",
    "convnext_tiny",
]
RESOLUTION = 64


def main() -> None:
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "/tmp/idprune-coverage"
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(2)

    for name in MODELS:
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)(weights=None)
        model.eval()
        x = torch.randn(1, 3, RESOLUTION, RESOLUTION)
        path = os.path.join(out_dir, f"{name}.onnx")
        t0 = time.time()
        with torch.no_grad():
            torch.onnx.export(
                model,
                x,
                path,
                opset_version=13,
                input_names=["input"],
                output_names=["logits"],
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                do_constant_folding=True,
            )
        print(f"{name}: {os.path.getsize(path) / 1e6:.1f} MB in {time.time() - t0:.1f} s", flush=True)

    rng = np.random.default_rng(0)
    calib = rng.standard_normal((32, 3, RESOLUTION, RESOLUTION)).astype(np.float32)
    np.save(os.path.join(out_dir, "calib.npy"), calib)
    print(f"calib.npy: {calib.shape} float32", flush=True)


if __name__ == "__main__":
    main()
