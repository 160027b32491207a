#!/usr/bin/env python3
"""The token loader alone: trainrun's shard reader vs nanoGPT's memmap `get_batch` and MosaicML
`streaming`, on the same tokens, cold and warm page cache.

The corpus: --gib GiB of llm.c uint16 shards (~--shard-mb MB each, random ids below 50257),
written once under --dir and reused. Each side reads --batches batches of B windows of T + 1
tokens as int64 inputs and targets (what a GPT step takes), one process:
  trainrun: build/token_loader_bench (csrc/data: the shard source, the sample stream in
            trainrun's order, the batch reader), from the stream's start;
  nanoGPT:  train.py's get_batch: per batch a fresh np.memmap, B random offsets,
            torch.stack of the slices .astype(np.int64); the shard for each batch is picked at
            random in proportion to its tokens (nanoGPT reads one train.bin; the shards are the
            same bytes without the copy).
Cold: before each trial every shard's pages are dropped from the page cache
(posix_fadvise DONTNEED, which needs no root). Warm: after one untimed pass over the corpus.
Per trial: tokens/s (input tokens per second of the read loop) and CPU-seconds per million
tokens (user + system of the read loop, imports and start-up excluded on both sides). Trials
alternate which side goes first; the table shows medians.

  mosaic:   MosaicML `streaming` (PyPI mosaicml-streaming 0.13): the same windows written once
            as an MDS dataset (one `bytes` column of T + 1 uint16 tokens per sample, no
            compression) beside the shards, read with StreamingDataset(local=..., shuffle=True,
            batch_size=B) in one process, each sample widened to int64 inputs and targets and
            stacked into batches. It lives in a folder of its own (--mosaic-dir, put first on
            PYTHONPATH for that side only; --install-mosaic fills it from PyPI with the
            project venv's torch and numpy left alone); without it the side reads n/a.

usage: .venv/bin/python3 benchmarks/token_loader.py [--gib 2] [--batch 16] [--block 1024]
           [--batches 400] [--trials 5] [--dir /tmp/trainrun_token_corpus]
           [--mosaic-dir /tmp/trainrun_mosaic_streaming] [--install-mosaic] [--json out.json]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../tests/support"))
from harness import BIN_DIR  # noqa: E402

LOADER = os.path.join(BIN_DIR, "token_loader_bench")
HEADER_INTS = 256
LLMC_MAGIC, LLMC_VERSION = 20240520, 1

NANOGPT = r"""
import json, os, sys, time, resource
import numpy as np, torch
shards, batch, block, batches, seed = sys.argv[1].split(','), *map(int, sys.argv[2:6])
sizes = np.array([(os.path.getsize(s) - 1024) // 2 for s in shards], dtype=np.float64)
pick = np.random.default_rng(seed)
torch.manual_seed(seed)
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
def get_batch(path):
    # nanoGPT's train.py: a memmap per batch (it avoids a memory leak), random offsets.
    data = np.memmap(path, dtype=np.uint16, mode='r', offset=1024)
    ix = torch.randint(len(data) - block, (batch,))
    x = torch.stack([torch.from_numpy((data[i:i+block]).astype(np.int64)) for i in ix])
    y = torch.stack([torch.from_numpy((data[i+1:i+1+block]).astype(np.int64)) for i in ix])
    return x, y
start, cpu0, checksum = time.perf_counter(), cpu(), 0
for b in range(batches):
    x, y = get_batch(shards[pick.choice(len(shards), p=sizes / sizes.sum())])
    checksum += int(x[0, 0]) + int(y[-1, -1])
print(json.dumps({"tokens": batches * batch * block, "seconds": time.perf_counter() - start,
                  "cpu_seconds": cpu() - cpu0, "checksum": checksum}))
"""


MOSAIC_WRITE = r"""
import os, sys
import numpy as np
from streaming import MDSWriter
shards, out, block = sys.argv[1].split(','), sys.argv[2], int(sys.argv[3])
with MDSWriter(out=out, columns={"tokens": "bytes"}, compression=None,
               size_limit=1 << 27) as w:
    for path in shards:
        data = np.memmap(path, dtype=np.uint16, mode="r", offset=1024)
        for start in range(0, len(data) - block, block):  # trainrun's windows: stride T
            w.write({"tokens": data[start:start + block + 1].tobytes()})
"""

MOSAIC_READ = r"""
import json, os, sys, time, resource
import numpy as np, torch
from streaming import StreamingDataset
mds, batch, block, batches, seed = sys.argv[1], *map(int, sys.argv[2:6])
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
ds = StreamingDataset(local=mds, shuffle=True, shuffle_seed=seed, batch_size=batch)
start, cpu0, checksum, xs, ys, done = time.perf_counter(), cpu(), 0, [], [], 0
for sample in ds:
    w = torch.from_numpy(np.frombuffer(sample["tokens"], dtype=np.uint16).astype(np.int64))
    xs.append(w[:-1]); ys.append(w[1:])
    if len(xs) == batch:
        x, y = torch.stack(xs), torch.stack(ys)
        checksum += int(x[0, 0]) + int(y[-1, -1])
        xs, ys, done = [], [], done + 1
        if done == batches:
            break
print(json.dumps({"tokens": batches * batch * block, "seconds": time.perf_counter() - start,
                  "cpu_seconds": cpu() - cpu0, "checksum": checksum}))
"""

# mosaicml-streaming pins transformers, torchvision and a dozen cloud SDKs; the read path needs
# these, installed without their dependencies so that the venv's torch and numpy stay in charge.
MOSAIC_PACKAGES = ["mosaicml-streaming==0.13.0", "xxhash", "zstd", "python-snappy", "cramjam",
                   "brotli", "tqdm", "catalogue", "transformers<5", "huggingface_hub<1.0",
                   "tokenizers==0.22.1", "safetensors", "regex", "requests", "filelock",
                   "packaging", "urllib3", "idna", "certifi", "charset-normalizer", "fsspec",
                   "typing_extensions", "hf-xet", "torchvision==0.26.0", "pillow"]


def mosaic_env(args):
    return dict(os.environ, OMP_NUM_THREADS="1",
                PYTHONPATH=args.mosaic_dir + os.pathsep + os.environ.get("PYTHONPATH", ""))


def have_mosaic(args):
    p = subprocess.run([sys.executable, "-c", "import streaming"], env=mosaic_env(args),
                       capture_output=True, text=True)
    return p.returncode == 0


def write_mds(args, paths):
    out = os.path.join(args.dir, f"mds-{args.block}")
    if os.path.exists(os.path.join(out, "index.json")):
        return out
    p = subprocess.run([sys.executable, "-c", MOSAIC_WRITE, ",".join(paths), out,
                        str(args.block)], env=mosaic_env(args), capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"writing the MDS copy failed: {p.stderr.strip()}")
    return out


def write_corpus(root, gib, shard_mb, vocab=50257):
    """llm.c uint16 shards of random ids below `vocab`, written once (a marker file says the set
    is whole)."""
    done = os.path.join(root, ".complete")
    if os.path.exists(done):
        return sorted(os.path.join(root, f) for f in os.listdir(root) if f.endswith(".bin"))
    os.makedirs(root, exist_ok=True)
    total = int(gib * (1 << 30)) // 2
    per = shard_mb * 1_000_000 // 2
    rng = np.random.default_rng(0)
    paths, s = [], 0
    while total > 0:
        n = min(per, total)
        header = np.zeros(HEADER_INTS, dtype=np.int32)
        header[:3] = [LLMC_MAGIC, LLMC_VERSION, n]
        path = os.path.join(root, f"corpus_train_{s:06d}.bin")
        with open(path, "wb") as f:
            f.write(header.tobytes())
            for off in range(0, n, 1 << 26):
                f.write(rng.integers(0, vocab, min(1 << 26, n - off), dtype=np.uint16).tobytes())
        paths.append(path)
        total -= n
        s += 1
    open(done, "w").close()
    return paths


def drop_cache(paths):
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def warm(paths):
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass


def run_side(side, args, paths, seed):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if side == "trainrun":
        cmd = [LOADER, os.path.join(args.dir, "corpus_train_*.bin"), str(args.batch),
               str(args.block), str(args.batches), str(seed)]
    elif side == "nanogpt":
        cmd = [sys.executable, "-c", NANOGPT, ",".join(paths), str(args.batch), str(args.block),
               str(args.batches), str(seed)]
    else:
        cmd = [sys.executable, "-c", MOSAIC_READ, args.mds, str(args.batch), str(args.block),
               str(args.batches), str(seed)]
        env = mosaic_env(args)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if p.returncode != 0:
        raise SystemExit(f"{side} failed ({p.returncode}): {p.stderr.strip()}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    return {"tokens_per_s": r["tokens"] / r["seconds"],
            "cpu_s_per_mtok": r["cpu_seconds"] / (r["tokens"] / 1e6)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gib", type=float, default=2.0)
    ap.add_argument("--shard-mb", type=int, default=200)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--block", type=int, default=1024)
    ap.add_argument("--batches", type=int, default=400)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--dir", default="/tmp/trainrun_token_corpus")
    ap.add_argument("--mosaic-dir", default="/tmp/trainrun_mosaic_streaming")
    ap.add_argument("--install-mosaic", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    if not os.access(LOADER, os.X_OK):
        raise SystemExit(f"{LOADER} is missing: build first (cmake --build build)")
    if args.install_mosaic and not have_mosaic(args):
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                        args.mosaic_dir] + MOSAIC_PACKAGES, check=True)
    paths = write_corpus(args.dir, args.gib, args.shard_mb)
    sides = ["trainrun", "nanogpt"]
    files = {"trainrun": paths, "nanogpt": paths}
    if have_mosaic(args):
        args.mds = write_mds(args, paths)
        files["mosaic"] = [os.path.join(args.mds, f) for f in os.listdir(args.mds)]
        sides.append("mosaic")
    else:
        print(f"mosaic: `import streaming` fails with {args.mosaic_dir} on PYTHONPATH "
              "(--install-mosaic fills it): its rows read n/a", file=sys.stderr)
    results = {}
    for cache in ("cold", "warm"):
        for t in range(args.trials):
            order = sides[t % len(sides):] + sides[:t % len(sides)]  # each side first in turn
            for side in order:
                if cache == "cold":
                    drop_cache(files[side])
                else:
                    warm(files[side])
                r = run_side(side, args, paths, seed=t)
                results.setdefault((cache, side), []).append(r)
                print(f"  {cache} trial {t + 1} {side}: {r['tokens_per_s'] / 1e6:.1f} Mtok/s, "
                      f"{r['cpu_s_per_mtok']:.4f} cpu-s/Mtok", file=sys.stderr, flush=True)
    rows = []
    print(f"\ntoken loader: B={args.batch} T={args.block}, {args.batches} batches per trial, "
          f"{len(paths)} llm.c shards ({args.gib:g} GiB), medians of {args.trials} trials")
    if "mosaic" not in sides:
        print("mosaic: n/a (mosaicml-streaming not importable; --install-mosaic)")
    print(f"{'cache':<6} {'side':<9} {'tokens/s':>12} {'cpu-s/Mtok':>11} {'x nanoGPT':>10}")
    print(f"{'':<6} {'':<9} {'(Mtok/s)':>12} {'(s)':>11} {'(tok/s)':>10}")
    for cache in ("cold", "warm"):
        med = {side: {k: statistics.median(r[k] for r in results[(cache, side)])
                      for k in ("tokens_per_s", "cpu_s_per_mtok")}
               for side in sides}
        for side in sides:
            ratio = med[side]["tokens_per_s"] / med["nanogpt"]["tokens_per_s"]
            print(f"{cache:<6} {side:<9} {med[side]['tokens_per_s'] / 1e6:>12.1f} "
                  f"{med[side]['cpu_s_per_mtok']:>11.4f} {ratio:>10.2f}")
            rows.append({"cache": cache, "side": side, **med[side], "ratio_vs_nanogpt": ratio})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "token_loader", "batch": args.batch, "block": args.block,
                       "batches": args.batches, "gib": args.gib, "shards": len(paths),
                       "trials": args.trials, "rows": rows,
                       "raw": {f"{c}/{s}": v for (c, s), v in results.items()}}, f, indent=2)


if __name__ == "__main__":
    main()
