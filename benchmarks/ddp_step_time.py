#!/usr/bin/env python3
"""Step time of trainrun 2-rank DDP vs PyTorch DDP (the venv's PyTorch 2.x, torchrun), CPU.

trainrun runs twice: with its default backend on one host (shared memory) and with Gloo, the
backend PyTorch DDP uses on CPU. All sides train the same MLP shape on synthetic data with the same global batch, optimizer
(SGD + momentum), bucket size, rank count and threads per rank (1). Each side reports the
median wall time of a training step on rank 0 (data gather, forward, backward with bucketed
all-reduce, optimizer step, loss read-back); trials alternate sides to share machine noise.

PyTorch's side is launched with torchrun (python -m torch.distributed.run), as its users run it.

usage: .venv/bin/python3 benchmarks/ddp_step_time.py [--steps 300] [--trials 3] [--json out.json]
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
from harness import BIN_DIR, CONFIG, REPO, free_port  # noqa: E402
SHAPES = [  # (name, features, hidden, classes, global batch)
    ("digits-mlp", 64, [256, 256], 10, 64),
    ("mlp-1k", 256, [1024, 1024], 10, 256),
]
NPROC = 2


def trainrun_step_ms(bin_dir, shape, steps, backend):
    name, features, hidden, classes, batch = shape
    with tempfile.TemporaryDirectory() as out:
        cmd = [os.path.join(bin_dir, "trainrun"), "--nproc-per-node", str(NPROC),
               "--master-port", str(free_port()), CONFIG]
        sets = {"train.steps": steps, "train.global_batch_size": batch, "train.log_every": steps,
                "train.eval_every": 0, "data.name": "synthetic",
                "data.synthetic_features": features, "data.synthetic_classes": classes,
                "data.synthetic_samples": max(16384, batch * 8), "data.eval_fraction": 0.05,
                "model.hidden": "[" + ",".join(map(str, hidden)) + "]",
                "output.dir": out, "run.name": "bench",
                "checkpoint.uri": "", "resume": "never",  # time training steps only
                "dist.backend": backend}
        for k, v in sets.items():
            cmd += ["--set", f"{k}={v}"]
        env = dict(os.environ, OMP_NUM_THREADS="1")
        subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=REPO)
        with open(os.path.join(out, "metrics.json")) as f:
            return json.load(f)["step_time_ms_median"]


def torch_worker(shape_name, steps, result_path):
    """One PyTorch DDP rank under torchrun: the peer trainrun is compared against."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    torch.set_num_threads(1)
    dist.init_process_group("gloo")  # env:// from torchrun
    rank = dist.get_rank()
    _, features, hidden, classes, batch = next(s for s in SHAPES if s[0] == shape_name)
    widths = [features] + hidden + [classes]
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i + 2 < len(widths):
            layers.append(torch.nn.ReLU())
    model = DDP(torch.nn.Sequential(*layers), bucket_cap_mb=25)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    n = max(16384, batch * 8)
    x_all, y_all = torch.randn(n, features), torch.randint(0, classes, (n,))
    local = batch // NPROC
    times = []
    for step in range(steps):
        t0 = time.perf_counter()
        idx = torch.randint(0, n, (local,))
        x, y = x_all.index_select(0, idx), y_all.index_select(0, idx)
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()
        times.append((time.perf_counter() - t0) * 1e3)
    if rank == 0:
        with open(result_path, "w") as f:
            json.dump(statistics.median(times), f)
    dist.destroy_process_group()


def pytorch_step_ms(shape, steps):
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(NPROC),
               "--master-port", str(free_port()), os.path.abspath(__file__), "--torch-worker",
               shape[0], "--steps", str(steps), "--json", result.name]
        subprocess.run(cmd, check=True, capture_output=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
        with open(result.name) as f:
            return json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--bin-dir", default=BIN_DIR)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--torch-worker", metavar="SHAPE", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_worker:
        return torch_worker(args.torch_worker, args.steps, args.json)
    os.environ["OMP_NUM_THREADS"] = "1"

    rows = []
    for shape in SHAPES:
        shm, gloo, theirs = [], [], []
        for _ in range(args.trials):  # alternate so all sides see the same noise
            shm.append(trainrun_step_ms(args.bin_dir, shape, args.steps, "shm"))
            gloo.append(trainrun_step_ms(args.bin_dir, shape, args.steps, "gloo"))
            theirs.append(pytorch_step_ms(shape, args.steps))
        a, g, b = statistics.median(shm), statistics.median(gloo), statistics.median(theirs)
        rows.append({"shape": shape[0], "widths": [shape[1]] + shape[2] + [shape[3]],
                     "global_batch": shape[4], "ranks": NPROC, "trainrun_shm_ms": a,
                     "trainrun_gloo_ms": g, "pytorch_ddp_ms": b, "ratio_shm": a / b,
                     "ratio_gloo": g / b, "trials_trainrun_shm": shm,
                     "trials_trainrun_gloo": gloo, "trials_pytorch": theirs})

    print(f"# {NPROC} ranks, 1 thread/rank, {args.steps} steps, median of {args.trials} trials "
          f"(each the median step of rank 0); PyTorch DDP uses gloo")
    print(f"{'shape':>12} {'widths':>18} {'batch':>6} {'trainrun':>9} {'trainrun':>9} "
          f"{'pytorch':>9} {'ratio':>6} {'ratio':>6}")
    print(f"{'':>12} {'':>18} {'':>6} {'shm':>9} {'gloo':>9} {'gloo':>9} {'shm':>6} {'gloo':>6}")
    print(f"{'':>12} {'':>18} {'':>6} {'ms/step':>9} {'ms/step':>9} {'ms/step':>9} {'x':>6} "
          f"{'x':>6}")
    for r in rows:
        widths = "-".join(map(str, r["widths"]))
        print(f"{r['shape']:>12} {widths:>18} {r['global_batch']:>6} "
              f"{r['trainrun_shm_ms']:>9.3f} {r['trainrun_gloo_ms']:>9.3f} "
              f"{r['pytorch_ddp_ms']:>9.3f} {r['ratio_shm']:>6.2f} {r['ratio_gloo']:>6.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "ddp_step_time", "steps": args.steps, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
