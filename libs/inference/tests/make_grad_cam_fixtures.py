#!/usr/bin/python3
"""Builds the Grad-CAM test fixtures of libs/inference/tests/data.

Usage: libs/inference/tests/make_grad_cam_fixtures.py <data-dir>

Writes, deterministically (fixed weights, no randomness):
  grad_cam_blob.pt / grad_cam_blob.json
      a hand-checkable model on a 1 x 32 x 32 input (fixed normalisation):
        features(x) = relu(conv(x)), conv 2x2 stride 2 with 2 output
                      channels: channel 0 = mean of the 2x2 block (brightness),
                      channel 1 = minus that mean (darkness) -> [N, 2, 16, 16]
        head(f)     = linear(mean of f over H, W) with weights
                      "bright" [1, 0], "dark" [0, 1], "never" [-1, 0]
      so Grad-CAM of "bright" is proportional to the brightness map (peak on
      the brightest block), of "dark" to the darkness map, and of "never" is
      ReLU(-brightness) = 0 for an input >= 0 (an empty map).
  grad_cam_reference.json
      Grad-CAM computed by PyTorch autograd for tiny.pt (made by
      scripts/models/make_test_model.py; read from <data-dir>) on the input
      of tiny_probe.json, per label: the map upsampled with
      F.interpolate(bilinear, align_corners=False) to 64 x 64 and divided by
      its max, so the C++ implementation is checked against PyTorch.

Runs with Debian's python3-torch (1.13), hence /usr/bin/python3. Not
clinical models.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn


class Blob(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, kernel_size=2, stride=2, bias=False)
        self.fc = nn.Linear(2, 3)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([[[[0.25, 0.25], [0.25, 0.25]]],
                                                 [[[-0.25, -0.25], [-0.25, -0.25]]]]))
            self.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
            self.fc.bias.copy_(torch.tensor([0.0, 0.0, 0.0]))

    @torch.jit.export
    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))

    @torch.jit.export
    def head(self, f: torch.Tensor) -> torch.Tensor:
        return self.fc(f.mean(dim=[2, 3]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def code(c, display):
    return {"system": "http://snomed.info/sct", "code": c, "display": display}


def grad_cam(module, x, label, size):
    with torch.no_grad():
        a = module.features(x)
    a = a.detach().requires_grad_(True)
    y = module.head(a)[0, label]
    (g,) = torch.autograd.grad(y, a)
    w = g.mean(dim=[2, 3], keepdim=True)
    cam = torch.relu((w * a).sum(dim=1, keepdim=True))
    up = F.interpolate(cam, size=size, mode="bilinear", align_corners=False)[0, 0]
    m = up.max()
    return (up / m if m > 0 else torch.zeros_like(up)), float(y)


def main(out):
    blob = Blob().eval()
    torch.jit.script(blob).save(os.path.join(out, "grad_cam_blob.pt"))
    manifest = {
        "id": "parallax.test.grad_cam_blob", "version": "0.0.1",
        "device_uid": "2.25.187338771950361094632071559301442209117",
        "applies_to": {"modality": ["DX"], "body_part": ["CHEST"], "view_position": []},
        "input": {"channels": 1, "height": 32, "width": 32, "depth": 1,
                  "normalisation": {"mean": 0.0, "std": 1.0}},
        "labels": [{"name": n, "code": code("36118008", "Pneumothorax"), "operating_point": 0.5}
                   for n in ("bright", "dark", "never")],
    }
    with open(os.path.join(out, "grad_cam_blob.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")

    tiny = torch.jit.load(os.path.join(out, "tiny.pt")).eval()
    with open(os.path.join(out, "tiny_probe.json")) as f:
        probe = json.load(f)
    x = torch.tensor(probe["input"], dtype=torch.float32).reshape(probe["shape"])
    ref = {"shape": probe["shape"], "labels": []}
    for label in range(3):
        cam, logit = grad_cam(tiny, x, label, (x.shape[2], x.shape[3]))
        ref["labels"].append({"label": label, "logit": logit,
                              "heatmap": [round(float(v), 7) for v in cam.reshape(-1)]})
    with open(os.path.join(out, "grad_cam_reference.json"), "w") as f:
        json.dump(ref, f)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
