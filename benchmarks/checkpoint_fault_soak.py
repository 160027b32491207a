#!/usr/bin/python3
"""Soak of checkpoint save + kill + resume cycles under injected S3 faults.

A 2-rank `trainrun` job checkpoints to moto_server through tests/support/fault_proxy.py,
which answers a fraction of requests with 503 SlowDown, 500 InternalError, a connection cut
mid-body or a stall past the client's stall timeout. The job is SIGTERMed shortly after each
of its commits and started again, `--kills` times per trial; then it runs to the end and its
final parameters are compared bit for bit with an uninterrupted run. Rank 0 of each cycle must
resume from the newest committed checkpoint (read straight from moto_server, no faults).

  /usr/bin/python3 benchmarks/checkpoint_fault_soak.py --rates 0.1,0.3 --trials 3 --kills 6

Prints one row per rate (a fixed-width table with a units row); --json FILE writes the rows.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tests/support"))

import torch  # noqa: E402

from fault_cycles import Moto, job_command, read_faults, run_cycles, temp_dir  # noqa: E402
from fault_proxy import KINDS  # noqa: E402
from harness import REPO, params  # noqa: E402

COLUMNS = [  # (key, header, unit, width, format)
    ("rate", "fault", "%", 6, "{:.0f}"),
    ("trials", "trials", "count", 7, "{}"),
    ("cycles", "cycles", "count", 7, "{}"),
    ("resumed_newest", "newest", "count", 7, "{}"),
    ("fallbacks", "fallbk", "count", 7, "{}"),
    ("corrupt_verdicts", "corrupt", "count", 8, "{}"),
    ("failed_runs", "failed", "runs", 7, "{}"),
    ("save_warnings", "savewarn", "count", 9, "{}"),
    ("requests", "requests", "count", 9, "{}"),
    ("faults", "faults", "count", 7, "{}"),
    ("read_faults", "readflt", "count", 8, "{}"),
    ("bit_exact", "exact", "trials", 6, "{}"),
    ("seconds_per_cycle", "cycle", "s", 7, "{:.2f}"),
    ("ok", "ok", "", 4, "{}"),
]


def row_line(values):
    return " ".join(str(v).rjust(w) for v, (_, _, _, w, _) in zip(values, COLUMNS))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates", default="0.1,0.3", help="comma-separated fault rates")
    p.add_argument("--kinds", default=",".join(KINDS), help="fault kinds (default: all)")
    p.add_argument("--trials", type=int, default=2, help="jobs run to the end per rate")
    p.add_argument("--kills", type=int, default=6, help="kill + resume cycles per trial")
    p.add_argument("--steps", type=int, default=150, help="train.steps of the job")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = p.parse_args()

    tmp, cleanup = temp_dir("trainrun_soak_")
    moto = Moto()
    rows = []
    try:
        moto.create_bucket("soak")
        ref_out = f"{tmp}/ref"
        subprocess.run(job_command(2, ref_out, f"{ref_out}_ckpt", args.steps), cwd=REPO,
                       check=True, capture_output=True, timeout=600)
        ref = params(ref_out)
        print(row_line([h for _, h, _, _, _ in COLUMNS]))
        print(row_line([u for _, _, u, _, _ in COLUMNS]))
        for rate in (float(r) for r in args.rates.split(",")):
            row = {"rate": rate * 100, "trials": 0, "cycles": 0, "resumed_newest": 0,
                   "fallbacks": 0, "corrupt_verdicts": 0, "failed_runs": 0, "save_warnings": 0,
                   "requests": 0, "faults": 0, "read_faults": 0, "bit_exact": 0, "seconds": 0.0}
            for trial in range(args.trials):
                out = f"{tmp}/out-{rate}-{trial}"
                r = run_cycles(moto, "soak", f"rate-{rate}-{trial}", out, rate=rate,
                               kinds=args.kinds.split(","), seed=args.seed * 1000 + trial,
                               kills=args.kills, steps=args.steps)
                row["trials"] += 1
                row["cycles"] += r["resumes"]
                for k in ("resumed_newest", "fallbacks", "corrupt_verdicts", "failed_runs",
                          "save_warnings", "seconds"):
                    row[k] += r[k]
                row["requests"] += r["proxy"].get("requests", 0)
                row["faults"] += r["proxy"].get("faults", 0)
                row["read_faults"] += read_faults(r["proxy"])
                if r["finished"]:
                    got = params(out)
                    row["bit_exact"] += all(torch.equal(ref[k], got[k]) for k in ref)
                for failure in r["failures"]:
                    print(failure[-2000:], file=sys.stderr)
            row["seconds_per_cycle"] = row["seconds"] / max(1, row["cycles"])
            row["ok"] = ("yes" if row["cycles"] == row["resumed_newest"] and
                         row["fallbacks"] == row["corrupt_verdicts"] == row["failed_runs"] == 0
                         and row["bit_exact"] == row["trials"] else "NO")
            rows.append(row)
            print(row_line([f.format(row[k]) for k, _, _, _, f in COLUMNS]), flush=True)
    finally:
        moto.stop()
        cleanup()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0 if all(r["ok"] == "yes" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
