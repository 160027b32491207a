#!/usr/bin/env python3
"""All-reduce bus bandwidth: `trainrun bench allreduce` (shared memory on one host) vs PyTorch's
torch.distributed.all_reduce over Gloo (the venv's PyTorch 2.x under torchrun), same ranks, same
sizes, same method (warm-up, then a timed loop of in-place all-reduces of float32; time = loop
/ iterations, the slowest rank's; busbw = size / time x 2(n-1)/n). Trials alternate sides to
share the machine's noise; the table gives medians and the ratio trainrun / PyTorch (> 1:
trainrun moves more bytes per second).

usage: .venv/bin/python3 benchmarks/allreduce_vs_torch.py [--nproc 2] [--trials 3]
       [-b 4K] [-e 32M] [--json out.json]
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
from harness import BIN_DIR, free_port  # noqa: E402
UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def size(text):
    return int(text[:-1]) * UNITS[text[-1].upper()] if text[-1].upper() in UNITS else int(text)


def trainrun_busbw(bin_dir, nproc, lo, hi, warmup, iters, backend):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "ar.json")
        cmd = [os.path.join(bin_dir, "trainrun"), "bench", "allreduce", "--nproc-per-node",
               str(nproc), "--master-port", str(free_port()), "-b", str(lo), "-e", str(hi),
               "-w", str(warmup), "-n", str(iters), "-c", "0", "--backend", backend,
               "--json", out]
        subprocess.run(cmd, check=True, capture_output=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
        with open(out) as f:
            return {r["size_bytes"]: r["in_place"]["busbw_gbps"] for r in json.load(f)["rows"]}


def torch_worker(lo, hi, warmup, iters, result_path):
    """One rank under torchrun: PyTorch's all_reduce over Gloo, trainrun's method."""
    import torch
    import torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    n = dist.get_world_size()
    out = {}
    nbytes = lo
    while nbytes <= hi:
        t = torch.ones(max(1, nbytes // 4))
        for _ in range(warmup):
            dist.all_reduce(t)
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(iters):
            dist.all_reduce(t)
        sec = torch.tensor([(time.perf_counter() - t0) / iters], dtype=torch.float64)
        dist.all_reduce(sec, op=dist.ReduceOp.MAX)
        out[t.numel() * 4] = t.numel() * 4 / sec.item() / 1e9 * 2 * (n - 1) / n
        nbytes *= 2
    if dist.get_rank() == 0:
        with open(result_path, "w") as f:
            json.dump(out, f)
    dist.destroy_process_group()


def torch_busbw(nproc, lo, hi, warmup, iters):
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
               "--master-port", str(free_port()), os.path.abspath(__file__), "--torch-worker",
               "-b", str(lo), "-e", str(hi), "-w", str(warmup), "-n", str(iters),
               "--json", result.name]
        subprocess.run(cmd, check=True, capture_output=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
        with open(result.name) as f:
            return {int(k): v for k, v in json.load(f).items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--backend", default="shm", help="trainrun's side: shm, gloo, hierarchical")
    ap.add_argument("-b", default="4K")
    ap.add_argument("-e", default="32M")
    ap.add_argument("-w", type=int, default=5)
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--bin-dir", default=BIN_DIR)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    lo, hi = size(args.b), size(args.e)
    if args.torch_worker:
        return torch_worker(lo, hi, args.w, args.n, args.json)

    ours, theirs = [], []
    for _ in range(args.trials):  # alternate so both sides see the same noise
        ours.append(trainrun_busbw(args.bin_dir, args.nproc, lo, hi, args.w, args.n,
                                   args.backend))
        theirs.append(torch_busbw(args.nproc, lo, hi, args.w, args.n))
    rows = []
    for nbytes in sorted(ours[0]):
        a = statistics.median(t[nbytes] for t in ours)
        b = statistics.median(t[nbytes] for t in theirs)
        rows.append({"size_bytes": nbytes, "trainrun_busbw_gbps": a, "pytorch_gloo_busbw_gbps": b,
                     "ratio": a / b if b > 0 else float("inf"),
                     "trials_trainrun": [t[nbytes] for t in ours],
                     "trials_pytorch": [t[nbytes] for t in theirs]})
    print(f"# {args.nproc} ranks, float32 in-place all-reduce, {args.w} warm-up + {args.n} timed "
          f"iterations, median of {args.trials} alternating trials")
    print(f"{'size':>12} {'trainrun':>10} {'pytorch':>10} {'ratio':>7}")
    print(f"{'':>12} {args.backend:>10} {'gloo':>10} {'':>7}")
    print(f"{'(B)':>12} {'busbw GB/s':>10} {'busbw GB/s':>10} {'x':>7}")
    for r in rows:
        print(f"{r['size_bytes']:>12} {r['trainrun_busbw_gbps']:>10.3f} "
              f"{r['pytorch_gloo_busbw_gbps']:>10.3f} {r['ratio']:>7.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "allreduce_vs_torch", "nproc": args.nproc,
                       "backend": args.backend, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
