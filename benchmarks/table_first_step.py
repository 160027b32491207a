#!/usr/bin/env python3
"""Time to first step on a table in S3 (moto_server on loopback): trainrun (data.name=table,
1 rank, an empty cache: list, fetch, verify, parse, standardize, build, step) vs PyTorch +
pyarrow reading the same files from the same endpoint (pyarrow's S3 filesystem, then the same
standardization, MLP and SGD step), each a fresh process timed from launch to its first step,
in alternating trials.

usage: .venv/bin/python3 benchmarks/table_first_step.py [--mb 1024] [--format parquet|csv]
       [--files 8] [--trials 3] [--json out.json]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tests/support"))
from harness import BIN_DIR, CONFIG, REPO, MotoServer  # noqa: E402
FEATURES = 32

# The PyTorch side: what a hand-written training script does before its first step.
TORCH_SIDE = r"""
import sys, time
import pyarrow.fs, pyarrow.dataset as ds, numpy as np, torch
endpoint, bucket, prefix, fmt = sys.argv[1:5]
s3 = pyarrow.fs.S3FileSystem(endpoint_override=endpoint, scheme="http", region="us-east-1",
                             access_key="bench", secret_key="bench")
table = ds.dataset(f"{bucket}/{prefix}", filesystem=s3, format=fmt).to_table()
y = torch.from_numpy(table.column("label").to_numpy().astype(np.int64))
x = torch.from_numpy(np.stack([table.column(c).to_numpy() for c in table.column_names
                               if c != "label"], axis=1).astype(np.float32))
mean, std = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-12)
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 256), torch.nn.ReLU(),
                            torch.nn.Linear(256, 256), torch.nn.ReLU(),
                            torch.nn.Linear(256, int(y.max()) + 1))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
idx = torch.randperm(len(y))[:64]
loss = torch.nn.functional.cross_entropy(model((x[idx] - mean) / std), y[idx])
opt.zero_grad(); loss.backward(); opt.step()
print(f"step=1 loss={loss.item():.4f}", flush=True)
"""


def make_files(root, mb, files, fmt):
    """`files` files of about mb/files MiB each: FEATURES float columns and a 10-class label."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    rng = np.random.default_rng(0)
    bytes_per_row = (FEATURES * 8 + 8) if fmt == "parquet" else (FEATURES * 19 + 2)
    rows = max(1, (mb << 20) // bytes_per_row // files)
    for i in range(files):
        x = rng.normal(size=(rows, FEATURES)) * rng.uniform(0.1, 1000, FEATURES)
        cols = {f"f{j}": x[:, j] for j in range(FEATURES)}
        cols["label"] = rng.integers(0, 10, rows)
        t = pa.table(cols)
        if fmt == "parquet":
            pq.write_table(t, f"{root}/part-{i:03d}.parquet", compression="none")
        else:
            pacsv.write_csv(t, f"{root}/part-{i:03d}.csv")
    return rows * files


def first_step_seconds(cmd, env):
    """Wall seconds from launch to the first `step=1` line; the process is then stopped."""
    start = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, cwd=REPO)
    out = []
    for line in p.stdout:
        out.append(line)
        if "step=1 " in line or "step=1/" in line:  # the peer's line, trainrun's step=1/TOTAL
            seconds = time.monotonic() - start
            p.wait(timeout=600)
            return seconds
    p.wait()
    raise RuntimeError(f"{cmd[0]} printed no first step:\n{''.join(out)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=1024, help="table size in MiB (default 1 GiB)")
    ap.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--bin-dir", default=BIN_DIR)
    ap.add_argument("--json")
    args = ap.parse_args()

    moto = MotoServer()
    endpoint, env = moto.endpoint, moto.env
    tmp = tempfile.mkdtemp(prefix="trainrun_table_bench_")
    ours, theirs = [], []
    try:
        aws = ["aws", "--endpoint-url", endpoint]
        moto.aws("s3", "mb", "s3://bench")
        os.makedirs(f"{tmp}/table")
        rows = make_files(f"{tmp}/table", args.mb, args.files, args.format)
        size = sum(os.path.getsize(f"{tmp}/table/{f}") for f in os.listdir(f"{tmp}/table"))
        subprocess.run(aws + ["s3", "cp", "--recursive", f"{tmp}/table", "s3://bench/table"],
                       env=env, check=True, capture_output=True)
        shutil.rmtree(f"{tmp}/table")
        trainrun = [os.path.join(args.bin_dir, "trainrun"), "--nproc-per-node", "1",
                    CONFIG,
                    "--set", "data.name=table", "--set", "data.path=s3://bench/table",
                    "--set", "data.label=label", "--set", "train.steps=1",
                    "--set", "train.log_every=1", "--set", "checkpoint.uri=",
                    "--set", f"output.dir={tmp}/out", "--set", "resume=never"]
        torch_side = [sys.executable, "-c", TORCH_SIDE, endpoint, "bench", "table",
                      args.format]
        for trial in range(args.trials):
            # Alternate who goes first; trainrun always starts from an empty cache.
            order = [("trainrun", trainrun), ("torch", torch_side)]
            if trial % 2:
                order.reverse()
            for name, cmd in order:
                cache = f"{tmp}/cache-{trial}"
                shutil.rmtree(cache, ignore_errors=True)
                seconds = first_step_seconds(cmd, dict(env, TRAINRUN_CACHE_DIR=cache))
                (ours if name == "trainrun" else theirs).append(seconds)
                shutil.rmtree(cache, ignore_errors=True)
    finally:
        moto.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    t_ours, t_theirs = statistics.median(ours), statistics.median(theirs)
    print(f"# time to first step: {args.files} {args.format} files, {size / 2**20:.0f} MiB, "
          f"{rows} rows x {FEATURES} features, moto_server on loopback, 1 rank, median of "
          f"{args.trials} alternating trials")
    print(f"{'side':>16} {'first step':>11} {'min':>8} {'max':>8} {'read rate':>10}")
    print(f"{'':>16} {'s':>11} {'s':>8} {'s':>8} {'MiB/s':>10}")
    for name, t in (("trainrun", ours), ("pytorch+pyarrow", theirs)):
        med = statistics.median(t)
        print(f"{name:>16} {med:>11.2f} {min(t):>8.2f} {max(t):>8.2f} "
              f"{size / 2**20 / med:>10.1f}")
    print(f"ratio pytorch+pyarrow / trainrun = {t_theirs / t_ours:.2f}x "
          f"({'trainrun faster' if t_ours < t_theirs else 'trainrun slower'})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "table_first_step", "format": args.format,
                       "bytes": size, "rows": rows, "features": FEATURES, "files": args.files,
                       "trainrun_s": ours, "pytorch_pyarrow_s": theirs,
                       "ratio": t_theirs / t_ours}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
