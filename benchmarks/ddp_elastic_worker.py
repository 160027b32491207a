#!/usr/bin/env python3
"""One PyTorch DDP rank under torchrun that resumes from its own checkpoint, as torchrun users
write it: recovery_time.py's peer for trainrun's in-memory elastic recovery.

The job is configs/digits-mlp.yaml's: an MLP 64-256-256-10 (ddp_step_time.py's "digits-mlp"
shape) on the 1,797 digits of data/digits.csv.gz (pixels / 16, 20% held out), global batch
64 split over the ranks, SGD lr 0.1 momentum 0.9 weight decay 1e-4, 20 warm-up steps then
cosine decay, Gloo, 1 thread per rank. Every --checkpoint-every steps rank 0 saves model,
optimizer and step with torch.save (written to a temporary file, then renamed); on start every
rank loads that file if it exists and goes on from its step. The data order is a function of
the step (one seeded permutation per epoch), so a resumed run sees the same batches.

Rank 0 prints one line per completed step, flushed, in trainrun's format plus the torchrun
restart count: `[rank 0] step=S epoch=E loss=L restart=R`, and on resume
`[rank 0] resumed_from_checkpoint step=S restart=R`.

usage (under torchrun): ddp_elastic_worker.py --steps N --checkpoint-every K --checkpoint F
"""
import argparse
import csv
import gzip
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tests/support"))
import ddp_step_time  # noqa: E402  (the MLP shapes both step-time benchmarks use)
from harness import DATA  # noqa: E402

SHAPE = next(s for s in ddp_step_time.SHAPES if s[0] == "digits-mlp")  # (64, [256,256], 10, 64)
LR, MOMENTUM, WEIGHT_DECAY, WARMUP = 0.1, 0.9, 1e-4, 20  # configs/digits-mlp.yaml
EVAL_FRACTION, SEED = 0.2, 0


def load_digits(torch, path):
    """(features (N, 64) in [0, 1], labels (N,)) of the training split."""
    with gzip.open(path, "rt") as f:
        rows = [[float(v) for v in r] for r in csv.reader(f) if r]
    data = torch.tensor(rows)  # (N, 65): 64 pixels 0..16, then the label
    x, y = data[:, :64] / 16.0, data[:, 64].long()
    n_eval = max(1, int(len(rows) * EVAL_FRACTION))
    perm = torch.randperm(len(rows), generator=torch.Generator().manual_seed(SEED))
    train = perm[: len(rows) - n_eval]
    return x[train], y[train]


def learning_rate(step, total):
    if step < WARMUP:
        return LR * (step + 1) / WARMUP
    progress = min(1.0, (step - WARMUP) / max(1, total - WARMUP))
    return LR * 0.5 * (1.0 + math.cos(math.pi * progress))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--checkpoint-every", type=int, required=True)
    ap.add_argument("--checkpoint", required=True, help="the checkpoint file (model+optim+step)")
    ap.add_argument("--data", default=DATA)
    args = ap.parse_args()

    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    torch.set_num_threads(1)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    # torchrun's store (the agent's, TORCHELASTIC_USE_AGENT_STORE) outlives a restart, and
    # PyTorch 2.11 no longer gives each attempt its own key prefix: a restarted group would read
    # the dead group's Gloo addresses and never connect (connectFullMesh hangs or is refused,
    # with static and c10d rendezvous alike). Restore the per-attempt prefix older releases had.
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world,
                          is_master=False)
    dist.init_process_group("gloo", store=dist.PrefixStore(f"/worker/attempt_{restart}", store),
                            rank=rank, world_size=world)

    _, features, hidden, classes, batch = SHAPE
    widths = [features] + hidden + [classes]
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i + 2 < len(widths):
            layers.append(torch.nn.ReLU())
    torch.manual_seed(SEED)
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    start = 0
    if os.path.exists(args.checkpoint):
        state = torch.load(args.checkpoint, map_location="cpu")
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start = state["step"]
        if rank == 0:
            print(f"[rank 0] resumed_from_checkpoint step={start} restart={restart}", flush=True)
    model = DDP(net, bucket_cap_mb=25)  # broadcasts rank 0's parameters

    x_all, y_all = load_digits(torch, args.data)
    n = x_all.shape[0]
    per_epoch = n // batch
    local = batch // world
    perm, perm_epoch = None, -1
    for step in range(start, args.steps):
        epoch, in_epoch = divmod(step, per_epoch)
        if epoch != perm_epoch:
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(SEED + epoch))
            perm_epoch = epoch
        idx = perm[in_epoch * batch + rank * local:in_epoch * batch + (rank + 1) * local]
        for g in opt.param_groups:
            g["lr"] = learning_rate(step, args.steps)
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x_all[idx]), y_all[idx])
        loss.backward()
        opt.step()
        done = step + 1
        if rank == 0:
            print(f"[rank 0] step={done} epoch={epoch} loss={loss.item():.4f} restart={restart}",
                  flush=True)
            if done % args.checkpoint_every == 0 or done == args.steps:
                tmp = args.checkpoint + ".tmp"
                torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(),
                            "step": done}, tmp)
                os.replace(tmp, args.checkpoint)  # a kill mid-save leaves the previous one
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
