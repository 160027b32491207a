#!/usr/bin/env python3
"""Memory per rank on a large table: the node's first rank decodes the table once into the
table cache and every rank maps the decoded file (data/table_cache.h), where each rank used to
decode and hold its own copy.

The table: --rows rows of --features float32 features and a 0..9 label in one Parquet file
(written once under --dir with pyarrow). Each run is `build/trainrun --nproc-per-node N
configs/digits-mlp.yaml` with data.name=table on it, --steps steps, a fresh TRAINRUN_CACHE_DIR
(so rank 0 decodes) or the previous run's (so every rank only maps). The script polls each
rank's /proc/<pid>/status every 20 ms and keeps its peak RssAnon (memory the process allocated
itself) and peak RssFile (mapped files, the page cache the ranks share). Rank 0 of a cold run
decodes exactly as every rank did before this change: its peak RssAnon is what each rank used
to hold; the others' is what a rank holds now.

usage: .venv/bin/python3 benchmarks/table_memory.py [--rows 2000000] [--features 32]
           [--nproc 2] [--steps 20] [--json out.json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../tests/support"))
from harness import CONFIG, REPO, TRAINRUN, children_or_empty  # noqa: E402


def write_table(path, rows, features):
    if os.path.exists(path):
        return
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    rng = np.random.default_rng(0)
    cols = {f"f{i}": rng.standard_normal(rows, dtype=np.float32) for i in range(features)}
    cols["label"] = rng.integers(0, 10, rows).astype(np.int64)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(pa.table(cols), path + ".tmp")
    os.rename(path + ".tmp", path)


def status_kib(pid, keys):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k = line.split(":")[0]
            if k in keys:
                out[k] = int(line.split()[1])
    return out


def run(table, nproc, steps, cache, out):
    cmd = [TRAINRUN, "--nproc-per-node", str(nproc), CONFIG]
    for s in ("data.name=table", f"data.path={table}", "data.label=label",
              f"train.steps={steps}", "train.eval_every=0", "checkpoint.uri=",
              f"output.dir={out}", "run.name=table-memory", "data.eval_fraction=0.01"):
        cmd += ["--set", s]
    peaks, stop = {}, threading.Event()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, TRAINRUN_CACHE_DIR=cache))

    def poll():
        while not stop.is_set():
            for pid in children_or_empty(proc.pid):
                try:
                    s = status_kib(pid, ("RssAnon", "RssFile"))
                except OSError:
                    continue
                p = peaks.setdefault(pid, {"RssAnon": 0, "RssFile": 0})
                for k in p:
                    p[k] = max(p[k], s.get(k, 0))
            time.sleep(0.02)

    t = threading.Thread(target=poll)
    t.start()
    stdout, stderr = proc.communicate(timeout=1800)
    stop.set()
    t.join()
    if proc.returncode != 0:
        raise SystemExit(f"trainrun failed ({proc.returncode}):\n{stdout[-2000:]}\n{stderr}")
    # The launcher's children in start order are ranks 0..N-1.
    return [{k: v / 1024 for k, v in peaks[pid].items()} for pid in sorted(peaks)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--dir", default="/tmp/trainrun_table_memory")
    ap.add_argument("--json")
    args = ap.parse_args()
    table = os.path.join(args.dir, f"rows{args.rows}-f{args.features}.parquet")
    write_table(table, args.rows, args.features)
    decoded_mib = args.rows * (args.features * 4 + 8) / (1 << 20)
    with tempfile.TemporaryDirectory(prefix="trainrun_table_memory_") as tmp:
        cache = os.path.join(tmp, "cache")
        cold = run(table, args.nproc, args.steps, cache, os.path.join(tmp, "cold"))
        warm = run(table, args.nproc, args.steps, cache, os.path.join(tmp, "warm"))
    print(f"\ntable memory: {args.rows} rows x {args.features} float32 features "
          f"(~{decoded_mib:.0f} MiB decoded), {args.nproc} ranks, {args.steps} steps; peaks")
    print(f"{'run':<6} {'rank':>5} {'RssAnon':>9} {'RssFile':>9}")
    print(f"{'':<6} {'':>5} {'(MiB)':>9} {'(MiB)':>9}")
    for name, ranks in (("cold", cold), ("warm", warm)):
        for r, p in enumerate(ranks):
            print(f"{name:<6} {r:>5} {p['RssAnon']:>9.0f} {p['RssFile']:>9.0f}")
    before = cold[0]["RssAnon"] * args.nproc
    after = cold[0]["RssAnon"] + sum(p["RssAnon"] for p in cold[1:])
    print(f"node RssAnon, cold run: {after:.0f} MiB now; {before:.0f} MiB when every rank decoded "
          f"(rank 0's peak x {args.nproc})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "table_memory", "rows": args.rows, "features": args.features,
                       "nproc": args.nproc, "cold_mib": cold, "warm_mib": warm,
                       "node_rss_anon_mib_now": after, "node_rss_anon_mib_before": before},
                      f, indent=2)


if __name__ == "__main__":
    main()
