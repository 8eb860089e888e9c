#!/usr/bin/python3
"""Trains a small Parallax reference model on phantom training arrays.

Usage:
  scripts/models/train.py --data PREFIX --manifest model.json --out DIR
                          [--epochs N] [--seed S] [--threads 2]
                          [--batch-size B] [--lr LR] [--version V]
                          [--max-fp-per-1000 1.2] [--calibration-fraction 0.2]
                          [--calibration-data PREFIX] [--any-label NAME]
                          [--stem-stride 1|2]

PREFIX is what parallax-prepare-training wrote (PREFIX.x.f32, PREFIX.y.f32,
PREFIX.json); the manifest is the same one given to it (its input spec and
labels decided the arrays). Writes

  DIR/<id>.pt    TorchScript honouring the Parallax model contract
                 (ARCHITECTURE.md, Models): features(x) = the third conv
                 block's activation (1/8 resolution; 1/16 with --stem-stride
                 2), head(f) = the last blocks, global average pool and a
                 linear layer -> logits, forward(x) = head(features(x)). Not frozen: the C++ side
                 (Model::Load) freezes.
  DIR/<id>.json  the input manifest with per-label operating points, a new
                 version and a new device_uid ("2.25." + a random UUID as an
                 integer: it changes with every retraining, as required).
  DIR/<id>.probe.txt  JSON: Python's logits for a fixed probe input, which
                 the C++ tests compare with LibTorch's (within 1e-4).
  DIR/<id>.training.txt  what this run measured (AUCs, operating points,
                 warnings). Not .json, so a model directory loader does not
                 take it for a manifest.

Calibration: on a separate phantom set (--calibration-data PREFIX, made by
parallax-prepare-training from seeds training never saw), or else on 20% of
the studies of --data (all items of a study stay on one side). Calibration
is per study, as the service decides: a study's probability for a label is
the maximum over its items (slices), a study is positive for a label when
any of its items is. Operating point per label: the lowest threshold at
which the calibration's negative studies give at most --max-fp-per-1000
false positives per 1,000 negative studies. With fewer than 1000/limit
negatives no false positive at all is allowed, which only bounds the rate
loosely; the run says so.

--any-label NAME: the manifest label NAME (e.g. "Intracranial haemorrhage")
is not in the phantom truth; its target is the union of all other labels.

Runs with Debian's python3-torch (1.13) and python3-numpy, hence
/usr/bin/python3. Phantom-trained models are not clinical models.
"""
import argparse
import copy
import datetime
import json
import math
import os
import sys
import time
import uuid

import numpy as np
import torch
from torch import nn


class ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(torch.relu(self.bn(self.conv(x))))


class SmallCnn(nn.Module):
    """A few conv blocks, BatchNorm, global average pool + linear head."""

    def __init__(self, channels: int, labels: int, widths=(16, 32, 64, 96), stem_stride: int = 1):
        super().__init__()
        if len(widths) != 4:
            raise ValueError("SmallCnn has four blocks (features() splits after the third)")
        blocks = []
        cin = channels
        for i, w in enumerate(widths):
            # A strided first convolution reads the full-resolution input at a
            # quarter of the cost of the later blocks' resolution.
            blocks.append(ConvBlock(cin, w, stem_stride if i == 0 else 1))
            cin = w
        self.blocks = nn.Sequential(*blocks)
        # Last block without pooling.
        self.last = nn.Sequential(nn.Conv2d(cin, cin, kernel_size=3, padding=1, bias=False),
                                  nn.BatchNorm2d(cin), nn.ReLU())
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(cin, labels)

    # The split point of the contract: features() ends after the third block
    # (1/8 of the input resolution, or 1/16 with a strided stem), so Grad-CAM
    # maps are twice as fine as at the last block; head() runs the rest.
    @torch.jit.export
    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks[2](self.blocks[1](self.blocks[0](x)))

    @torch.jit.export
    def head(self, f: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.last(self.blocks[3](f)).mean(dim=[2, 3])))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def auc(scores: np.ndarray, targets: np.ndarray) -> float:
    """ROC AUC (Mann-Whitney, ties averaged); nan without both classes."""
    pos = targets > 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def operating_point(probs: np.ndarray, targets: np.ndarray, max_fp_per_1000: float):
    """Lowest threshold t (positive when p >= t) with FP/negatives*1000 <= limit."""
    neg = np.sort(probs[targets < 0.5])[::-1]  # descending
    pos = probs[targets > 0.5]
    notes = []
    if len(neg) == 0:
        return None, float("nan"), 0, ["no calibration negatives: operating point left as in the manifest"]
    allowed = int(math.floor(max_fp_per_1000 * len(neg) / 1000.0 + 1e-9))
    needed = int(math.ceil(1000.0 / max_fp_per_1000)) if max_fp_per_1000 > 0 else None
    if allowed == 0:
        notes.append(f"only {len(neg)} calibration negatives (< {needed} needed to allow one false positive "
                     f"at {max_fp_per_1000}/1000): threshold set above every negative, the rate bound is loose")
    if allowed >= len(neg):
        t = 0.0
    else:
        # Above the (allowed+1)-th highest negative: at most `allowed` negatives reach it.
        t = float(np.nextafter(np.float32(neg[allowed]), np.float32(2.0)))
    t = min(max(t, 0.0), 1.0)
    sens = float((pos >= t).mean()) if len(pos) else float("nan")
    fp = int((neg >= t).sum())
    if len(pos) == 0:
        notes.append("no calibration positives: sensitivity unknown")
    return t, sens, fp, notes


def load_arrays(prefix: str, names, expected, any_col):
    """PREFIX.{x,y}.f32 + PREFIX.json from parallax-prepare-training -> (x, y, studies)."""
    with open(prefix + ".json") as f:
        meta = json.load(f)
    if meta["labels"] != names:
        sys.exit(f"train.py: {prefix}.json labels {meta['labels']} differ from the manifest's {names}")
    shape = [int(s) for s in meta["shape"]]
    if shape[1:] != expected:
        sys.exit(f"train.py: {prefix} items are {shape[1:]}, the manifest's input is {expected}")
    n, L = shape[0], len(names)
    x = np.fromfile(prefix + ".x.f32", dtype=np.float32)
    y = np.fromfile(prefix + ".y.f32", dtype=np.float32)
    if x.size != int(np.prod(shape)) or y.size != n * L:
        sys.exit(f"train.py: {prefix}.x.f32/.y.f32 hold {x.size}/{y.size} floats, "
                 f"expected {int(np.prod(shape))}/{n * L} for shape {shape}")
    y = y.reshape(n, L)
    if any_col is not None:
        others = [i for i in range(L) if i != any_col]
        y[:, any_col] = y[:, others].max(axis=1)
    return x.reshape(shape), y, meta["studies"]


def per_study(values: np.ndarray, studies) -> np.ndarray:
    """Maximum over each study's items: [items, L] -> [studies, L]."""
    return np.stack([values[s["first"]:s["first"] + s["items"]].max(axis=0) for s in studies])


def write_probe(module, manifest: dict, path: str) -> None:
    """Writes PATH (JSON): the logits for a fixed probe input, for the C++ side
    to check that it computes what Python computes (within 1e-4). The probe is
    x[i] = sin(0.37 * i) over the flattened [1, C, H, W] input, which C++ can
    rebuild without a data file."""
    inp = manifest["input"]
    shape = [1, inp.get("channels", 1), inp["height"], inp["width"]]
    n = int(np.prod(shape))
    x = torch.from_numpy(np.sin(0.37 * np.arange(n, dtype=np.float64)).astype(np.float32).reshape(shape))
    module.eval()
    with torch.no_grad():
        logits = module(x)[0].tolist()
    with open(path, "w") as f:
        json.dump({"probe": "x[i] = sin(0.37 * i), float32, shape " + str(shape), "shape": shape,
                   "logits": logits, "torch": torch.__version__}, f, indent=1)
        f.write("\n")


def predict(model: nn.Module, x: np.ndarray, batch: int) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(torch.sigmoid(model(torch.from_numpy(x[i:i + batch]))).numpy())
    return np.concatenate(out, axis=0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--version", default=None,
                    help="manifest version to write (default: the input's, plus +UTC timestamp)")
    ap.add_argument("--max-fp-per-1000", type=float, default=1.2)
    ap.add_argument("--calibration-fraction", type=float, default=0.2)
    ap.add_argument("--calibration-data", default=None,
                    help="PREFIX of a separate calibration set (else --calibration-fraction of --data)")
    ap.add_argument("--stem-stride", type=int, default=1, choices=(1, 2),
                    help="stride of the first convolution (2: a quarter of the compute)")
    ap.add_argument("--any-label", default=None,
                    help="label whose target is the union of all other labels")
    args = ap.parse_args()

    torch.set_num_threads(max(1, args.threads))
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    started = time.time()

    with open(args.manifest) as f:
        manifest = json.load(f)
    names = [l["name"] for l in manifest["labels"]]
    inp = manifest["input"]
    expected = [inp.get("channels", 1), inp["height"], inp["width"]]
    if inp.get("depth", 1) != 1:
        sys.exit("train.py: 3-D models (input.depth > 1) are not supported yet; use a per-slice (depth 1) manifest")
    L = len(names)
    any_col = None
    if args.any_label is not None:
        if args.any_label not in names:
            sys.exit(f"train.py: --any-label {args.any_label!r} is not a label of the manifest")
        any_col = names.index(args.any_label)
    x, y, studies = load_arrays(args.data, names, expected, any_col)
    shape = list(x.shape)
    n = shape[0]

    if args.calibration_data:
        xtr, ytr = x, y
        xcal, ycal, cal_studies = load_arrays(args.calibration_data, names, expected, any_col)
    else:
        # Split by study so that slices of one study never straddle the split.
        perm = rng.permutation(len(studies))
        n_cal = max(1, int(round(args.calibration_fraction * len(studies))))
        cal_idx, train_idx, cal_studies = [], [], []
        for rank, s in enumerate(perm):
            st = studies[s]
            idx = range(st["first"], st["first"] + st["items"])
            if rank < n_cal:
                cal_studies.append({"first": len(cal_idx), "items": st["items"]})
                cal_idx.extend(idx)
            else:
                train_idx.extend(idx)
        cal_idx, train_idx = np.array(cal_idx), np.array(sorted(train_idx))
        xtr, ytr, xcal, ycal = x[train_idx], y[train_idx], x[cal_idx], y[cal_idx]
    print(f"data: {n} items ({len(studies)} studies), train {len(xtr)}, calibration {len(xcal)} "
          f"({len(cal_studies)} studies); input {shape[1:]}")

    pos = ytr.sum(axis=0)
    neg = len(ytr) - pos
    pos_weight = torch.tensor(np.clip(neg / np.maximum(pos, 1.0), 1.0, 50.0), dtype=torch.float32)
    model = SmallCnn(shape[1], L, stem_stride=args.stem_stride)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = max(1, args.epochs * math.ceil(len(xtr) / args.batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    xtr_t, ytr_t = torch.from_numpy(xtr), torch.from_numpy(ytr)
    for epoch in range(args.epochs):
        model.train()
        order = torch.from_numpy(rng.permutation(len(xtr)))
        total = 0.0
        for i in range(0, len(xtr), args.batch_size):
            b = order[i:i + args.batch_size]
            if len(b) < 2:
                continue  # BatchNorm needs more than one item
            xb = xtr_t[b]
            # Light augmentation: small random shifts (no flips: side matters).
            dy, dx = (int(v) for v in rng.integers(-4, 5, size=2))
            xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))
            opt.zero_grad()
            loss = loss_fn(model(xb), ytr_t[b])
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss) * len(b)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / len(xtr):.4f} ({time.time() - started:.0f} s)")
        sys.stdout.flush()

    model.eval()
    ptr = predict(model, xtr, 64)
    pcal_items = predict(model, xcal, 64)
    # The service decides per study: max over a study's items.
    pcal, ycal = per_study(pcal_items, cal_studies), per_study(ycal, cal_studies)
    report = []
    out_manifest = copy.deepcopy(manifest)
    print(f"calibration per study ({len(cal_studies)} studies); train AUC per item")
    print(f"{'label':24s} {'train AUC':>9s} {'cal AUC':>8s} {'cal +/-':>8s} {'threshold':>10s} "
          f"{'cal sens':>8s} {'cal FP':>6s}")
    for i, name in enumerate(names):
        a_tr = auc(ptr[:, i], ytr[:, i])
        a_cal = auc(pcal[:, i], ycal[:, i])
        t, sens, fp, notes = operating_point(pcal[:, i], ycal[:, i], args.max_fp_per_1000)
        if t is not None:
            out_manifest["labels"][i]["operating_point"] = t
        npos = int((ycal[:, i] > 0.5).sum())
        line = (f"{name:24s} {a_tr:9.3f} {a_cal:8.3f} {npos:4d}/{len(ycal) - npos:<4d} "
                f"{(t if t is not None else float('nan')):10.6f} {sens:8.3f} {fp:6d}")
        print(line)
        report.append(line)
        for note in notes:
            print(f"  warning: {name}: {note}")
            report.append(f"  warning: {name}: {note}")

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d%H%M%S")
    out_manifest["version"] = args.version or f"{manifest['version'].split('+')[0]}+{stamp}"
    out_manifest["device_uid"] = "2.25." + str(uuid.uuid4().int)

    os.makedirs(args.out, exist_ok=True)
    pt = os.path.join(args.out, manifest["id"] + ".pt")
    scripted = torch.jit.script(model)
    torch.jit.save(scripted, pt)
    # Check the contract on what was written.
    loaded = torch.jit.load(pt)
    loaded.eval()
    with torch.no_grad():
        probe = torch.from_numpy(x[:2])
        a = loaded(probe)
        b = loaded.head(loaded.features(probe))
        if a.shape != (len(probe), L) or not torch.allclose(a, b, atol=1e-5):
            sys.exit("train.py: exported module breaks forward == head(features)")
    # Not .json: a model directory loader would take it for a manifest.
    write_probe(loaded, manifest, os.path.join(args.out, manifest["id"] + ".probe.txt"))
    with open(os.path.join(args.out, manifest["id"] + ".json"), "w") as f:
        json.dump(out_manifest, f, indent=2)
        f.write("\n")
    header = [f"model {manifest['id']} version {out_manifest['version']} device_uid {out_manifest['device_uid']}",
              f"data {args.data}: {n} items, train {len(xtr)}, calibration {len(xcal)} items in "
              f"{len(cal_studies)} studies ({args.calibration_data or 'split from data'}); "
              f"stem stride {args.stem_stride}; "
              f"epochs {args.epochs}, seed {args.seed}, torch {torch.__version__}",
              f"operating points: at most {args.max_fp_per_1000} FP per 1000 calibration negatives",
              "label, train AUC (items), calibration AUC (studies), calibration pos/neg studies, threshold, sensitivity, FP"]
    with open(os.path.join(args.out, manifest["id"] + ".training.txt"), "w") as f:
        f.write("\n".join(header + report) + "\n")
    print(f"wrote {pt} and {manifest['id']}.json (device_uid {out_manifest['device_uid']}) "
          f"in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
