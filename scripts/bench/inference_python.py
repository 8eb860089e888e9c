#!/usr/bin/python3
"""Python side of scripts/bench/inference: the same TorchScript files, the
same input tensors and the same thread counts as parallax-bench-inference
(libs/inference/tools/bench_inference.cc), measured the same way.

Usage:
  inference_python.py --models DIR [--only ID] [--threads N] [--interop N]
                      [--repeats R] [--latency-repeats R] [--warmup W]
                      [--batch B] [--variants plain,frozen,optimized]
                      [--channels-last]
  inference_python.py --make-standins DIR

Benchmark mode prints one JSON line per (model, variant, mode) on stdout, with
the same keys as the C++ side:
  {"side": "python", "variant": "plain", "model": ID, "mode": "latency"|"throughput",
   "batch": B, "threads": N, "interop_threads": N, "repeats": R,
   "median_ms": .., "min_ms": .., "max_ms": .., "p10_ms": .., "p90_ms": ..,
   "items_per_s": .., "cpu_per_wall": .., "logits_sum": .., "logits_head": [..]}
  median_ms etc. are per call (one call = one batch of `batch` items);
  items_per_s = batch / median seconds; cpu_per_wall = process CPU time /
  wall time over the timed calls (about the cores kept busy). logits_sum and logits_head let the
  runner check that both sides computed the same thing on the same input.

Variants:
  plain      torch.jit.load + eval(): what a Python deployer most likely runs
             (the fair anchor).
  frozen     torch.jit.freeze(module, preserved_attrs=["features", "head"]):
             what Model::Load does in C++ by default.
  optimized  torch.jit.optimize_for_inference on the frozen module (also
             converts convolutions to MKL-DNN).

The input is the deterministic sequence Model::Load uses for its probe (a
32-bit linear congruential generator, state 0x9E3779B9, x -> x*1664525 +
1013904223, value (x >> 8) / 2^24), computed here in numpy; the C++ side
generates the same values, so logits agree to float rounding.

--make-standins DIR exports scripts/models/train.py's SmallCnn, untrained
(fixed seed), with manifests of the planned reference models' shapes
(parallax.cxr 1x256x256, parallax.headct 3 windows x 256x256 per slice,
parallax.brainmri 2x256x256 per slice, parallax.bone 1x256x256): realistic
compute, meaningless outputs. Not clinical models.

Runs with Debian's python3-torch, hence /usr/bin/python3.
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

_HERE = os.path.dirname(os.path.abspath(__file__))


# --- the shared input -------------------------------------------------------

def lcg_input(shape):
    """Float32 array of `shape` from the LCG described in the module doc."""
    n = int(np.prod(shape))
    a, c, mask = 1664525, 1013904223, 0xFFFFFFFF
    block = 4096
    first = np.empty(block, dtype=np.uint64)
    s = 0x9E3779B9
    for i in range(block):
        s = (s * a + c) & mask
        first[i] = s
    # Jump `block` steps at once: s' = A*s + C (mod 2^32).
    big_a, big_c = 1, 0
    for _ in range(block):
        big_a, big_c = (big_a * a) & mask, (big_c * a + c) & mask
    states = np.empty(((n + block - 1) // block) * block, dtype=np.uint64)
    cur = first
    with np.errstate(over="ignore"):
        for b in range(len(states) // block):
            states[b * block:(b + 1) * block] = cur
            cur = (cur * np.uint64(big_a) + np.uint64(big_c)) & np.uint64(mask)
    values = (states[:n] >> np.uint64(8)).astype(np.float32) / np.float32(1 << 24)
    return values.reshape(shape)


def input_shape(manifest, batch):
    inp = manifest["input"]
    c, h, w, d = inp.get("channels", 1), inp["height"], inp["width"], inp.get("depth", 1)
    return [batch, c, h, w] if d == 1 else [batch, c, d, h, w]


# --- measuring --------------------------------------------------------------

def percentile(sorted_values, q):
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def measure(fn, x, warmup, repeats):
    """Runs fn(x) warmup times untimed, then repeats times timed one by one."""
    """Returns (sorted per-call ms, last output, process CPU time / wall time)."""
    out = None
    for _ in range(warmup):
        out = fn(x)
    times = []
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(x)
        times.append((time.perf_counter() - t0) * 1000.0)
    cpu_per_wall = (time.process_time() - c0) / (time.perf_counter() - w0)
    return sorted(times), out, cpu_per_wall


def load_variant(path, variant):
    m = torch.jit.load(path, map_location="cpu")
    m.eval()
    if variant == "plain":
        return m
    frozen = torch.jit.freeze(m, preserved_attrs=["features", "head"])
    if variant == "frozen":
        return frozen
    if variant == "optimized":
        return torch.jit.optimize_for_inference(frozen, other_methods=["features", "head"])
    raise ValueError(f"unknown variant {variant}")


def bench(args):
    torch.set_num_threads(args.threads)
    if args.interop > 0:
        torch.set_num_interop_threads(args.interop)
    variants = [v for v in args.variants.split(",") if v]
    manifests = sorted(f for f in os.listdir(args.models) if f.endswith(".json"))
    found = False
    for name in manifests:
        stem = name[:-len(".json")]
        pt = os.path.join(args.models, stem + ".pt")
        if not os.path.isfile(pt):
            continue
        with open(os.path.join(args.models, name)) as f:
            manifest = json.load(f)
        if args.only and manifest["id"] != args.only:
            continue
        found = True
        inputs = {1: torch.from_numpy(lcg_input(input_shape(manifest, 1)))}
        inputs[args.batch] = torch.from_numpy(lcg_input(input_shape(manifest, args.batch)))
        if args.channels_last:
            inputs = {k: v.contiguous(memory_format=torch.channels_last) for k, v in inputs.items()}
        for variant in variants:
            t0 = time.perf_counter()
            module = load_variant(pt, variant)
            if args.channels_last:
                module = module.to(memory_format=torch.channels_last) if hasattr(module, "to") else module
            load_ms = (time.perf_counter() - t0) * 1000.0

            def run(x):
                with torch.inference_mode():
                    return module(x)

            for mode, batch, repeats in (("latency", 1, args.latency_repeats),
                                         ("throughput", args.batch, args.repeats)):
                times, out, cpu_per_wall = measure(run, inputs[batch], args.warmup, repeats)
                med = statistics.median(times)
                flat = out.detach().reshape(-1).double()
                print(json.dumps({
                    "side": "python", "variant": variant + ("+channels_last" if args.channels_last else ""),
                    "model": manifest["id"], "mode": mode, "batch": batch,
                    "input_shape": list(inputs[batch].shape),
                    "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
                    "repeats": repeats, "warmup": args.warmup, "load_ms": round(load_ms, 1),
                    "median_ms": round(med, 3), "min_ms": round(times[0], 3), "max_ms": round(times[-1], 3),
                    "p10_ms": round(percentile(times, 0.1), 3), "p90_ms": round(percentile(times, 0.9), 3),
                    "items_per_s": round(batch * 1000.0 / med, 2), "cpu_per_wall": round(cpu_per_wall, 2),
                    "logits_sum": float(flat.sum()), "logits_head": [float(v) for v in flat[:4]],
                }), flush=True)
    if not found:
        sys.exit(f"inference_python.py: no model{' ' + args.only if args.only else ''} "
                 f"(<name>.json with <name>.pt) in {args.models}")


# --- stand-in models ----------------------------------------------------------

def _label(name, code, display):
    return {"name": name, "code": {"system": "http://snomed.info/sct", "code": code, "display": display},
            "operating_point": 0.5}


STANDINS = [
    {"id": "parallax.cxr", "applies_to": {"modality": ["DX", "CR"], "body_part": ["CHEST"],
                                          "view_position": ["PA", "AP"]},
     "input": {"channels": 1, "height": 256, "width": 256, "depth": 1,
               "normalisation": {"mean": 1150, "std": 650}},
     "labels": [_label("Pneumothorax", "36118008", "Pneumothorax"),
                _label("Effusion", "60046008", "Pleural effusion"),
                _label("Cardiomegaly", "8186001", "Cardiomegaly")]},
    {"id": "parallax.headct", "applies_to": {"modality": ["CT"], "body_part": ["HEAD", "BRAIN"],
                                             "view_position": []},
     "input": {"channels": 3, "height": 256, "width": 256, "depth": 1,
               "windows": [{"center": 40, "width": 80}, {"center": 80, "width": 200},
                           {"center": 600, "width": 2800}]},
     "labels": [_label("Intracranial haemorrhage", "1386000", "Intracranial hemorrhage"),
                _label("Subdural haematoma", "95453001", "Subdural hematoma"),
                _label("Skull fracture", "71642004", "Fracture of skull")]},
    {"id": "parallax.brainmri", "applies_to": {"modality": ["MR"], "body_part": ["BRAIN", "HEAD"],
                                               "view_position": []},
     "input": {"channels": 2, "height": 256, "width": 256, "depth": 1,
               "normalisation": {"mean": 300, "std": 200}},
     "labels": [_label("Brain mass", "126952004", "Neoplasm of brain"),
                _label("Acute infarct", "432504007", "Cerebral infarction")]},
    {"id": "parallax.bone", "applies_to": {"modality": ["DX", "CR"], "body_part": [], "view_position": []},
     "input": {"channels": 1, "height": 256, "width": 256, "depth": 1,
               "normalisation": {"mean": 1500, "std": 800}},
     "labels": [_label("Fracture", "125605004", "Fracture of bone")]},
]


def make_standins(out):
    sys.path.insert(0, os.path.join(_HERE, "..", "models"))
    from train import SmallCnn  # noqa: E402  (the reference architecture, not modified)
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(7)
    for spec in STANDINS:
        model = SmallCnn(spec["input"]["channels"], len(spec["labels"]))
        model.eval()
        scripted = torch.jit.script(model)
        torch.jit.save(scripted, os.path.join(out, spec["id"] + ".pt"))
        manifest = {"id": spec["id"], "version": "0.0.0-standin", "device_uid": "2.25.1",
                    "applies_to": spec["applies_to"], "input": spec["input"], "labels": spec["labels"]}
        with open(os.path.join(out, spec["id"] + ".json"), "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
    print(f"wrote {len(STANDINS)} untrained SmallCnn stand-ins to {out}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--make-standins", metavar="DIR")
    ap.add_argument("--models", default="/work/main/models")
    ap.add_argument("--only", default="", help="model id to run (default: every model of --models)")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (intra-op)")
    ap.add_argument("--interop", type=int, default=0, help="torch.set_num_interop_threads; 0 keeps the default")
    ap.add_argument("--repeats", type=int, default=10, help="timed calls per throughput row")
    ap.add_argument("--latency-repeats", type=int, default=30, help="timed calls per latency row")
    ap.add_argument("--warmup", type=int, default=3, help="untimed calls before each row")
    ap.add_argument("--batch", type=int, default=32, help="items per throughput call (slices of a study)")
    ap.add_argument("--variants", default="plain,frozen")
    ap.add_argument("--channels-last", action="store_true", help="input and module in channels-last layout")
    args = ap.parse_args()
    if args.make_standins:
        make_standins(args.make_standins)
        return 0
    for name in ("threads", "repeats", "latency_repeats", "batch"):
        if getattr(args, name) < 1:
            sys.exit(f"inference_python.py: --{name.replace('_', '-')} must be >= 1")
    bench(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
