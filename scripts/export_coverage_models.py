"""Export torchvision architectures to ONNX for the idprune coverage table.

The models carry random weights (no download): the coverage run (bench/coverage.ts)
only checks how idprune handles each architecture's structure — which channel
spaces it finds and prunes, that keep-everything surgery is exact, and that the
compressed models load and run. Input is 1x3x64x64 (small, for speed), opset 13,
input name `input`, output `logits`, dynamic batch axis. Also writes `calib.npy`
(float32 standard normal, 32x3x64x64, fixed seed) next to the models.

No TensorFlow is installed here, so `tf_style_nhwc` stands in for a TensorFlow export: a small
CNN written channels-last the way tf2onnx lays such graphs out (input NHWC 1x64x64x3, every Conv
and MaxPool wrapped in Transposes to NCHW and back, biases added on the last axis, global
pooling as ReduceMean over H and W, a MatMul head). Its calibration data is
`tf_style_nhwc.calib.npy` (the same samples, NHWC).

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


class ChannelsLastNet(torch.nn.Module):
    """Channels-last CNN in the layout of a tf2onnx export (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        widths = [3, 32, 64, 128]
        self.convs = torch.nn.ModuleList(torch.nn.Conv2d(a, b, 3, padding=1, bias=False) for a, b in zip(widths, widths[1:]))
        self.biases = torch.nn.ParameterList(torch.nn.Parameter(0.1 * torch.randn(b)) for b in widths[1:])
        self.head = torch.nn.Linear(widths[-1], 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: NHWC
        for conv, bias in zip(self.convs, self.biases):
            x = conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1) + bias
            x = torch.relu(x)
            x = torch.nn.functional.max_pool2d(x.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)
        return self.head(x.mean(dim=(1, 2)))


def main() -> None:
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "/tmp/idprune-coverage"
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(2)

    for name in MODELS + ["tf_style_nhwc"]:
        torch.manual_seed(0)
        if name == "tf_style_nhwc":
            model = ChannelsLastNet()
            x = torch.randn(1, RESOLUTION, RESOLUTION, 3)
        else:
            model = getattr(torchvision.models, name)(weights=None)
            x = torch.randn(1, 3, RESOLUTION, RESOLUTION)
        model.eval()
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
    np.save(os.path.join(out_dir, "tf_style_nhwc.calib.npy"), np.ascontiguousarray(calib.transpose(0, 2, 3, 1)))
    print(f"calib.npy: {calib.shape} float32 (and tf_style_nhwc.calib.npy, NHWC)", flush=True)


if __name__ == "__main__":
    main()
