#!/usr/bin/env python3
"""Time to the first step from S3 with an empty cache: trainrun streaming llm.c shards from
s3:// (data.name=tokens, the node cache) vs `aws s3 cp --recursive` of the corpus, then the same
job on the local copy; a small and a large corpus.

moto_server (a real S3 API on loopback) holds two corpora of llm.c shards of random ids below
512, ~--shard-mb MB each: --small-mib MiB and --large-gib GiB (benchmarks/token_loader.py's
writer, uploaded once per run of this script). Each trial starts from an empty cache folder:
  trainrun: build/trainrun --nproc-per-node 2 configs/gpt-tiny.yaml, data.path=s3://.../
            corpus_train_ (a prefix), TRAINRUN_CACHE_DIR=<empty>: launch to the first step line;
  aws cp:   `aws s3 cp --recursive` into an empty folder, then the same job on that folder:
            the copy's start to the first step line.
Trials alternate the sides; the table shows medians and the large corpus's extra time. The goal
(issue 25): the large corpus within 0.5 s of the small one.

usage: .venv/bin/python3 benchmarks/token_s3_first_step.py [--small-mib 256] [--large-gib 4]
           [--trials 3] [--json out.json]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../tests/support"))
sys.path.insert(0, HERE)
from harness import REPO, TRAINRUN, MotoServer, config, have_moto  # noqa: E402
from token_loader import write_corpus  # noqa: E402

VOCAB = 512
STEP = re.compile(r"^\[rank 0\] step=1/")


def first_step(data_path, out, env):
    """Seconds from launch to rank 0's first step line; the run is stopped there."""
    cmd = [TRAINRUN, "--nproc-per-node", "2", config("gpt-tiny")]
    for s in ("data.name=tokens", f"data.path={data_path}", f"model.vocab_size={VOCAB}",
              "train.steps=2", "train.log_every=1", "train.eval_every=0", "checkpoint.uri=",
              f"output.dir={out}", "run.name=s3-first-step"):
        cmd += ["--set", s]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    seconds = None
    for line in proc.stdout:
        if STEP.match(line):
            seconds = time.monotonic() - start
            break
    proc.kill()
    _, err = proc.communicate()
    if seconds is None:
        raise SystemExit(f"no first step from {data_path}:\n{err}")
    return seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small-mib", type=int, default=256)
    ap.add_argument("--large-gib", type=float, default=4.0)
    ap.add_argument("--shard-mb", type=int, default=200)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/trainrun_token_s3")
    ap.add_argument("--json")
    args = ap.parse_args()
    if not have_moto():
        raise SystemExit("moto_server and the aws CLI are needed (scripts/setup.sh installs them)")
    sizes = {"small": args.small_mib / 1024, "large": args.large_gib}
    for name, gib in sizes.items():
        write_corpus(os.path.join(args.dir, name), gib, args.shard_mb, VOCAB)
    results = {}
    with MotoServer() as moto, tempfile.TemporaryDirectory(prefix="trainrun_s3_first_") as tmp:
        moto.aws("s3", "mb", "s3://bench")
        for name in sizes:
            moto.aws("s3", "cp", "--recursive", "--quiet", os.path.join(args.dir, name),
                     f"s3://bench/{name}", "--exclude", ".complete")
        for t in range(args.trials):
            for name in sizes:
                for side in (("trainrun", "aws cp") if t % 2 == 0 else ("aws cp", "trainrun")):
                    work = os.path.join(tmp, f"{name}-{side.replace(' ', '')}-{t}")
                    os.makedirs(work)
                    env = dict(moto.env, TRAINRUN_CACHE_DIR=os.path.join(work, "cache"))
                    if side == "trainrun":
                        s = first_step(f"s3://bench/{name}/corpus_train_", f"{work}/out", env)
                    else:
                        start = time.monotonic()
                        moto.aws("s3", "cp", "--recursive", "--quiet", f"s3://bench/{name}",
                                 f"{work}/copy")
                        copied = time.monotonic() - start
                        s = copied + first_step(f"{work}/copy/corpus_train_", f"{work}/out", env)
                    results.setdefault((name, side), []).append(s)
                    print(f"  trial {t + 1} {name} {side}: {s:.2f} s", file=sys.stderr,
                          flush=True)
                    shutil.rmtree(work)
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"\ntime to the first step from S3 (moto_server), empty cache, 2 ranks, medians of "
          f"{args.trials} trials")
    print(f"{'corpus':<7} {'size':>6} {'trainrun':>9} {'aws cp':>9} {'x aws cp':>9}")
    print(f"{'':<7} {'(GiB)':>6} {'(s)':>9} {'(s)':>9} {'(time)':>9}")
    for name, gib in sizes.items():
        print(f"{name:<7} {gib:>6.2f} {med[(name, 'trainrun')]:>9.2f} "
              f"{med[(name, 'aws cp')]:>9.2f} "
              f"{med[(name, 'trainrun')] / med[(name, 'aws cp')]:>9.2f}")
    extra = med[("large", "trainrun")] - med[("small", "trainrun")]
    print(f"trainrun: the large corpus takes {extra:+.2f} s more than the small one")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "token_s3_first_step", "gib": sizes, "trials": args.trials,
                       "seconds": {f"{n}/{s}": v for (n, s), v in results.items()},
                       "median_s": {f"{n}/{s}": v for (n, s), v in med.items()},
                       "large_minus_small_s": extra}, f, indent=2)


if __name__ == "__main__":
    main()
