#!/usr/bin/python3
"""Builds the tiny TorchScript test models of libs/inference/tests/data.

Usage: scripts/models/make_test_model.py <out-dir>

Writes, deterministically (fixed seeds):
  tiny.pt            a 2-conv network honouring the Parallax model contract:
                     features(x) = last conv activation [N,8,16,16],
                     head(f) = global average pool + linear -> 3 logits,
                     forward(x) = head(features(x)); input [N,1,64,64]
  tiny.json          its manifest (3 chest X-ray labels with SNOMED CT codes)
  tiny_probe.json    a fixed input and the logits PyTorch computes for it, so
                     the C++ tests check C++/Python agreement without Python
  tiny_no_head.pt    broken: has forward and features but no head
  tiny_mismatch.pt   broken: forward(x) = head(features(x)) + 1

Runs with Debian's python3-torch (1.13), hence /usr/bin/python3 rather than
whatever python3 comes first on PATH. These are test fixtures, not clinical
models: the weights are random.
"""
import json
import os
import sys

import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(4, 8, kernel_size=3, stride=2, padding=1)
        self.fc = nn.Linear(8, 3)

    @torch.jit.export
    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv2(torch.relu(self.conv1(x))))

    @torch.jit.export
    def head(self, f: torch.Tensor) -> torch.Tensor:
        return self.fc(f.mean(dim=[2, 3]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class TinyNoHead(nn.Module):
    def __init__(self, tiny: Tiny):
        super().__init__()
        self.conv1 = tiny.conv1
        self.conv2 = tiny.conv2
        self.fc = tiny.fc

    @torch.jit.export
    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv2(torch.relu(self.conv1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=[2, 3]))


class TinyMismatch(Tiny):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)) + 1.0


MANIFEST = {
    "id": "parallax.test.tiny",
    "version": "0.0.1",
    "device_uid": "2.25.215506243118391750958722061384962425919",
    "applies_to": {
        "modality": ["CR", "DX"],
        "body_part": ["CHEST"],
        "view_position": ["PA", "AP"],
    },
    "input": {
        "channels": 1,
        "height": 64,
        "width": 64,
        "depth": 1,
        "normalisation": {"mean": 0.5, "std": 0.25},
    },
    "labels": [
        {"name": "pneumothorax",
         "code": {"system": "http://snomed.info/sct", "code": "36118008",
                  "display": "Pneumothorax"},
         "operating_point": 0.5},
        {"name": "pleural_effusion",
         "code": {"system": "http://snomed.info/sct", "code": "60046008",
                  "display": "Pleural effusion"},
         "operating_point": 0.4},
        {"name": "consolidation",
         "code": {"system": "http://snomed.info/sct", "code": "95436008",
                  "display": "Lung consolidation"},
         "operating_point": 0.6},
    ],
    "measurements": [{"name": "effusion_volume", "unit": "mL"}],
}


def save(module: nn.Module, path: str) -> None:
    module.eval()
    torch.jit.save(torch.jit.script(module), path)
    size = os.path.getsize(path)
    if size >= 100_000:
        sys.exit(f"{path} is {size} bytes; test fixtures must stay under 100 KB")


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    # TorchScript serialises some class constants in set order, which follows
    # the string hash seed: fix it so the archives are byte-for-byte stable.
    if os.environ.get("PYTHONHASHSEED") != "0":
        env = dict(os.environ, PYTHONHASHSEED="0")
        os.execve(sys.executable, [sys.executable] + sys.argv, env)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(20240611)
    tiny = Tiny()
    save(tiny, os.path.join(out, "tiny.pt"))
    save(TinyNoHead(tiny), os.path.join(out, "tiny_no_head.pt"))
    mismatch = TinyMismatch()
    mismatch.load_state_dict(tiny.state_dict())
    save(mismatch, os.path.join(out, "tiny_mismatch.pt"))

    with open(os.path.join(out, "tiny.json"), "w") as f:
        json.dump(MANIFEST, f, indent=2)
        f.write("\n")

    # The probe: values printed with 9 significant digits round-trip float32
    # exactly, so C++ feeds the very same input.
    gen = torch.Generator().manual_seed(7)
    x = torch.rand((1, 1, 64, 64), generator=gen, dtype=torch.float32)
    scripted = torch.jit.load(os.path.join(out, "tiny.pt"))
    with torch.no_grad():
        logits = scripted(x)
        assert torch.allclose(logits, scripted.head(scripted.features(x)))
    probe = {
        "shape": list(x.shape),
        "input": [float(f"{v:.9g}") for v in x.flatten().tolist()],
        "logits": [float(f"{v:.9g}") for v in logits.flatten().tolist()],
        "torch_version": torch.__version__,
    }
    with open(os.path.join(out, "tiny_probe.json"), "w") as f:
        json.dump(probe, f, separators=(",", ":"))
        f.write("\n")
    for name in sorted(os.listdir(out)):
        print(f"{name}: {os.path.getsize(os.path.join(out, name))} bytes")


if __name__ == "__main__":
    main()
