#!/usr/bin/env python3
"""Checkpoint benchmark: training stall of an async save vs a sync save of the same state
(>= 200 MB), on local disk and on S3 (moto_server on loopback), and upload throughput of the
checkpoint writer vs `aws s3 cp` of the same bytes to the same endpoint.

usage: .venv/bin/python3 benchmarks/checkpoint_stall.py [--mb 256] [--trials 5] [--json out.json]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tests/support"))
from harness import BIN_DIR, MotoServer  # noqa: E402


def bench(binary, uri, mb, trials, env):
    out = subprocess.run([binary, uri, "--mb", str(mb), "--trials", str(trials)], env=env,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])  # earlier lines: commit logs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=256)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--bin-dir", default=BIN_DIR)
    ap.add_argument("--json")
    args = ap.parse_args()
    binary = os.path.join(args.bin_dir, "checkpoint_bench")

    moto = MotoServer()
    endpoint, env = moto.endpoint, moto.env
    try:
        aws = ["aws", "--endpoint-url", endpoint]
        moto.aws("s3", "mb", "s3://bench")
        with tempfile.TemporaryDirectory() as tmp:
            local = bench(binary, os.path.join(tmp, "ckpt"), args.mb, args.trials, env)
            s3 = bench(binary, "s3://bench/ckpt", args.mb, args.trials, env)
            blob = os.path.join(tmp, "blob.bin")
            with open(blob, "wb") as f:
                f.write(b"x" * (args.mb << 20))
            # Upload throughput: trainrun's writer and `aws s3 cp` take turns, so that both
            # see the same server state (moto's speed drifts as it runs).
            ours, cli = [], []
            for _ in range(args.trials):
                out = subprocess.run([binary, "s3://bench/put", "--mb", str(args.mb),
                                      "--put-only", "1"], env=env, capture_output=True,
                                     text=True, check=True).stdout
                ours.append(json.loads(out.strip().splitlines()[-1])["put_mb_per_s"])
                start = time.monotonic()
                subprocess.run(aws + ["s3", "cp", blob, "s3://bench/cli/blob.bin"], env=env,
                               check=True, capture_output=True)
                cli.append(args.mb / (time.monotonic() - start))
            put_mbps, cli_mbps = statistics.median(ours), statistics.median(cli)
    finally:
        moto.stop()

    print(f"# checkpoint of {args.mb} MiB, 1 rank, median of {args.trials} saves")
    print(f"{'storage':>8} {'sync stall':>11} {'async stall':>12} {'async/sync':>11} {'put':>9}")
    print(f"{'':>8} {'ms':>11} {'ms':>12} {'x':>11} {'MB/s':>9}")
    for name, r in (("local", local), ("s3", s3)):
        print(f"{name:>8} {r['sync_stall_ms']:>11.1f} {r['async_stall_ms']:>12.1f} "
              f"{r['async_over_sync']:>11.3f} {r['put_mb_per_s']:>9.1f}")
    print(f"upload of {args.mb} MiB to S3, median of {args.trials} alternating runs: trainrun "
          f"{put_mbps:.1f} MB/s vs aws s3 cp {cli_mbps:.1f} MB/s = {put_mbps / cli_mbps:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "checkpoint_stall", "local": local, "s3": s3,
                       "put_mb_per_s": put_mbps, "aws_cli_mb_per_s": cli_mbps,
                       "upload_ratio": put_mbps / cli_mbps}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
