#!/usr/bin/env python3
"""Memory per rank against corpus size: gpt-tiny on 2 ranks for --steps steps on a small and a
large corpus of llm.c shards (data.name=tokens), peak RssAnon and VmHWM of each rank.

The corpora: --small-mib MiB and --large-gib GiB of llm.c uint16 shards of random ids below
512 (~200 MB each), written once under --dir and reused (benchmarks/token_loader.py's writer).
Each run is `build/trainrun --nproc-per-node 2 configs/gpt-tiny.yaml` with data.name=tokens,
data.path=<corpus>/corpus_train_*.bin and model.vocab_size; the script polls every rank's
/proc/<pid>/status every 20 ms and keeps the largest RssAnon (anonymous memory: what the process
allocated, not the page cache its mapped shards share) and the final VmHWM (peak resident set,
mapped shard pages included). Runs alternate small/large; the table shows medians over trials
and ranks, and the large corpus's difference (the goal: within 32 MiB).

usage: .venv/bin/python3 benchmarks/token_memory.py [--small-mib 256] [--large-gib 8]
           [--steps 200] [--trials 2] [--dir /tmp/trainrun_token_memory] [--json out.json]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../tests/support"))
sys.path.insert(0, HERE)
from harness import REPO, TRAINRUN, children_or_empty, config  # noqa: E402
from token_loader import write_corpus  # noqa: E402


VOCAB = 512


def kib(status, key):
    for line in status.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def poll_ranks(launcher, peaks, stop):
    """Largest RssAnon and last VmHWM per rank pid (the launcher's children)."""
    while not stop.is_set():
        for pid in children_or_empty(launcher.pid):
            try:
                with open(f"/proc/{pid}/status") as f:
                    s = f.read()
            except OSError:
                continue
            p = peaks.setdefault(pid, {"rss_anon_kib": 0, "vm_hwm_kib": 0})
            p["rss_anon_kib"] = max(p["rss_anon_kib"], kib(s, "RssAnon"))
            p["vm_hwm_kib"] = max(p["vm_hwm_kib"], kib(s, "VmHWM"))
        time.sleep(0.02)


def run(corpus, steps, out):
    cmd = [TRAINRUN, "--nproc-per-node", "2", config("gpt-tiny")]
    for s in ("data.name=tokens", f"data.path={corpus}/corpus_train_*.bin",
              f"model.vocab_size={VOCAB}", f"train.steps={steps}", "train.log_every=50",
              "train.eval_every=0", "checkpoint.uri=", f"output.dir={out}", "run.name=mem"):
        cmd += ["--set", s]
    peaks, stop = {}, threading.Event()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    poller = threading.Thread(target=poll_ranks, args=(proc, peaks, stop))
    poller.start()
    start = time.monotonic()
    stdout, stderr = proc.communicate(timeout=1800)
    wall = time.monotonic() - start
    stop.set()
    poller.join()
    if proc.returncode != 0:
        raise SystemExit(f"trainrun failed ({proc.returncode}):\n{stdout[-2000:]}\n{stderr}")
    ranks = [p for p in peaks.values() if p["vm_hwm_kib"] > 0]
    return {"wall_s": wall, "ranks": ranks}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small-mib", type=int, default=256)
    ap.add_argument("--large-gib", type=float, default=8.0)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--dir", default="/tmp/trainrun_token_memory")
    ap.add_argument("--json")
    args = ap.parse_args()
    corpora = {"small": write_corpus(os.path.join(args.dir, "small"), args.small_mib / 1024, 200,
                                     VOCAB),
               "large": write_corpus(os.path.join(args.dir, "large"), args.large_gib, 200, VOCAB)}
    sizes = {k: sum(os.path.getsize(p) for p in v) for k, v in corpora.items()}
    results = {"small": [], "large": []}
    with tempfile.TemporaryDirectory(prefix="trainrun_token_memory_") as tmp:
        for t in range(args.trials):
            for which in (("small", "large") if t % 2 == 0 else ("large", "small")):
                r = run(os.path.join(args.dir, which), args.steps, os.path.join(tmp, which))
                results[which].append(r)
                print(f"  trial {t + 1} {which}: " + ", ".join(
                    f"RssAnon {p['rss_anon_kib'] / 1024:.0f} MiB VmHWM "
                    f"{p['vm_hwm_kib'] / 1024:.0f} MiB" for p in r["ranks"]) +
                    f" ({r['wall_s']:.1f} s)", file=sys.stderr, flush=True)
    med = {w: {k: statistics.median(p[k] for r in results[w] for p in r["ranks"]) / 1024
               for k in ("rss_anon_kib", "vm_hwm_kib")} for w in results}
    print(f"\nmemory per rank: gpt-tiny, 2 ranks, {args.steps} steps, medians over "
          f"{args.trials} trials x 2 ranks")
    print(f"{'corpus':<7} {'size':>9} {'RssAnon':>9} {'VmHWM':>9}")
    print(f"{'':<7} {'(GiB)':>9} {'(MiB)':>9} {'(MiB)':>9}")
    for w in ("small", "large"):
        print(f"{w:<7} {sizes[w] / (1 << 30):>9.2f} {med[w]['rss_anon_kib']:>9.1f} "
              f"{med[w]['vm_hwm_kib']:>9.1f}")
    diff = {k: med["large"][k] - med["small"][k] for k in ("rss_anon_kib", "vm_hwm_kib")}
    print(f"{'large - small':<17} {diff['rss_anon_kib']:>9.1f} {diff['vm_hwm_kib']:>9.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "token_memory", "steps": args.steps, "trials": args.trials,
                       "corpus_bytes": sizes, "median_mib": med, "large_minus_small_mib": diff,
                       "raw": results}, f, indent=2)


if __name__ == "__main__":
    main()
