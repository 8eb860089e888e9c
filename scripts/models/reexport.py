#!/usr/bin/python3
"""Re-exports a trained reference model's weights with the current SmallCnn code.

  scripts/models/reexport.py MODEL.pt [--stem-stride 1|2]

For when train.py's architecture code changes in a way that keeps the
parameters (e.g. where features()/head() split the network): loads the
TorchScript file's state dict into a fresh SmallCnn, checks that forward()
gives the same logits, and overwrites MODEL.pt. The manifest, its operating
points and device UID stay valid: the function computed is unchanged.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train import SmallCnn  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--stem-stride", type=int, default=1, choices=(1, 2))
    args = ap.parse_args()
    old = torch.jit.load(args.model)
    old.eval()
    state = old.state_dict()
    channels = state["blocks.0.conv.weight"].shape[1]
    labels = state["fc.weight"].shape[0]
    model = SmallCnn(channels, labels, stem_stride=args.stem_stride)
    model.load_state_dict(state)
    model.eval()
    scripted = torch.jit.script(model)
    probe = torch.randn(2, channels, 64, 64)
    with torch.no_grad():
        a, b = old(probe), scripted(probe)
        c = scripted.head(scripted.features(probe))
    if not (torch.allclose(a, b, atol=1e-5) and torch.allclose(b, c, atol=1e-5)):
        sys.exit("reexport.py: the re-exported module computes something else; nothing written")
    torch.jit.save(scripted, args.model)
    print(f"re-exported {args.model}: features {tuple(scripted.features(probe).shape)} for a 64x64 probe")
    return 0


if __name__ == "__main__":
    sys.exit(main())
