#!/usr/bin/env python3
"""Is the token loader on the critical path? The same GPT job on streamed llm.c shards
(data.name=tokens, the prefetch thread) and on in-memory synthetic tokens (synthetic_tokens,
batches gathered on the training thread): step time, and the time each step waited for data.

Both sides: build/trainrun --nproc-per-node 2 configs/gpt-tiny.yaml, model.block_size --block,
train.global_batch_size --batch, vocabulary 512, --steps steps, no evaluation or checkpoints.
The shards: --mib MiB of random ids below 512 (~200 MB shards, benchmarks/token_loader.py's writer).
Each run's `time_split:` line gives the median step_ms and data_ms over its steps (the first 3
skipped) and data_p99_ms, the 99th percentile of data_ms. Trials alternate the sides; the
table shows medians over trials. The goals: p99 data_ms under 1% of step_ms, and the tokens
side's step time within 3% of synthetic_tokens'.

usage: .venv/bin/python3 benchmarks/token_critical_path.py [--steps 200] [--trials 3]
           [--block 256] [--batch 32] [--mib 512] [--json out.json]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../tests/support"))
sys.path.insert(0, HERE)
from harness import REPO, TRAINRUN, config  # noqa: E402
from token_loader import write_corpus  # noqa: E402

VOCAB = 512  # a small head: the step is the model's body, not a 50257-wide softmax on 2 cores
SPLIT = re.compile(r"time_split: step_ms=([\d.e+-]+) data_ms=([\d.e+-]+) .*"
                   r"data_p99_ms=([\d.e+-]+)")


def run(side, args, corpus, out):
    cmd = [TRAINRUN, "--nproc-per-node", "2", config("gpt-tiny")]
    sets = [f"model.block_size={args.block}", f"model.vocab_size={VOCAB}",
            f"train.global_batch_size={args.batch}", f"train.steps={args.steps}",
            "train.log_every=50", "train.eval_every=0", "checkpoint.uri=", f"output.dir={out}",
            "run.name=critical-path"]
    if side == "tokens":
        sets += ["data.name=tokens", f"data.path={corpus}/corpus_train_*.bin"]
    else:
        sets += ["data.name=synthetic_tokens", f"data.synthetic_vocab={VOCAB}",
                 "data.synthetic_samples=4096"]
    for s in sets:
        cmd += ["--set", s]
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise SystemExit(f"{side} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr}")
    m = SPLIT.search(p.stdout)
    if not m:
        raise SystemExit(f"{side}: no time_split line:\n{p.stdout[-2000:]}")
    return {"step_ms": float(m.group(1)), "data_ms": float(m.group(2)),
            "data_p99_ms": float(m.group(3))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--block", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--dir", default="/tmp/trainrun_token_critical_path")
    ap.add_argument("--json")
    args = ap.parse_args()
    write_corpus(args.dir, args.mib / 1024, 200, VOCAB)
    results = {"tokens": [], "synthetic_tokens": []}
    with tempfile.TemporaryDirectory(prefix="trainrun_critical_path_") as tmp:
        for t in range(args.trials):
            for side in (("tokens", "synthetic_tokens") if t % 2 == 0
                         else ("synthetic_tokens", "tokens")):
                r = run(side, args, args.dir, os.path.join(tmp, f"{side}{t}"))
                results[side].append(r)
                print(f"  trial {t + 1} {side}: {r}", file=sys.stderr, flush=True)
    med = {s: {k: statistics.median(r[k] for r in v) for k in v[0]} for s, v in results.items()}
    print(f"\ncritical path: gpt-tiny block {args.block}, global batch {args.batch}, 2 ranks, "
          f"{args.steps} steps, medians of {args.trials} trials")
    print(f"{'data':<17} {'step':>8} {'data':>8} {'data p99':>9} {'p99/step':>9} {'step x':>7}")
    print(f"{'':<17} {'(ms)':>8} {'(ms)':>8} {'(ms)':>9} {'(%)':>9} {'(synth)':>7}")
    for side in ("tokens", "synthetic_tokens"):
        m = med[side]
        print(f"{side:<17} {m['step_ms']:>8.2f} {m['data_ms']:>8.3f} {m['data_p99_ms']:>9.3f} "
              f"{100 * m['data_p99_ms'] / m['step_ms']:>9.2f} "
              f"{m['step_ms'] / med['synthetic_tokens']['step_ms']:>7.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "token_critical_path", "steps": args.steps,
                       "block": args.block, "batch": args.batch, "trials": args.trials,
                       "median": med, "raw": results}, f, indent=2)


if __name__ == "__main__":
    main()
