#!/usr/bin/env python3
"""GPT step time of trainrun vs PyTorch eager and torch.compile, on the same tokens, level.

All sides train the built-in GPT (token + position embedding, pre-LayerNorm blocks with fused
q/k/v projection and causal scaled_dot_product_attention, a 4x GELU MLP, tied head) with AdamW
on one device, from one llm.c token shard the script writes (random ids below the vocabulary):
trainrun reads it as data.name=tokens; PyTorch memory-maps it and takes windows of T + 1
tokens at offsets that are multiples of T (trainrun's windows), B per step, copied through
pinned memory. Each side runs in its own process; trials alternate the sides.

Timing is level: every side is timed over windows of --window steps that end with a device
sync (trainrun: its log window, which reads the loss back; PyTorch: loss.item(), with CUDA
events around the window on a GPU), after --warmup steps that are not timed; the step time is
the median over windows of window time / steps. PyTorch uses AdamW(fused=True) where the
device has it (else foreach), GradScaler for fp16, and F.cross_entropy on fp32 logits as
nanoGPT does. torch.compile (default mode) compiles a function returning the loss, so Inductor
fuses the cross-entropy; a compile that fails or outlasts --compile-timeout reads n/a.
--trainrun-set adds trainrun settings (e.g. model.fused_loss=true). --max-grad-norm clips every
side's gradient norm, as nanoGPT's recipe (trainrun: optimizer.max_grad_norm; PyTorch:
clip_grad_norm_(foreach=True) after GradScaler.unscale_); off by default. MFU: trainrun's peak for
the device and one FLOPs formula for all (6N + 12 L T C per token). Peak memory: trainrun's
metrics.json, torch.cuda.max_memory_allocated for PyTorch. --kernel-tables adds one traced
run per side (not timed): trainrun with train.profile_trace (its profile_kernels.json) and
eager under torch.profiler, --trace-steps steps after the warm-up; the top 40 names by time
per step (CUDA kernels on a GPU, operators by inclusive time on CPU) side by side, traced
right after the first trial. --json is rewritten after every trial ("complete": false until
the end), so a run cut short still leaves its numbers; --budget-s starts another trial only if
it should end in time (the longest trial so far predicts it).

usage: python3 benchmarks/gpt_step_time.py [--preset gpt2-124m] [--batch 32] [--precision bf16]
           [--steps 60] [--warmup 10] [--window 10] [--trials 2] [--budget-s S] [--no-compile]
           [--max-grad-norm N]
           [--trainrun-set KEY=VALUE ...] [--kernel-tables] [--json out.json]
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


STEP_LINE = re.compile(r"^\[rank 0\] step=(\d+)/\d+ .*samples_per_sec=([\d.e+-]+)", re.M)


def write_shard(path, vocab, tokens):
    """One llm.c uint16 shard of `tokens` random ids below `vocab` (both sides read it)."""
    import numpy as np
    header = np.zeros(256, dtype=np.int32)
    header[:3] = [20240520, 1, tokens]
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(rng.integers(0, vocab, tokens, dtype=np.uint16).tobytes())


def timed_windows(args):
    """The steps each timed window ends at: after the warm-up, every --window steps."""
    return [s for s in range(args.warmup + args.window, args.steps + 1, args.window)]


def parse_variant(text):
    """--trainrun-variant NAME:KEY=VALUE,KEY=VALUE -> (NAME, ["KEY=VALUE", ...])."""
    name, sep, sets = text.partition(":")
    pairs = [kv for kv in sets.split(",") if kv]
    if not name or not sep or not pairs or any("=" not in kv for kv in pairs):
        sys.exit(f"--trainrun-variant {text!r}: expected NAME:KEY=VALUE[,KEY=VALUE...]")
    return name, pairs


class SideFailed(Exception):
    """A trainrun run that failed or logged no timed window; the message ends with its log."""


def error_line(text):
    """The last line that says "error", else the last line."""
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    errors = [l for l in lines if "error" in l.lower()]
    return (errors or lines or [""])[-1]


def trainrun_run(args, shape, shard, trace_steps=0, extra_sets=()):
    """One trainrun run: the median step time of its timed log windows, and metrics.json
    (with trace_steps, also its profile_kernels.json as "kernels"). extra_sets: a variant's
    settings, after --trainrun-set's."""
    n_layer, n_head, n_embd, block, vocab = shape
    with tempfile.TemporaryDirectory() as out:
        sets = {"model.name": "gpt", "model.n_layer": n_layer, "model.n_head": n_head,
                "model.n_embd": n_embd, "model.block_size": block, "model.vocab_size": vocab,
                "data.name": "tokens", "data.path": shard,
                "precision": args.precision, "train.steps": args.steps,
                "train.global_batch_size": args.batch, "train.grad_accum_steps": 1,
                "train.log_every": args.window, "train.eval_every": 0,
                "optimizer.name": "adamw", "scheduler.name": "constant",
                "scheduler.warmup_steps": 0, "output.dir": out, "run.name": "gpt-bench",
                "checkpoint.uri": "", "resume": "never"}
        sets.update({f"optimizer.{k}": v for k, v in OPTIMIZER.items()})
        sets["optimizer.max_grad_norm"] = args.max_grad_norm
        cmd = [os.path.join(args.bin_dir, "trainrun"), "--nproc-per-node", "1",
               config("gpt-tiny")]
        for k, v in sets.items():
            cmd += ["--set", f"{k}={v}"]
        for kv in (args.trainrun_set + list(extra_sets) +
                   ([f"train.profile_trace={trace_steps}"] if trace_steps else [])):
            cmd += ["--set", kv]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO,
                               timeout=args.run_timeout)
        except subprocess.TimeoutExpired:
            raise SideFailed(f"trainrun: no result within --run-timeout {args.run_timeout} s")
        if p.returncode != 0:
            raise SideFailed(f"trainrun failed ({p.returncode}): {error_line(p.stderr)}\n"
                             f"{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
        with open(os.path.join(out, "metrics.json")) as f:
            metrics = json.load(f)
        windows = {int(m.group(1)): args.batch / float(m.group(2)) * 1e3
                   for m in STEP_LINE.finditer(p.stdout)}
        timed = [windows[s] for s in timed_windows(args) if s in windows]
        if not timed:
            raise SideFailed(f"trainrun logged no timed window\n{p.stdout[-2000:]}")
        metrics["window_step_ms"] = statistics.median(timed)
        if trace_steps:
            with open(os.path.join(out, "profile_kernels.json")) as f:
                metrics["kernels"] = json.load(f)
        metrics["params"] = int(re.search(r" params=(\d+)", p.stdout).group(1))
        return metrics


def pytorch_worker(args):
    """The PyTorch side (eager, or --compile), run in its own process; prints one JSON line."""
    import numpy as np
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
    adamw = dict(lr=OPTIMIZER["lr"], betas=(OPTIMIZER["beta1"], OPTIMIZER["beta2"]),
                 eps=OPTIMIZER["eps"], weight_decay=OPTIMIZER["weight_decay"])
    try:
        opt, fused = torch.optim.AdamW(model.parameters(), fused=True, **adamw), True
    except (RuntimeError, TypeError):
        opt, fused = torch.optim.AdamW(model.parameters(), foreach=True, **adamw), False
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.precision]
    scaler = torch.amp.GradScaler(device.type, enabled=args.precision == "fp16")

    def loss_of(x, y):
        with torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext():
            logits = model(x)
        return F.cross_entropy(logits.float().view(-1, vocab), y.reshape(-1))

    step_loss = torch.compile(loss_of) if args.compile else loss_of
    data = np.memmap(args.shard, dtype=np.uint16, mode="r", offset=1024)
    windows = (len(data) - 1) // block
    rng = np.random.default_rng(1)
    pin = device.type == "cuda"

    def batch():
        starts = rng.integers(0, windows, args.batch) * block
        rows = torch.from_numpy(np.stack([data[s:s + block + 1] for s in starts]).astype(np.int64))
        rows = (rows.pin_memory() if pin else rows).to(device, non_blocking=True)
        return rows[:, :-1], rows[:, 1:]

    def step():
        x, y = batch()
        opt.zero_grad(set_to_none=True)
        loss = step_loss(x, y)
        scaler.scale(loss).backward()
        if args.max_grad_norm > 0:
            scaler.unscale_(opt)  # a no-op unless fp16
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm, foreach=True)
        scaler.step(opt)
        scaler.update()
        return loss

    start_compile = time.perf_counter()
    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    warmup_s = time.perf_counter() - start_compile
    if args.trace_steps:
        print(json.dumps({"kernels": traced_table(args, step, device)}))
        return
    window_ms = []
    done = args.warmup
    while done + args.window <= args.steps:
        if device.type == "cuda":
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
        t0 = time.perf_counter()
        for _ in range(args.window):
            loss = step()
        loss.item()  # the window's sync, as trainrun's log window
        if device.type == "cuda":
            end.record()
            end.synchronize()
            window_ms.append(begin.elapsed_time(end) / args.window)
        else:
            window_ms.append((time.perf_counter() - t0) * 1e3 / args.window)
        done += args.window
    peak_mb = torch.cuda.max_memory_allocated() / 1e6 if device.type == "cuda" else None
    print(json.dumps({"step_ms": statistics.median(window_ms), "params": params,
                      "n_matmul": params - model.wpe.weight.numel(), "peak_memory_mb": peak_mb,
                      "fused_adamw": fused, "warmup_s": warmup_s}))


def traced_table(args, step, device):
    """--trace-steps steps under torch.profiler: the top 40 names by time per step, as
    trainrun's profile_kernels.json (CUDA kernels on a GPU, operators' inclusive time on CPU)."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    cuda = device.type == "cuda"
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=acts) as prof:
        for _ in range(args.trace_steps):
            step()
        if cuda:
            torch.cuda.synchronize()
    rows = {}
    for e in prof.events():
        on_device = e.device_type == torch.autograd.DeviceType.CUDA
        if on_device != cuda:
            continue
        us = e.device_time if cuda else e.cpu_time_total  # one call's time
        calls, total = rows.get(e.name, (0, 0.0))
        rows[e.name] = (calls + 1, total + us)
    total_us = sum(t for _, t in rows.values())
    top = sorted(rows.items(), key=lambda kv: -kv[1][1])[:40]
    n = args.trace_steps
    return {"steps": n, "kind": "cuda kernels" if cuda else "cpu operators (inclusive time)",
            "total_ms_per_step": total_us / 1e3 / n,
            "rows": [{"name": k, "calls_per_step": c / n, "ms_per_step": t / 1e3 / n,
                      "share": t / total_us if total_us else 0.0} for k, (c, t) in top]}


def print_kernel_tables(tables, rows=15):
    """The sides' tables next to each other, top `rows` names each."""
    names = list(tables)
    print(f"\ntop {rows} by time per step ({tables[names[0]]['kind']}), traced runs:")
    for name in names:
        t = tables[name]
        print(f"{name}: {t['total_ms_per_step']:.2f} ms per step traced")
        print(f"  {'ms/step':>8} {'calls':>6} {'share':>6}  name")
        for r in t["rows"][:rows]:
            print(f"  {r['ms_per_step']:>8.3f} {r['calls_per_step']:>6.1f} {r['share']:>6.1%}  "
                  f"{r['name'][:100]}")


def pytorch_run(args, shard, compile_=False, trace_steps=0):
    """Runs pytorch_worker in a fresh process; returns its JSON, or None (compile: n/a)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--pytorch-worker", "--preset", args.preset,
           "--batch", str(args.batch), "--precision", args.precision, "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--window", str(args.window), "--shard", shard,
           "--trace-steps", str(trace_steps), "--max-grad-norm", str(args.max_grad_norm)]
    if compile_:
        cmd.append("--compile")
    try:
        p = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=args.compile_timeout if compile_ else None)
    except subprocess.TimeoutExpired:
        print(f"torch.compile: no result within {args.compile_timeout} s: n/a", file=sys.stderr)
        return None
    if p.returncode != 0:
        if compile_:
            print(f"torch.compile failed: n/a ({p.stderr.strip().splitlines()[-1:]})",
                  file=sys.stderr)
            return None
        sys.exit(f"pytorch side failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def run_side(args, shape, shard, side, variants, results):
    """One timed run of `side` into `results` (times, metrics, failed). A trainrun variant that
    fails is reported, not fatal (the other sides still measure), and stays out of later trials;
    a compile that fails reads n/a."""
    times, latest, failed = results["times"], results["latest"], results["failed"]
    if side in failed:
        return
    if side == "trainrun" or side.startswith("trainrun "):
        extra = variants[side[len("trainrun "):]] if side != "trainrun" else ()
        try:
            m = trainrun_run(args, shape, shard, extra_sets=extra)
        except SideFailed as e:
            if side == "trainrun":
                sys.exit(str(e))
            failed[side] = str(e).splitlines()[0]
            print(f"{side}: {e}", file=sys.stderr)
            return
        times[side].append(m["window_step_ms"])
        latest[side] = m
        return
    r = pytorch_run(args, shard, compile_=side == "torch.compile")
    if r is not None:
        times[side].append(r["step_ms"])
        latest[side] = r


def kernel_tables(args, shape, shard):
    """One traced run per side (trainrun, eager): their top kernels."""
    n = args.trace_steps or 5
    try:
        mine = trainrun_run(args, shape, shard, trace_steps=n)["kernels"]
    except SideFailed as e:
        sys.exit(str(e))
    return {"trainrun": mine, "pytorch eager": pytorch_run(args, shard, trace_steps=n)["kernels"]}


def report(args, shape, sides, variants, results, tables, final):
    """The JSON document of the results so far; with `final`, the table printed too."""
    times, latest, failed = results["times"], results["latest"], results["failed"]
    m, p = latest["trainrun"], latest["pytorch eager"]
    if p["params"] != m["params"]:
        sys.exit(f"shape mismatch: PyTorch model has {p['params']} parameters, "
                 f"trainrun {m['params']}")
    tokens_per_step = args.batch * shape[3]
    flops_per_step = (6 * p["n_matmul"] + 12 * shape[0] * shape[3] * shape[2]) * tokens_per_step
    peak = m["tflops"] / m["mfu"] if m.get("mfu") else None  # trainrun's peak for this device
    eager_ms = statistics.median(times["pytorch eager"])
    trials = results["trials_run"]
    if final:
        print(f"# {args.preset} ({p['params'] / 1e6:.1f}M params), batch {args.batch} x "
              f"{shape[3]} tokens, {args.precision}, {m['device']}, windows of {args.window} "
              f"steps after {args.warmup}, median of {trials} trials"
              + (f" (of {args.trials}: --budget-s {args.budget_s:g})" if trials < args.trials
                 else "")
              + f"; PyTorch AdamW {'fused' if p['fused_adamw'] else 'foreach'}"
              + (f"; every side clips at norm {args.max_grad_norm:g}" if args.max_grad_norm > 0
                 else "")
              + (f"; trainrun {' '.join(args.trainrun_set)}" if args.trainrun_set else "")
              + "".join(f"; trainrun {n}: {' '.join(kv)}" for n, kv in variants.items()))
        print(f"{'side':>18} {'step':>9} {'tokens/s':>11} {'TFLOPS':>8} {'MFU':>6} "
              f"{'memory':>8} {'x eager':>8}")
        print(f"{'':>18} {'ms':>9} {'':>11} {'':>8} {'':>6} {'MB':>8} {'(time)':>8}")
    rows = []
    for side in sides:
        if not times[side]:
            rows.append({"side": side, "step_ms": None, "error": failed.get(side)})
            if final:
                print(f"{side:>18} {'failed' if side in failed else 'n/a':>9}"
                      + (f"  {failed[side]}" if side in failed else ""))
            continue
        ms = statistics.median(times[side])
        tflops = flops_per_step / (ms / 1e3) / 1e12
        mfu = tflops / peak if peak else None
        mem = latest[side].get("peak_memory_mb")
        rows.append({"side": side, "step_ms": ms, "tokens_per_s": tokens_per_step / ms * 1e3,
                     "tflops": tflops, "mfu": mfu, "peak_memory_mb": mem,
                     "ratio_vs_eager": ms / eager_ms, "trials_ms": times[side]})
        if final:
            mfu_text = f"{mfu:>6.3f}" if mfu is not None else f"{'n/a':>6}"
            mem_text = f"{mem:>8.0f}" if mem is not None else f"{'n/a':>8}"
            print(f"{side:>18} {ms:>9.2f} {tokens_per_step / ms * 1e3:>11.0f} {tflops:>8.2f} "
                  f"{mfu_text} {mem_text} {ms / eager_ms:>8.2f}")
    if final and tables:
        print_kernel_tables(tables)
    return {"benchmark": "gpt_step_time", "complete": final, "preset": args.preset,
            "batch": args.batch, "precision": args.precision, "device": m["device"],
            "params": p["params"], "window": args.window, "warmup": args.warmup,
            "trials": args.trials, "trials_run": trials, "budget_s": args.budget_s,
            "trainrun_set": args.trainrun_set, "trainrun_variants": variants,
            "max_grad_norm": args.max_grad_norm,
            "peak_tflops": peak, "rows": rows, "kernel_tables": tables}


def write_json(args, document):
    if args.json:
        with open(args.json + ".part", "w") as f:
            json.dump(document, f, indent=2)
        os.replace(args.json + ".part", args.json)  # a reader never sees half a file


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="gpt2-124m")
    ap.add_argument("--batch", type=int, default=32, help="sequences per step")
    ap.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="bf16")
    ap.add_argument("--steps", type=int, default=60, help="steps per run, warm-up included")
    ap.add_argument("--warmup", type=int, default=10, help="untimed steps first")
    ap.add_argument("--window", type=int, default=10, help="steps per timed window")
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--budget-s", type=float, default=0,
                    help="start another trial only if it should end within this many seconds "
                    "of the start (0: no limit); the first trial always runs")
    ap.add_argument("--no-compile", dest="compile_peer", action="store_false",
                    help="skip the torch.compile side")
    ap.add_argument("--compile-timeout", type=int, default=600)
    ap.add_argument("--run-timeout", type=int, default=600,
                    help="seconds a trainrun run may take (a variant that outlasts it fails)")
    ap.add_argument("--max-grad-norm", type=float, default=0,
                    help="clip every side's gradient norm to this (0: no clipping)")
    ap.add_argument("--trainrun-set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--trainrun-variant", action="append", default=[],
                    metavar="NAME:KEY=VALUE,...", help="another trainrun side, 'trainrun NAME', "
                    "with these settings on top of --trainrun-set (repeatable)")
    ap.add_argument("--kernel-tables", action="store_true",
                    help="one traced run per side (trainrun, eager): top kernels side by side")
    ap.add_argument("--trace-steps", type=int, default=0, help="steps traced (with --kernel-"
                    "tables: default 5)")
    ap.add_argument("--pytorch-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--compile", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--shard", help=argparse.SUPPRESS)
    ap.add_argument("--bin-dir", default=BIN_DIR)
    ap.add_argument("--json", help="also write the results here (after every trial)")
    args = ap.parse_args()
    if args.pytorch_worker:
        return pytorch_worker(args)
    if args.warmup % args.window != 0 or args.steps < args.warmup + args.window:
        sys.exit("--warmup must be a multiple of --window, and --steps at least both")
    import torch
    if args.precision == "fp16" and not torch.cuda.is_available():
        sys.exit("fp16 needs a CUDA device; on CPU use --precision fp32 or bf16")
    shape = PRESETS[args.preset]

    variants = dict(parse_variant(v) for v in args.trainrun_variant)
    sides = (["trainrun"] + [f"trainrun {name}" for name in variants] + ["pytorch eager"] +
             (["torch.compile"] if args.compile_peer else []))
    results = {"times": {side: [] for side in sides}, "latest": {}, "failed": {},
               "trials_run": 0}
    tables = {}
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="trainrun_gpt_bench_") as tmp:
        shard = os.path.join(tmp, "tokens_000000.bin")  # ~4 windows per step of every run
        write_shard(shard, shape[4], max(1 << 20, 4 * args.steps * args.batch * shape[3]))
        longest = 0.0  # the longest trial so far (s)
        for t in range(args.trials):  # alternate so all sides see the same machine state
            if t and args.budget_s and time.monotonic() - start + longest > args.budget_s:
                print(f"--budget-s {args.budget_s:g}: {t} of {args.trials} trials fit",
                      file=sys.stderr)
                break
            began = time.monotonic()
            for side in (sides if t % 2 == 0 else sides[::-1]):
                run_side(args, shape, shard, side, variants, results)
            longest = max(longest, time.monotonic() - began)
            results["trials_run"] = t + 1
            if t == 0 and args.kernel_tables:  # before more trials: the budget keeps them
                write_json(args, report(args, shape, sides, variants, results, tables, False))
                tables = kernel_tables(args, shape, shard)
            write_json(args, report(args, shape, sides, variants, results, tables, False))
    write_json(args, report(args, shape, sides, variants, results, tables, True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
