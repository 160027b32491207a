#!/usr/bin/env python3
"""Time to the first step from S3 with an empty cache: trainrun streaming llm.c shards from
s3:// (data.name=tokens, the node cache), without and with the folder's shard index (`trainrun
index`), vs `aws s3 cp --recursive` of the corpus, then the same job on the local copy, vs
MosaicML streaming's first batch from S3; a small and a large corpus.

moto_server (a real S3 API on loopback) holds two corpora of llm.c shards of random ids below
512, ~--shard-mb MB each: --small-mib MiB and --large-gib GiB (benchmarks/token_loader.py's
writer, uploaded once per run of this script). Each trial starts from an empty cache folder:
  trainrun: build/trainrun --nproc-per-node 2 configs/gpt-tiny.yaml, data.path=s3://.../
            corpus_train_ (a prefix), TRAINRUN_CACHE_DIR=<empty>: launch to the first step line;
            the corpus's folder holds no .trainrun-index, so the launcher reads every header;
  trainrun index: the same, with the folder's .trainrun-index in place (written once per
            corpus by `trainrun index s3://bench/<corpus>/`, untimed, like MosaicML's MDS
            conversion; put back or removed before each trial): no header read per shard;
  aws cp:   `aws s3 cp --recursive` into an empty folder, then the same job on that folder:
            the copy's start to the first step line.
  mosaic:   MosaicML `streaming` 0.13 (benchmarks/token_loader.py's MDS copy of the same windows,
            128 MiB MDS shards, uploaded beside the corpus): a fresh process building
            StreamingDataset(remote=s3://..., local=<empty>, shuffle=True, batch_size=16 (the
            global batch)) and stacking its first batch: the process's start to that batch (a
            data loader alone: no model, no step). Needs --mosaic-dir with boto3 (and
            --install-mosaic fills it); without it the column reads n/a.
Trials alternate the sides; the table shows medians and the large corpus's extra time. The goal
(issue 25): the large corpus within 0.5 s of the small one, and ahead of MosaicML.

moto_server reads a whole object to answer a ranged GET, so there a GET costs time in
proportion to the object's size (real S3: to the range's); the script measures that cost (one
ranged GET of 1 KiB from a ~--shard-mb MB shard and from a 1 MiB object) and prints it below
the table: without an index, trainrun's start-up makes one header GET per shard (the launcher's
listing), so on moto the large corpus pays ~(its shards - the small one's) x the shard's GET
time; with the index it makes none.

usage: .venv/bin/python3 benchmarks/token_s3_first_step.py [--small-mib 256] [--large-gib 4]
           [--trials 3] [--mosaic-dir /tmp/trainrun_mosaic_streaming] [--install-mosaic]
           [--json out.json]
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
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../tests/support"))
sys.path.insert(0, HERE)
from harness import REPO, TRAINRUN, MotoServer, config, have_moto  # noqa: E402
from token_loader import MOSAIC_PACKAGES, MOSAIC_WRITE, mosaic_env, write_corpus  # noqa: E402

VOCAB = 512
BLOCK = 1024  # gpt-tiny's block_size: the windows' length
BATCH = 16    # gpt-tiny's global batch
STEP = re.compile(r"^\[rank 0\] step=1/")
# The S3 client MosaicML streaming reads with; installed --no-deps like its other packages.
BOTO = ["boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six"]

MOSAIC_FIRST = r"""
import sys
import numpy as np, torch
from streaming import StreamingDataset
remote, local, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
ds = StreamingDataset(remote=remote, local=local, shuffle=True, shuffle_seed=0, batch_size=batch)
xs = []
for sample in ds:
    xs.append(torch.from_numpy(np.frombuffer(sample["tokens"], dtype=np.uint16).astype(np.int64)))
    if len(xs) == batch:
        break
x = torch.stack(xs)
print("first batch", tuple(x.shape), flush=True)
"""


def have_mosaic_s3(args):
    p = subprocess.run([sys.executable, "-c", "import streaming, boto3"], env=mosaic_env(args),
                       capture_output=True, text=True)
    return p.returncode == 0


def mosaic_first_batch(remote, local, env):
    """Seconds from a fresh process's start to MosaicML streaming's first batch from S3."""
    start = time.monotonic()
    p = subprocess.run([sys.executable, "-c", MOSAIC_FIRST, remote, local, str(BATCH)],
                       env=env, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - start
    if p.returncode != 0 or "first batch" not in p.stdout:
        raise SystemExit(f"mosaic: no first batch from {remote}:\n{p.stderr[-2000:]}")
    return seconds


def write_mds(args, name, paths):
    """The MDS copy of corpus `name` (token_loader's writer: windows of BLOCK + 1 tokens)."""
    out = os.path.join(args.dir, f"mds-{name}")
    if not os.path.exists(os.path.join(out, "index.json")):
        p = subprocess.run([sys.executable, "-c", MOSAIC_WRITE, ",".join(paths), out,
                            str(BLOCK)], env=mosaic_env(args), capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"writing the MDS copy failed: {p.stderr.strip()}")
    return out


def ranged_get_seconds(moto, key, trials=7):
    """moto_server's time for one ranged GET of 1 KiB of `key` (median; the object made
    public-read first, so the GET needs no CLI or signature)."""
    moto.aws("s3api", "put-object-acl", "--bucket", "bench", "--key", key, "--acl", "public-read")
    times = []
    for _ in range(trials):
        req = urllib.request.Request(moto.url(f"bench/{key}"), headers={"Range": "bytes=0-1023"})
        start = time.monotonic()
        urllib.request.urlopen(req, timeout=60).read()
        times.append(time.monotonic() - start)
    return statistics.median(times)


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
    ap.add_argument("--mosaic-dir", default="/tmp/trainrun_mosaic_streaming")
    ap.add_argument("--install-mosaic", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    if not have_moto():
        raise SystemExit("moto_server and the aws CLI are needed (scripts/setup.sh installs them)")
    if args.install_mosaic and not have_mosaic_s3(args):
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                        args.mosaic_dir] + MOSAIC_PACKAGES + BOTO, check=True)
    sides = ["trainrun", "trainrun index", "aws cp"]
    if have_mosaic_s3(args):
        sides.append("mosaic")
    else:
        print(f"mosaic: `import streaming, boto3` fails with {args.mosaic_dir} on PYTHONPATH "
              "(--install-mosaic fills it): its column reads n/a", file=sys.stderr)
    sizes = {"small": args.small_mib / 1024, "large": args.large_gib}
    corpora = {name: write_corpus(os.path.join(args.dir, name), gib, args.shard_mb, VOCAB)
               for name, gib in sizes.items()}
    results, get_s = {}, {}
    with MotoServer() as moto, tempfile.TemporaryDirectory(prefix="trainrun_s3_first_") as tmp:
        moto.aws("s3", "mb", "s3://bench")
        for name in sizes:
            moto.aws("s3", "cp", "--recursive", "--quiet", os.path.join(args.dir, name),
                     f"s3://bench/{name}", "--exclude", ".complete")
            if "mosaic" in sides:
                moto.aws("s3", "cp", "--recursive", "--quiet", write_mds(args, name, corpora[name]),
                         f"s3://bench/mds-{name}")
        index_s = {}
        for name in sizes:  # each corpus's index, kept here to put back before indexed trials
            start = time.monotonic()
            p = subprocess.run([TRAINRUN, "index", f"s3://bench/{name}/"], env=moto.env,
                               capture_output=True, text=True)
            index_s[name] = time.monotonic() - start
            if p.returncode != 0:
                raise SystemExit(f"trainrun index failed: {p.stderr.strip()}")
            moto.aws("s3", "cp", "--quiet", f"s3://bench/{name}/.trainrun-index",
                     os.path.join(tmp, f"{name}.trainrun-index"))
        get_s["shard"] = ranged_get_seconds(moto, f"large/{os.path.basename(corpora['large'][0])}")
        probe = os.path.join(tmp, "probe")
        with open(probe, "wb") as f:
            f.write(os.urandom(1 << 20))
        moto.aws("s3", "cp", "--quiet", probe, "s3://bench/probe")
        get_s["1 MiB object"] = ranged_get_seconds(moto, "probe")
        # moto's client settings for the mosaic side: its credentials, region and endpoint.
        moto_vars = {k: v for k, v in moto.env.items() if k.startswith("AWS_")}
        for t in range(args.trials):
            for name in sizes:
                for side in (sides if t % 2 == 0 else sides[::-1]):
                    work = os.path.join(tmp, f"{name}-{side.replace(' ', '')}-{t}")
                    os.makedirs(work)
                    env = dict(moto.env, TRAINRUN_CACHE_DIR=os.path.join(work, "cache"))
                    if side.startswith("trainrun"):
                        index = f"s3://bench/{name}/.trainrun-index"
                        if side == "trainrun index":
                            moto.aws("s3", "cp", "--quiet",
                                     os.path.join(tmp, f"{name}.trainrun-index"), index)
                        else:
                            moto.aws("s3", "rm", "--quiet", index)
                        s = first_step(f"s3://bench/{name}/corpus_train_", f"{work}/out", env)
                    elif side == "mosaic":
                        s = mosaic_first_batch(f"s3://bench/mds-{name}", f"{work}/mds",
                                               dict(mosaic_env(args), **moto_vars,
                                                    S3_ENDPOINT_URL=moto.endpoint))
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

    def cell(name, side):
        return f"{med[(name, side)]:>9.2f}" if (name, side) in med else f"{'n/a':>9}"

    def ratio(name, side, peer):
        if (name, peer) not in med:
            return f"{'n/a':>9}"
        return f"{med[(name, side)] / med[(name, peer)]:>9.2f}"

    print(f"\ntime to the first step (mosaic: first batch) from S3 (moto_server), empty cache, "
          f"2 ranks, medians of {args.trials} trials")
    print(f"{'corpus':<7} {'size':>6} {'shards':>6} {'trainrun':>9} {'+index':>9} {'aws cp':>9} "
          f"{'mosaic':>9} {'x aws cp':>9} {'x mosaic':>9}")
    print(f"{'':<7} {'(GiB)':>6} {'':>6} {'(s)':>9} {'(s)':>9} {'(s)':>9} {'(s)':>9} "
          f"{'(+index)':>9} {'(+index)':>9}")
    for name, gib in sizes.items():
        print(f"{name:<7} {gib:>6.2f} {len(corpora[name]):>6} {cell(name, 'trainrun')} "
              f"{cell(name, 'trainrun index')} {cell(name, 'aws cp')} {cell(name, 'mosaic')} "
              f"{ratio(name, 'trainrun index', 'aws cp')} "
              f"{ratio(name, 'trainrun index', 'mosaic')}")
    extra = {side: med[("large", side)] - med[("small", side)]
             for side in ("trainrun", "trainrun index")}
    print(f"the large corpus takes {extra['trainrun']:+.2f} s more than the small one without "
          f"the index, {extra['trainrun index']:+.2f} s with it (goal: 0.5 s); moto's 1 KiB "
          f"ranged GET takes {get_s['shard'] * 1e3:.0f} ms from a shard and "
          f"{get_s['1 MiB object'] * 1e3:.0f} ms from a 1 MiB object; `trainrun index` took "
          + ", ".join(f"{index_s[n]:.2f} s ({n})" for n in sizes))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "token_s3_first_step", "gib": sizes, "trials": args.trials,
                       "shard_bytes": {n: os.path.getsize(c[0]) for n, c in corpora.items()},
                       "seconds": {f"{n}/{s}": v for (n, s), v in results.items()},
                       "median_s": {f"{n}/{s}": v for (n, s), v in med.items()},
                       "shards": {n: len(c) for n, c in corpora.items()},
                       "moto_ranged_get_1kib_s": get_s,
                       "trainrun_index_s": index_s,
                       "large_minus_small_s": extra["trainrun"],
                       "large_minus_small_indexed_s": extra["trainrun index"]}, f, indent=2)


if __name__ == "__main__":
    main()
