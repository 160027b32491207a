#!/usr/bin/env python3
"""Elastic determinism of data.name=tokens: the SHA-256 of every global batch's sample ids, for
an uninterrupted run and for runs stopped mid-epoch and resumed with another shape; and the time
to the first step of a run resumed at 90% of an epoch against one at step 0.

The job: configs/gpt-tiny.yaml (block 32) on llm.c shards of --windows windows in all, global
batch 16, --steps steps, a checkpoint every 10 steps. TRAINRUN_SAMPLE_LOG (train/sample_log.h)
makes every rank log the window ids of each micro-batch it trains on; a step's global batch is
its micro-batches in order, each the ranks' slices in rank order, and its hash is the SHA-256 of
those ids. Stopped runs get SIGTERM (a preemption) after their first checkpoint commits, and the
same command resumes them with:
  2 -> 1 ranks     2 ranks stopped, resumed on 1
  1 -> 3 ranks     1 rank stopped, resumed on 3 (slices of 5, 5 and 6)
  accum 1 -> 2     2 ranks, train.grad_accum_steps 1 then 2
  batch 16 -> 32   train.global_batch_size 16 then 32: the batches differ, so the run's whole
                   sample sequence (every step's ids, in order) is compared with the reference's
Every row must say `identical`. The second table: --trials alternating runs of the time from
launch to the first step line, fresh vs resumed from a checkpoint at 90% of an epoch.

usage: .venv/bin/python3 benchmarks/token_determinism.py [--steps 60] [--trials 3]
           [--json out.json]
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../tests/support"))
from harness import COMMITTED, REPO, TRAINRUN, config  # noqa: E402
from token_shards import markov_tokens, sample_batches, write_llmc_shard  # noqa: E402

BLOCK, BATCH = 32, 16
STEP = re.compile(r"^\[rank 0\] step=(\d+)/")


def write_corpus(root, windows):
    os.makedirs(root, exist_ok=True)
    per = windows // 3
    for s in range(3):
        write_llmc_shard(f"{root}/train_{s:03d}.bin", markov_tokens(per * BLOCK + 1, s + 1))


def command(root, out, steps, nproc, *sets):
    cmd = [TRAINRUN, "--nproc-per-node", str(nproc), "--grace-period", "5", config("gpt-tiny")]
    for s in ("data.name=tokens", f"data.path={root}/train_*.bin", "model.vocab_size=128",
              f"model.block_size={BLOCK}", f"train.global_batch_size={BATCH}",
              f"train.steps={steps}", "train.log_every=1", "train.eval_every=0",
              "checkpoint.every_steps=10", f"output.dir={out}", f"checkpoint.uri={out}_ckpt",
              "run.name=determinism") + sets:
        cmd += ["--set", s]
    return cmd


def env_for(log_dir):
    return dict(os.environ, TRAINRUN_SAMPLE_LOG=log_dir)


def run(cmd, env):
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=900)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def stop_after_first_commit(cmd, env):
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    for line in proc.stdout:
        if COMMITTED.search(line):
            proc.send_signal(signal.SIGTERM)
            break
    proc.communicate(timeout=120)


def digest(ids):
    return hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()


def scenario(tmp, root, name, steps, first, resumed):
    out, logs = os.path.join(tmp, name), os.path.join(tmp, name + "_samples")
    nproc1, sets1 = first
    nproc2, sets2 = resumed
    stop_after_first_commit(command(root, out, steps, nproc1, *sets1), env_for(logs))
    run(command(root, out, steps, nproc2, *sets2), env_for(logs))
    return sample_batches(logs)


def first_step_seconds(cmd, env):
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    seconds = None
    for line in proc.stdout:
        if STEP.match(line):
            seconds = time.monotonic() - start
            break
    proc.kill()
    proc.communicate()
    return seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--windows", type=int, default=3000)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="trainrun_determinism_")
    try:
        root = os.path.join(tmp, "corpus")
        write_corpus(root, args.windows)
        ref_logs = os.path.join(tmp, "ref_samples")
        run(command(root, os.path.join(tmp, "ref"), args.steps, 2), env_for(ref_logs))
        ref = sample_batches(ref_logs)
        rows = []
        cases = [("2 -> 1 ranks", (2, ()), (1, ())),
                 ("1 -> 3 ranks", (1, ()), (3, ())),
                 ("accum 1 -> 2", (2, ()), (2, ("train.grad_accum_steps=2",)))]
        for name, first, resumed in cases:
            got = scenario(tmp, root, name.replace(" ", "_").replace(">", ""), args.steps, first,
                           resumed)
            same = sorted(got) == sorted(ref) and all(digest(got[s]) == digest(ref[s]) for s in ref)
            rows.append({"case": name, "steps": len(got), "compared": "each global batch",
                         "identical": same})
        got = scenario(tmp, root, "batch_16_32", args.steps // 2, (2, ()),
                       (2, ("train.global_batch_size=32",)))
        seq = [i for s in sorted(got) for i in got[s]]
        ref_seq = [i for s in sorted(ref) for i in ref[s]][:len(seq)]
        rows.append({"case": "batch 16 -> 32", "steps": len(got), "compared": "sample sequence",
                     "identical": seq == ref_seq and len(seq) > 0})
        print(f"\nelastic determinism: gpt-tiny on {args.windows} windows, global batch {BATCH}, "
              f"{args.steps} steps; SHA-256 of each global batch's sample ids vs the "
              f"uninterrupted 2-rank run")
        print(f"{'case':<16} {'steps':>6} {'compared':<18} {'result':<10}")
        print(f"{'':<16} {'(n)':>6} {'':<18} {'':<10}")
        for r in rows:
            print(f"{r['case']:<16} {r['steps']:>6} {r['compared']:<18} "
                  f"{'identical' if r['identical'] else 'DIFFERENT':<10}")

        # Time to the first step: fresh vs resumed at 90% of an epoch.
        epoch_steps = args.windows // 3 * 3 // BATCH
        at = (epoch_steps * 9 // 10) // 10 * 10
        warm_out = os.path.join(tmp, "late")
        run(command(root, warm_out, at, 1), dict(os.environ))
        timing = {"fresh": [], "resumed": []}
        for t in range(args.trials):
            for which in (("fresh", "resumed") if t % 2 == 0 else ("resumed", "fresh")):
                out = warm_out if which == "resumed" else os.path.join(tmp, f"fresh{t}")
                timing[which].append(first_step_seconds(
                    command(root, out, at + 10, 1), dict(os.environ)))
        med = {k: statistics.median(v) for k, v in timing.items()}
        print(f"\ntime to the first step, 1 rank, medians of {args.trials} "
              f"(resumed at step {at} of a {epoch_steps}-step epoch)")
        print(f"{'run':<10} {'first step':>11}")
        print(f"{'':<10} {'(s)':>11}")
        for k in ("fresh", "resumed"):
            print(f"{k:<10} {med[k]:>11.2f}")
        print(f"{'resumed - fresh':<16} {med['resumed'] - med['fresh']:>+5.2f} s")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"benchmark": "token_determinism", "steps": args.steps,
                           "windows": args.windows, "rows": rows, "first_step_s": timing,
                           "first_step_median_s": med, "resumed_at_step": at,
                           "epoch_steps": epoch_steps}, f, indent=2)
        if not all(r["identical"] for r in rows):
            sys.exit(1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
