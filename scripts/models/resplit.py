#!/usr/bin/python3
"""Moves the features()/head() split of a trained reference model, weights unchanged.

Usage:
  scripts/models/resplit.py --model models/parallax.headct.pt --features-after block1
                            [--out OTHER.pt] [--note]

The model contract (ARCHITECTURE.md, Models) is forward(x) == head(features(x));
Grad-CAM explains features(), so where the split lies decides how fine and
how faithful the evidence maps are. This script loads a committed SmallCnn
TorchScript file (scripts/models/train.py), rebuilds SmallCnn with the same
weights and the split --features-after (block1..block4 after that conv block,
or last: the activations right before global average pooling), scripts it
with train.py's own class (so a retraining with --features-after reproduces
it) and writes it (in place unless --out).

Checks before writing, else exits non-zero and writes nothing:
  - forward() of the new module equals the old one to 1e-5 on the probe
    input of PREFIX.probe.txt (x[i] = sin(0.37 i)) and on two random inputs;
  - the logits still equal PREFIX.probe.txt's (within 1e-5), so the probe
    file, which the C++ reference test compares with LibTorch, stays valid;
  - head(features(x)) == forward(x).
The manifest (.json) is not changed: the model computes the same logits, so
its version and device_uid stay. --note appends a line saying what was done
to PREFIX.training.txt.

Runs with Debian's python3-torch, hence /usr/bin/python3; one thread.
"""
import argparse
import datetime
import importlib.util
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def load_train_module():
    spec = importlib.util.spec_from_file_location("parallax_train", os.path.join(HERE, "train.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def probe_input(shape):
    n = int(np.prod(shape))
    return torch.from_numpy(np.sin(0.37 * np.arange(n, dtype=np.float64)).astype(np.float32).reshape(shape))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="PREFIX.pt (PREFIX.json and PREFIX.probe.txt beside it)")
    ap.add_argument("--features-after", required=True)
    ap.add_argument("--out", default=None, help="where to write (default: --model, in place)")
    ap.add_argument("--note", action="store_true", help="append what was done to PREFIX.training.txt")
    args = ap.parse_args()
    torch.set_num_threads(1)
    train = load_train_module()
    if args.features_after not in train.FEATURE_SPLITS:
        sys.exit(f"resplit.py: --features-after must be one of {sorted(train.FEATURE_SPLITS)}")

    prefix = args.model[:-3] if args.model.endswith(".pt") else args.model
    with open(prefix + ".probe.txt") as f:
        probe = json.load(f)
    old = torch.jit.load(prefix + ".pt").eval()
    state = old.state_dict()
    widths = tuple(int(state[f"blocks.{i}.conv.weight"].shape[0]) for i in range(4))
    channels = int(state["blocks.0.conv.weight"].shape[1])
    labels = int(state["fc.weight"].shape[0])
    # Each extra convolution of a block (train.py --block-convs) is three
    # modules of its `extra` Sequential: conv, BatchNorm, ReLU.
    block_convs = tuple(1 + sum(1 for k, v in state.items() if k.startswith(f"blocks.{i}.extra.") and v.dim() == 4)
                        for i in range(4))
    x = probe_input(probe["shape"])
    gen = torch.Generator().manual_seed(7)
    inputs = [x] + [torch.randn(probe["shape"], generator=gen) for _ in range(2)]
    with torch.no_grad():
        before = [old(t) for t in inputs]
        old_features = tuple(old.features(x).shape)

    # The stem's stride and the head's pooling are not in the state dict: the
    # ones that reproduce forward() are the ones the model was trained with
    # (a linear layer twice as wide as the last block is --pool avgmax).
    pools = ("avgmax",) if int(state["fc.weight"].shape[1]) == 2 * widths[3] else ("avg", "max")
    chosen = None
    for stride, pool in ((s, p) for p in pools for s in (1, 2)):
        model = train.SmallCnn(channels, labels, widths, stem_stride=stride, features_after=args.features_after,
                               pool=pool, block_convs=block_convs)
        model.load_state_dict(state)
        model.eval()
        with torch.no_grad():
            same = all(torch.allclose(model(t), b, atol=1e-5, rtol=0) for t, b in zip(inputs, before))
        if same:
            chosen = (stride, pool, model)
            break
    if chosen is None:
        sys.exit("resplit.py: no SmallCnn with these weights reproduces the model's forward(); not a train.py model?")
    stride, pool, model = chosen
    scripted = torch.jit.script(model)
    with torch.no_grad():
        after = [scripted(t) for t in inputs]
        diff = max(float((a - b).abs().max()) for a, b in zip(after, before))
        contract = max(float((scripted.head(scripted.features(t)) - scripted(t)).abs().max()) for t in inputs)
        probe_diff = float((after[0][0] - torch.tensor(probe["logits"])).abs().max())
        new_features = tuple(scripted.features(x).shape)
    if diff > 1e-5 or contract > 1e-5 or probe_diff > 1e-5:
        sys.exit(f"resplit.py: forward changed by {diff:g}, head(features) differs by {contract:g}, "
                 f"probe logits by {probe_diff:g}: not written")

    out = args.out or prefix + ".pt"
    tmp = out + ".tmp"
    torch.jit.save(scripted, tmp)
    reloaded = torch.jit.load(tmp).eval()
    with torch.no_grad():
        if float((reloaded(x) - before[0]).abs().max()) > 1e-5:
            os.remove(tmp)
            sys.exit("resplit.py: the saved module does not reload to the same forward(); not written")
    os.replace(tmp, out)
    line = (f"features() split moved to {args.features_after} by scripts/models/resplit.py on "
            f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC (weights unchanged; features "
            f"{list(old_features)} -> {list(new_features)}; forward max |diff| {diff:.2g}, probe logits "
            f"max |diff| {probe_diff:.2g})")
    if args.note:
        with open(prefix + ".training.txt", "a") as f:
            f.write(line + "\n")
    print(f"{out}: stem stride {stride}, {pool} pool, widths {list(widths)}, block convs {list(block_convs)}; {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
