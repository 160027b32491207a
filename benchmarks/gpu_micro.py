#!/usr/bin/env python3
"""Microbenchmarks behind the GPT step's choices, on the device PyTorch sees.

1. The head's GEMM with the vocabulary as GPT-2 has it (50257 rows of logits per token, rows
   not 16-byte aligned) and padded to 50304 (a multiple of 64), forward (x W^T) and the two
   backward products, bf16, at the GPT-2 124M shape (B x T = --tokens rows, C = 768).
2. Scaled dot-product attention per backend (flash, cuDNN, memory-efficient, math) at GPT-2
   124M's shape (B, 12 heads, T, 64), causal, bf16, forward + backward: the time, and the
   largest difference from the math backend in fp32 (so "exact enough" is a number).
Each case: --warmup untimed calls, then the median of --trials timings of --iters calls,
CUDA events around each timing (host clock on CPU). A backend that cannot run the shape reads
n/a. On CPU the script runs (a smoke test: tiny shapes, fp32) but measures nothing of use.

usage: python3 benchmarks/gpu_micro.py [--tokens 32768] [--batch 32] [--seq 1024]
           [--trials 5] [--json out.json]
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def timed(fn, args):
    """Median milliseconds per call of fn() over args.trials timings of args.iters calls."""
    cuda = torch.cuda.is_available()
    for _ in range(args.warmup):
        fn()
    if cuda:
        torch.cuda.synchronize()
    times = []
    for _ in range(args.trials):
        if cuda:
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
        t0 = time.perf_counter()
        for _ in range(args.iters):
            fn()
        if cuda:
            end.record()
            end.synchronize()
            times.append(begin.elapsed_time(end) / args.iters)
        else:
            times.append((time.perf_counter() - t0) * 1e3 / args.iters)
    return statistics.median(times)


def head_gemms(args, device, dtype):
    """The head's three GEMMs at vocabularies 50257 and 50304."""
    rows = []
    x = torch.randn(args.tokens, args.embd, device=device, dtype=dtype)
    for vocab in (50257, 50304):
        w = torch.randn(vocab, args.embd, device=device, dtype=dtype)
        g = torch.randn(args.tokens, vocab, device=device, dtype=dtype)
        fwd = timed(lambda: torch.mm(x, w.t()), args)
        dx = timed(lambda: torch.mm(g, w), args)
        dw = timed(lambda: torch.mm(g.t(), x), args)
        rows.append({"vocab": vocab, "forward_ms": fwd, "grad_input_ms": dx,
                     "grad_weight_ms": dw, "total_ms": fwd + dx + dw})
    return rows


def attention(args, device, dtype):
    """SDPA per backend: forward + backward time and the largest difference from math."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    shape = (args.batch, args.heads, args.seq, args.embd // args.heads)
    q, k, v = (torch.randn(shape, device=device, dtype=dtype, requires_grad=True)
               for _ in range(3))
    grad = torch.randn(shape, device=device, dtype=dtype)

    def run(backend):
        with sdpa_kernel([backend]):
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            out.backward(grad)
        return out

    with torch.no_grad():
        ref = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), is_causal=True)
    rows = []
    for name, backend in (("flash", SDPBackend.FLASH_ATTENTION),
                          ("cudnn", SDPBackend.CUDNN_ATTENTION),
                          ("efficient", SDPBackend.EFFICIENT_ATTENTION),
                          ("math", SDPBackend.MATH)):
        try:
            out = run(backend)
            ms = timed(lambda: run(backend), args)
            diff = (out.float() - ref).abs().max().item()
            rows.append({"backend": name, "ms": ms, "max_abs_diff_vs_fp32_math": diff})
        except RuntimeError as e:
            rows.append({"backend": name, "ms": None, "why": str(e).splitlines()[0][:160]})
        q.grad = k.grad = v.grad = None
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=32768, help="rows of the head GEMM (B x T)")
    ap.add_argument("--embd", type=int, default=768)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    dtype = torch.bfloat16 if cuda else torch.float32
    if not cuda:  # a smoke test of the script: shapes a CPU gets through in seconds
        args.tokens, args.batch, args.seq, args.iters, args.trials = 64, 1, 64, 1, 1
    name = torch.cuda.get_device_name() if cuda else "cpu"
    head = head_gemms(args, device, dtype)
    attn = attention(args, device, dtype)
    print(f"# {name}, torch {torch.__version__}, {dtype}")
    print(f"head GEMMs, {args.tokens} x {args.embd} tokens:")
    print(f"{'vocab':>7} {'forward':>9} {'d input':>9} {'d weight':>9} {'total':>9}")
    print(f"{'':>7} {'ms':>9} {'ms':>9} {'ms':>9} {'ms':>9}")
    for r in head:
        print(f"{r['vocab']:>7} {r['forward_ms']:>9.3f} {r['grad_input_ms']:>9.3f} "
              f"{r['grad_weight_ms']:>9.3f} {r['total_ms']:>9.3f}")
    print(f"attention ({args.batch}, {args.heads}, {args.seq}, {args.embd // args.heads}), "
          f"causal, forward + backward:")
    print(f"{'backend':>10} {'ms':>9} {'max |diff|':>11}")
    for r in attn:
        if r["ms"] is None:
            print(f"{r['backend']:>10} {'n/a':>9}  ({r['why']})")
        else:
            print(f"{r['backend']:>10} {r['ms']:>9.3f} {r['max_abs_diff_vs_fp32_math']:>11.2e}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "gpu_micro", "device": name, "torch": torch.__version__,
                       "dtype": str(dtype), "head_gemms": head, "attention": attn}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
