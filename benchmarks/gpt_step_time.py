#!/usr/bin/python3
"""GPT step time of trainrun vs PyTorch eager AMP (Python), same shape, batch and precision.

Both sides train the built-in GPT (token + position embedding, pre-LayerNorm blocks with fused
q/k/v attention and a 4x GELU MLP, tied head) on random tokens with AdamW, on one device, in
one script; trials alternate sides. The PyTorch model mirrors csrc/models/gpt.cpp op for op
(explicit attention); with --sdpa, a third row uses torch's fused scaled_dot_product_attention
where the installed torch has it. The script checks that both models have the same number of
parameters. MFU uses trainrun's peak for the device (its table or TRAINRUN_PEAK_TFLOPS) and
the same FLOPs formula for both sides (6N + 12 L T C per token).

usage: python3 benchmarks/gpt_step_time.py [--preset gpt2-124m] [--batch 8] [--precision fp16]
                                           [--steps 50] [--trials 3] [--sdpa] [--json out.json]
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

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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
               os.path.join(REPO, "configs", "gpt-tiny.yaml")]
        for k, v in sets.items():
            cmd += ["--set", f"{k}={v}"]
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        if p.returncode != 0:
            sys.exit(f"trainrun failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
        with open(os.path.join(out, "metrics.json")) as f:
            metrics = json.load(f)
        metrics["params"] = int(re.search(r" params=(\d+)", p.stdout).group(1))
        return metrics


def pytorch_run(args, shape, device, sdpa):
    """The same GPT and step in PyTorch eager; returns (median ms/step, params, N matmul)."""
    import torch
    import torch.nn.functional as F
    n_layer, n_head, n_embd, block, vocab = shape

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = torch.nn.LayerNorm(n_embd), torch.nn.LayerNorm(n_embd)
            self.c_attn = torch.nn.Linear(n_embd, 3 * n_embd)
            self.attn_proj = torch.nn.Linear(n_embd, n_embd)
            self.c_fc = torch.nn.Linear(n_embd, 4 * n_embd)
            self.mlp_proj = torch.nn.Linear(4 * n_embd, n_embd)
            self.register_buffer("future", torch.ones(block, block, dtype=torch.bool).triu(1),
                                 persistent=False)

        def attention(self, x):  # (B, T, C)
            B, T, C = x.shape
            hs = C // n_head
            q, k, v = self.c_attn(x).split(C, 2)
            q, k, v = (t.view(B, T, n_head, hs).transpose(1, 2) for t in (q, k, v))
            if sdpa:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:  # as trainrun: scale q, masked softmax
                att = (q * (1.0 / math.sqrt(hs))) @ k.transpose(-2, -1)  # (B, nh, T, T)
                att = att.masked_fill(self.future[:T, :T], float("-inf")).softmax(-1)
                y = att @ v
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

        def forward(self, idx):
            x = self.wte(idx) + self.wpe(torch.arange(idx.size(1), device=idx.device))
            for b in self.h:
                x = b(x)
            return F.linear(self.ln_f(x), self.wte.weight)  # tied head

    torch.manual_seed(0)
    model = Gpt().to(device)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=OPTIMIZER["lr"],
                            betas=(OPTIMIZER["beta1"], OPTIMIZER["beta2"]),
                            eps=OPTIMIZER["eps"], weight_decay=OPTIMIZER["weight_decay"])
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.precision]
    scaler = torch.cuda.amp.GradScaler(enabled=args.precision == "fp16")
    tokens = torch.randint(0, vocab, (max(256, args.batch * 8), block + 1), device=device)
    times = []
    for step in range(args.steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        rows = torch.randint(0, tokens.size(0), (args.batch,), device=device)
        x, y = tokens[rows, :-1], tokens[rows, 1:]
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext():
            logits = model(x)
        loss = F.cross_entropy(logits.float().view(-1, vocab), y.reshape(-1))
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        loss.item()
        times.append((time.perf_counter() - t0) * 1e3)
    n_matmul = params - model.wpe.weight.numel()
    return statistics.median(times[min(5, args.steps // 2):]), params, n_matmul


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="gpt2-124m")
    ap.add_argument("--batch", type=int, default=8, help="sequences per step")
    ap.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp16")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--sdpa", action="store_true", help="also time PyTorch with fused attention")
    ap.add_argument("--bin-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    import torch
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.precision == "fp16" and device.type != "cuda":
        sys.exit("fp16 needs a CUDA device; on CPU use --precision fp32 or bf16")
    sdpa = args.sdpa and hasattr(torch.nn.functional, "scaled_dot_product_attention")
    shape = PRESETS[args.preset]
    tokens_per_step = args.batch * shape[3]

    ours, theirs, fused = [], [], []
    for _ in range(args.trials):  # alternate so both sides see the same machine state
        m = trainrun_run(args, shape)
        ours.append(m["step_time_ms_median"])
        ms, params, n_matmul = pytorch_run(args, shape, device, sdpa=False)
        theirs.append(ms)
        if sdpa:
            fused.append(pytorch_run(args, shape, device, sdpa=True)[0])
    if params != m["params"]:
        sys.exit(f"shape mismatch: PyTorch model has {params} parameters, trainrun {m['params']}")
    flops_per_step = (6 * n_matmul + 12 * shape[0] * shape[3] * shape[2]) * tokens_per_step
    peak = m["tflops"] / m["mfu"] if m.get("mfu") else None  # trainrun's peak for this device

    rows = [("trainrun", statistics.median(ours), ours),
            ("pytorch eager", statistics.median(theirs), theirs)]
    if sdpa:
        rows.append(("pytorch eager+sdpa", statistics.median(fused), fused))
    print(f"# {args.preset} ({params / 1e6:.1f}M params), batch {args.batch} x {shape[3]} tokens, "
          f"{args.precision}, {m['device']}, {args.steps} steps, median of {args.trials} trials")
    print(f"{'side':>20} {'step':>9} {'tokens/s':>11} {'TFLOPS':>8} {'MFU':>6} {'ratio':>6}")
    print(f"{'':>20} {'ms':>9} {'':>11} {'':>8} {'':>6} {'x':>6}")
    results = []
    for name, ms, trials in rows:
        tflops = flops_per_step / (ms / 1e3) / 1e12
        mfu = tflops / peak if peak else None
        results.append({"side": name, "step_ms": ms, "tokens_per_s": tokens_per_step / ms * 1e3,
                        "tflops": tflops, "mfu": mfu, "ratio_vs_pytorch": ms / rows[1][1],
                        "trials_ms": trials})
        mfu_text = f"{mfu:>6.3f}" if mfu is not None else f"{'n/a':>6}"
        print(f"{name:>20} {ms:>9.2f} {tokens_per_step / ms * 1e3:>11.0f} {tflops:>8.2f} "
              f"{mfu_text} {ms / rows[1][1]:>6.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "gpt_step_time", "preset": args.preset, "batch": args.batch,
                       "precision": args.precision, "device": m["device"], "params": params,
                       "peak_tflops": peak, "rows": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
