#!/usr/bin/env python3
"""Sends phantom studies one at a time to a running Parallax stack and reports
the time from 'stable' to 'analysed study stored', split by stage (see
scripts/bench/pipeline). Reads the services' own rows with psql."""
import argparse
import glob
import json
import os
import statistics
import subprocess
import time


def psql(db, sql):
    out = subprocess.run(["psql", db, "-Atqc", sql], check=True, capture_output=True, text=True).stdout
    return [line.split("|") for line in out.strip().splitlines() if line]


def pct(values, q):
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--dicom-port", required=True)
    ap.add_argument("--studies", required=True)
    args = ap.parse_args()
    env = dict(os.environ, TCP_NODELAY="1")
    rows = {"chest film": [], "head CT (32 slices)": []}
    for kind, pattern in (("chest film", "chest/chest_xray-*"), ("head CT (32 slices)", "head/head_ct-*")):
        for study in sorted(glob.glob(os.path.join(args.studies, pattern))):
            uid = json.load(open(os.path.join(study, "truth.json")))["study_instance_uid"]
            subprocess.run(["storescu", "-aec", "PARALLAX", "+sd", "+sp", "*.dcm", "127.0.0.1", args.dicom_port, study],
                           check=True, capture_output=True, env=env)
            deadline = time.time() + 120
            got = []
            while time.time() < deadline:
                got = psql(args.db, f"""
                  SELECT extract(epoch FROM t.submitted_at - i.stable_at) * 1000,
                         a.inference_ms, a.explain_ms,
                         extract(epoch FROM a.stored_at - i.stable_at) * 1000, a.state, a.decision
                    FROM ingest.studies i JOIN triage.studies t USING (study_uid)
                    JOIN triage.analyses a ON a.study_uid = t.study_uid AND a.generation = t.generation
                   WHERE i.study_uid = '{uid}'""")
                if got:
                    break
                time.sleep(0.05)
            if not got:
                print(f"  {kind}: a study was not analysed within 120 s; skipped")
                continue
            handoff, inf, exp, total, state, decision = got[0]
            handoff, inf, exp, total = map(float, (handoff, inf, exp, total))
            rows[kind].append({"handoff": handoff, "inference": inf, "explain": exp,
                               "rest": total - handoff - inf - exp, "total": total,
                               "positive": decision == "positive"})
    goals = {"chest film": 1000.0, "head CT (32 slices)": 4000.0}
    print()
    print(f"{'kind':<20} {'n':>3} {'stage':<10} {'p50 ms':>9} {'p95 ms':>9}")
    for kind, rs in rows.items():
        for stage in ("handoff", "inference", "explain", "rest", "total"):
            vals = [r[stage] for r in rs]
            print(f"{kind:<20} {len(rs):>3} {stage:<10} {pct(vals, 0.5):>9.0f} {pct(vals, 0.95):>9.0f}")
        print()
    print("Goals and anchors (same run):")
    for kind, rs in rows.items():
        if not rs:
            continue
        p95 = pct([r["total"] for r in rs], 0.95) / 1000
        p50 = pct([r["total"] for r in rs], 0.5) / 1000
        grad = statistics.median(r["explain"] / r["inference"] for r in rs if r["inference"] > 0)
        positives = sum(r["positive"] for r in rs)
        print(f"  {kind}: p95 {p95:.2f} s (goal <= {goals[kind] / 1000:.1f} s: {'met' if p95 <= goals[kind] / 1000 else 'MISSED'}); "
              f"p50 {p50:.2f} s = {10 / p50:.0f}-{30 / p50:.0f}x faster than the seed system's 10-30 s"
              + (f", {33.5 / p50:.0f}x below the commercial ICH product's mean 33.5 s" if "CT" in kind else ""))
        print(f"    Grad-CAM (explain stage) adds {100 * grad:.0f}% of inference time, median "
              f"(goal <= 50%: {'met' if grad <= 0.5 else 'MISSED'}); {positives}/{len(rs)} studies positive")
    load = open("/proc/loadavg").read().split()[:3]
    print(f"  load average during the run: {' '.join(load)} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
