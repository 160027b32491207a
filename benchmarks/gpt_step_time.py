#!/usr/bin/env python3
"""GPT step time of trainrun vs PyTorch eager AMP (Python), same shape, batch and precision.

Both sides train the built-in GPT (token + position embedding, pre-LayerNorm blocks with fused
q/k/v projection and causal scaled_dot_product_attention, a 4x GELU MLP, tied head) on random
tokens with AdamW, on one device. Each side runs in its own process (trials alternate sides),
initializes as GPT-2 does (weights and embeddings N(0, 0.02), residual projections scaled by
1/sqrt(2 L), biases zero), gathers each batch on the host and copies it to the device, and
ends every step with one host sync (the loss); the step time is the median over all steps of
a run, warm-up included, on both sides. fp16 uses torch.amp.GradScaler("cuda") on the
PyTorch side. PyTorch's AdamW runs its multi-tensor (foreach) path; trainrun's is LibTorch's
per-parameter AdamW. The script checks both models have the same parameter count. MFU uses
trainrun's peak for the device and the same FLOPs formula for both (6N + 12 L T C per token).

usage: python3 benchmarks/gpt_step_time.py [--preset gpt2-124m] [--batch 8] [--precision fp16]
                                           [--steps 50] [--trials 3] [--json out.json]
CPU smoke: --preset gpt-tiny --batch 16 --precision fp32 --steps 30 --trials 1
"""
import argparse
import contextlib
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tests/support"))
from harness import BIN_DIR, REPO, config  # noqa: E402
PRESETS = {  # (n_layer, n_head, n_embd, block_size, vocab_size), as csrc/models/gpt.cpp
    "gpt-tiny": (2, 2, 64, 64, 128),
    "gpt2-124m": (12, 12, 768, 1024, 50257),
}
OPTIMIZER = {"lr": 6e-4, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8}


def trainrun_run(args, shape):
    """One trainrun run; returns its metrics.json plus the parameter count it logged."""
    n_layer, n_head, n_embd, block, vocab = shape
    with tempfile.TemporaryDirectory() as out:
        sets = {"model.name": "gpt", "model.n_layer": n_layer, "model.n_head": n_head,
                "model.n_embd": n_embd, "model.block_size": block, "model.vocab_size": vocab,
                "data.name": "synthetic_tokens", "data.synthetic_vocab": vocab,
                "data.synthetic_samples": max(256, args.batch * 8), "data.eval_fraction": 0.01,
                "precision": args.precision, "train.steps": args.steps,
                "train.global_batch_size": args.batch, "train.grad_accum_steps": 1,
                "train.log_every": args.steps, "train.eval_every": 0,
                "optimizer.name": "adamw", "scheduler.name": "constant",
                "scheduler.warmup_steps": 0, "output.dir": out, "run.name": "gpt-bench",
                "checkpoint.uri": "", "resume": "never"}
        sets.update({f"optimizer.{k}": v for k, v in OPTIMIZER.items()})
        cmd = [os.path.join(args.bin_dir, "trainrun"), "--nproc-per-node", "1",
               config("gpt-tiny")]
        for k, v in sets.items():
            cmd += ["--set", f"{k}={v}"]
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        if p.returncode != 0:
            sys.exit(f"trainrun failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
        with open(os.path.join(out, "metrics.json")) as f:
            metrics = json.load(f)
        metrics["params"] = int(re.search(r" params=(\d+)", p.stdout).group(1))
        return metrics


def pytorch_worker(args):
    """The PyTorch side, run in its own process; prints one JSON line."""
    import torch
    import torch.nn.functional as F
    n_layer, n_head, n_embd, block, vocab = PRESETS[args.preset]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = torch.nn.LayerNorm(n_embd), torch.nn.LayerNorm(n_embd)
            self.c_attn = torch.nn.Linear(n_embd, 3 * n_embd)
            self.attn_proj = torch.nn.Linear(n_embd, n_embd)
            self.c_fc = torch.nn.Linear(n_embd, 4 * n_embd)
            self.mlp_proj = torch.nn.Linear(4 * n_embd, n_embd)

        def attention(self, x):  # (B, T, C)
            B, T, C = x.shape
            q, k, v = self.c_attn(x).split(C, 2)
            q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
            return self.attn_proj(y.transpose(1, 2).contiguous().view(B, T, C))

        def forward(self, x):
            x = x + self.attention(self.ln_1(x))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class Gpt(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = torch.nn.Embedding(vocab, n_embd), torch.nn.Embedding(block, n_embd)
            self.h = torch.nn.ModuleList(Block() for _ in range(n_layer))
            self.ln_f = torch.nn.LayerNorm(n_embd)
            with torch.no_grad():  # GPT-2's init, as csrc/models/gpt.cpp
                for emb in (self.wte, self.wpe):
                    emb.weight.normal_(0, 0.02)
                for b in self.h:
                    for lin in (b.c_attn, b.attn_proj, b.c_fc, b.mlp_proj):
                        lin.weight.normal_(0, 0.02)
                        lin.bias.zero_()
                    for lin in (b.attn_proj, b.mlp_proj):
                        lin.weight.normal_(0, 0.02 / math.sqrt(2 * n_layer))

        def forward(self, idx):
            x = self.wte(idx) + self.wpe(torch.arange(idx.size(1), device=idx.device))
            for b in self.h:
                x = b(x)
            return F.linear(self.ln_f(x), self.wte.weight)  # tied head

    torch.manual_seed(0)
    model = Gpt().to(device)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=OPTIMIZER["lr"],
                            betas=(OPTIMIZER["beta1"], OPTIMIZER["beta2"]), eps=OPTIMIZER["eps"],
                            weight_decay=OPTIMIZER["weight_decay"], foreach=True)
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.precision]
    scaler = torch.amp.GradScaler(device.type, enabled=args.precision == "fp16")
    tokens = torch.randint(0, vocab, (max(256, args.batch * 8), block + 1), dtype=torch.int32)
    pin = device.type == "cuda"
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        rows = torch.randint(0, tokens.size(0), (args.batch,))
        batch = tokens.index_select(0, rows)
        batch = (batch.pin_memory() if pin else batch).to(device, non_blocking=True).long()
        x, y = batch[:, :-1], batch[:, 1:]
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext():
            logits = model(x)
        loss = F.cross_entropy(logits.float().view(-1, vocab), y.reshape(-1))
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        loss.item()  # the step's host sync, as trainrun's
        times.append((time.perf_counter() - t0) * 1e3)
    peak_mb = torch.cuda.max_memory_allocated() / 1e6 if device.type == "cuda" else None
    print(json.dumps({"step_ms": statistics.median(times), "params": params,
                      "n_matmul": params - model.wpe.weight.numel(), "peak_memory_mb": peak_mb}))


def pytorch_run(args):
    """Runs pytorch_worker in a fresh process; returns its JSON."""
    cmd = [sys.executable, os.path.abspath(__file__), "--pytorch-worker", "--preset", args.preset,
           "--batch", str(args.batch), "--precision", args.precision, "--steps", str(args.steps)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"pytorch side failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="gpt2-124m")
    ap.add_argument("--batch", type=int, default=8, help="sequences per step")
    ap.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp16")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--pytorch-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--bin-dir", default=BIN_DIR)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    if args.pytorch_worker:
        return pytorch_worker(args)
    import torch
    if args.precision == "fp16" and not torch.cuda.is_available():
        sys.exit("fp16 needs a CUDA device; on CPU use --precision fp32 or bf16")
    shape = PRESETS[args.preset]
    tokens_per_step = args.batch * shape[3]

    ours, theirs = [], []
    for _ in range(args.trials):  # alternate so both sides see the same machine state
        m = trainrun_run(args, shape)
        ours.append(m["step_time_ms_median"])
        p = pytorch_run(args)
        theirs.append(p["step_ms"])
    if p["params"] != m["params"]:
        sys.exit(f"shape mismatch: PyTorch model has {p['params']} parameters, "
                 f"trainrun {m['params']}")
    flops_per_step = (6 * p["n_matmul"] + 12 * shape[0] * shape[3] * shape[2]) * tokens_per_step
    peak = m["tflops"] / m["mfu"] if m.get("mfu") else None  # trainrun's peak for this device

    rows = [("trainrun", statistics.median(ours), ours, m.get("peak_memory_mb")),
            ("pytorch eager+sdpa", statistics.median(theirs), theirs, p["peak_memory_mb"])]
    print(f"# {args.preset} ({p['params'] / 1e6:.1f}M params), batch {args.batch} x {shape[3]} "
          f"tokens, {args.precision}, {m['device']}, {args.steps} steps, "
          f"median of {args.trials} trials")
    print(f"{'side':>20} {'step':>9} {'tokens/s':>11} {'TFLOPS':>8} {'MFU':>6} {'memory':>8} "
          f"{'ratio':>6}")
    print(f"{'':>20} {'ms':>9} {'':>11} {'':>8} {'':>6} {'MB':>8} {'x':>6}")
    results = []
    for name, ms, trials, mem in rows:
        tflops = flops_per_step / (ms / 1e3) / 1e12
        mfu = tflops / peak if peak else None
        results.append({"side": name, "step_ms": ms, "tokens_per_s": tokens_per_step / ms * 1e3,
                        "tflops": tflops, "mfu": mfu, "peak_memory_mb": mem,
                        "ratio_vs_pytorch": ms / rows[1][1], "trials_ms": trials})
        mfu_text = f"{mfu:>6.3f}" if mfu is not None else f"{'n/a':>6}"
        mem_text = f"{mem:>8.0f}" if mem is not None else f"{'n/a':>8}"
        print(f"{name:>20} {ms:>9.2f} {tokens_per_step / ms * 1e3:>11.0f} {tflops:>8.2f} "
              f"{mfu_text} {mem_text} {ms / rows[1][1]:>6.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "gpt_step_time", "preset": args.preset, "batch": args.batch,
                       "precision": args.precision, "device": m["device"], "params": p["params"],
                       "peak_tflops": peak, "rows": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
