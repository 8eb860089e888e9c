#!/usr/bin/python3
"""Sets a trained reference model's operating points again, weights unchanged.

Usage:
  scripts/models/calibrate.py --model DIR/<id>.pt --calibration-data PREFIX
                              [--max-fp-per-1000 1.2] [--label-family "A,B,C"]...

The operating points are what train.py sets at the end of a run (the same
function, train.calibrate): per label, the lowest threshold at which the
calibration set's negative studies give at most --max-fp-per-1000 false
positives per 1,000; with --label-family, a label's negatives leave out the
studies positive for another label of its family (train.py --help). PREFIX
is what parallax-prepare-training wrote for DIR/<id>.json's input and labels.

Rewrites DIR/<id>.json (operating points, a new version and a new
device_uid: the model's behaviour changes, so it is a new device) and
appends what it measured to DIR/<id>.training.txt.
"""
import argparse
import datetime
import json
import os
import sys
import uuid

import torch

import train  # scripts/models/train.py, beside this script (sys.path[0])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="DIR/<id>.pt written by train.py")
    ap.add_argument("--calibration-data", required=True)
    ap.add_argument("--max-fp-per-1000", type=float, default=1.2)
    ap.add_argument("--label-family", action="append", default=[])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(max(1, args.threads))

    prefix = args.model[:-3] if args.model.endswith(".pt") else args.model
    with open(prefix + ".json") as f:
        manifest = json.load(f)
    names = [l["name"] for l in manifest["labels"]]
    inp = manifest["input"]
    if inp.get("depth", 1) != 1:
        sys.exit("calibrate.py: 3-D models (input.depth > 1) are not supported")
    families = train.parse_families(args.label_family, names)
    x, y, studies = train.load_arrays(args.calibration_data, names,
                                      [inp.get("channels", 1), inp["height"], inp["width"]], None)
    model = torch.jit.load(prefix + ".pt").eval()
    p = train.per_study(train.predict(model, x, 64), studies)
    y = train.per_study(y, studies)
    print(f"calibration per study ({len(studies)} studies, {args.calibration_data})")
    report = train.calibrate(manifest, p, y, args.max_fp_per_1000, families)

    stamp = datetime.datetime.now(datetime.timezone.utc)
    manifest["version"] = f"{manifest['version'].split('+')[0]}+{stamp:%Y%m%d%H%M%S}"
    manifest["device_uid"] = "2.25." + str(uuid.uuid4().int)
    with open(prefix + ".json", "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    with open(prefix + ".training.txt", "a") as f:
        f.write(f"operating points set again by scripts/models/calibrate.py on {stamp:%Y-%m-%d %H:%M} UTC "
                f"(weights unchanged; version {manifest['version']}, device_uid {manifest['device_uid']}) on "
                f"{len(studies)} calibration studies ({os.path.basename(args.calibration_data)}); "
                f"{train.operating_point_rule(args.max_fp_per_1000, args.label_family)}\n")
        f.write(train.REPORT_COLUMNS + "\n")
        f.write("\n".join(report[1:]) + "\n")
    print(f"wrote {prefix}.json (version {manifest['version']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
