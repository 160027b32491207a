#!/usr/bin/env python3
"""Soak of elastic recovery: many kill -9 trials of tests/integration/test_elastic.py (a random
rank at a random moment of a 2-rank run with --max-restarts 3), then a table of what recovery
cost: trials, failures, recovery time (median, max) and steps redone.

Every trial asserts what CI asserts (the run finishes, final parameters equal the
uninterrupted run's within 1e-5, at most the step in flight redone, nothing left behind); CI
runs 10, this runs --trials (default 50).

usage: .venv/bin/python3 benchmarks/elastic_soak.py [--trials 50] [--seed N] [--json out.json]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tests/support"))
from harness import REPO  # noqa: E402

TEST = os.path.join(REPO, "tests", "integration", "test_elastic.py")
TRIAL = re.compile(r"trial (\d+): killed rank (\d+) after step (\d+), resumed at step (\d+), "
                   r"lost (\d+) step\(s\), recovery (\d+) ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--json", help="write the per-trial results here")
    args = ap.parse_args()
    env = dict(os.environ, ELASTIC_TRIALS=str(args.trials))
    if args.seed is not None:
        env["ELASTIC_SEED"] = str(args.seed)
    p = subprocess.run([sys.executable, TEST, "ElasticRecovery.test_kill_random_rank_at_random_moment"],
                       capture_output=True, text=True, env=env, cwd=os.path.dirname(TEST))
    trials = [dict(zip(("trial", "rank", "killed_after", "resumed_at", "lost", "recovery_ms"),
                       map(int, m.groups()))) for m in TRIAL.finditer(p.stdout)]
    failures = len(re.findall(r"^FAIL:", p.stderr, re.M))
    ms = [t["recovery_ms"] for t in trials] or [0]
    lost = [t["lost"] for t in trials] or [0]
    rows = [("trials", "failed", "recovery median", "recovery max", "lost max", "lost total"),
            ("", "", "ms", "ms", "steps", "steps"),
            (len(trials), failures, statistics.median(ms), max(ms), max(lost), sum(lost))]
    for row in rows:
        print(" ".join(f"{str(v):>15}" for v in row))
    seed = re.search(r"ELASTIC_SEED=(\d+)", p.stdout)
    print(f"seed {seed.group(1) if seed else '?'}; exit {p.returncode}")
    if p.returncode != 0:
        print(p.stderr[-4000:], file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"trials": trials, "failures": failures}, f, indent=1)
    return p.returncode


if __name__ == "__main__":
    sys.exit(main())
