#!/usr/bin/env python3
"""Recovery time after kill -9 of one rank: trainrun's in-memory elastic recovery vs torchrun
restarting the same PyTorch DDP job from its checkpoint.

Both sides run the same job (configs/digits-mlp.yaml: MLP 64-256-256-10 on the digits, global
batch 64 over 2 ranks, SGD + momentum, Gloo, 1 thread per rank, a checkpoint every K steps to
a local folder) under their launcher with --max-restarts 3:
  trainrun: build/trainrun --nproc-per-node 2 --max-restarts 3 configs/digits-mlp.yaml --set ...
            (its built-in LibTorch worker; checkpoint.every_steps=K, train.log_every=1)
  torchrun: python -m torch.distributed.run --nproc-per-node 2 --max-restarts 3
            benchmarks/ddp_elastic_worker.py (PyTorch DDP; torch.save of model + optimizer +
            step every K steps on rank 0, loaded on (re)start)
Rank 0 prints a line per completed step on both sides. Each trial starts a run, waits until
rank 0 has logged step T, sends SIGKILL to the same local rank (default 1) and timestamps
every line as it arrives. Per trial:
  recovery s   wall clock from the kill to the arrival of the first step line computed after
               recovery, i.e. the first step numbered above the step training resumed from
               (trainrun: `recovered_generation=... step=S`; torchrun: the restarted worker's
               `resumed_from_checkpoint step=S`). For torchrun this includes failure
               detection, stopping the survivors, the re-rendezvous, process start, `import
               torch`, init_process_group and the checkpoint load.
  steps lost   last step logged before the kill minus S (completed steps done again).
  back at s    kill to the first step numbered above the last step logged before the kill
               (recovery plus the redone steps).
Trials alternate which side goes first. Every run must finish with exit code 0.

usage: .venv/bin/python3 benchmarks/recovery_time.py [--trials 5] [--kill-after-step 250]
           [--checkpoint-every 100] [--steps 400] [--kill-local-rank 1] [--trainrun-backend gloo]
           [--json out.json]
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tests/support"))
from harness import BIN_DIR, CONFIG, DATA, REPO, STEP_LINE, alive, free_port  # noqa: E402
from harness import children_or_empty as children  # noqa: E402
NPROC = 2
# trainrun logs step=N/TOTAL, the PyTorch worker step=N.
RESTART = re.compile(r" restart=(\d+)")
TRAINRUN_RECOVERED = re.compile(r"recovered_generation=(\d+) world_size=(\d+) step=(\d+) "
                                r"lost_steps=(\d+) recovery_ms=([\d.e+-]+)")
TORCH_RESUMED = re.compile(r"resumed_from_checkpoint step=(\d+) restart=(\d+)")


def clean_env():
    """This environment without launcher variables that would steer either launcher."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "PET_", "AWS_BATCH_", "TORCHELASTIC_", "TRAINRUN_")) and
           k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK",
                     "LOCAL_WORLD_SIZE", "GROUP_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    return env


def local_rank_of(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            for kv in f.read().split(b"\0"):
                if kv.startswith(b"LOCAL_RANK="):
                    return int(kv.split(b"=", 1)[1])
    except (OSError, ValueError):
        pass
    return None


def trainrun_cmd(args, tmp):
    cmd = [os.path.join(args.bin_dir, "trainrun"), "--nproc-per-node", str(NPROC),
           "--max-restarts", "3", "--master-port", str(free_port()),
           CONFIG]
    sets = {"train.steps": args.steps, "train.log_every": 1, "train.eval_every": 0,
            "model.hidden": "[256,256]", "train.global_batch_size": 64,
            "data.path": DATA,
            "dist.backend": args.trainrun_backend,
            "checkpoint.uri": os.path.join(tmp, "checkpoints"),
            "checkpoint.every_steps": args.checkpoint_every,
            "output.dir": os.path.join(tmp, "out"), "run.name": "recovery-bench",
            "resume": "never"}
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    return cmd


def torchrun_cmd(args, tmp):
    return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(NPROC),
            "--max-restarts", "3", "--master-port", str(free_port()),
            os.path.join(HERE, "ddp_elastic_worker.py"), "--steps", str(args.steps),
            "--checkpoint-every", str(args.checkpoint_every),
            "--checkpoint", os.path.join(tmp, "checkpoint.pt")]


def run_trial(side, args):
    """One run of `side` with one kill; returns the trial's measurements."""
    tmp = tempfile.mkdtemp(prefix=f"recovery_{side}_")
    cmd = trainrun_cmd(args, tmp) if side == "trainrun" else torchrun_cmd(args, tmp)
    load = os.getloadavg()[0]
    proc = subprocess.Popen(cmd, cwd=REPO, env=clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    timed_out = threading.Event()
    seen = set()  # ranks of every generation (torchrun starts each in a session of its own)

    def kill_all():
        for pid in [proc.pid] + sorted(seen):
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def watchdog():
        timed_out.set()
        kill_all()

    timer = threading.Timer(args.timeout, watchdog)
    timer.start()
    lines = []
    t_kill = victim = kill_seen_step = None
    last_before = 0      # newest step logged by the generation that was killed
    resumed = None       # the step training went on from after the kill
    recovered = None     # trainrun's own report: (step, lost_steps, recovery_ms)
    t_first = t_back = None
    first_step = back_step = None
    try:
        for line in proc.stdout:
            now = time.monotonic()
            lines.append(line)
            if t_kill is not None or len(lines) % 50 == 1:  # /proc reads cost the reader time
                seen.update(children(proc.pid))
            m = STEP_LINE.match(line)
            step = int(m.group(1)) if m else None
            if t_kill is None:
                if step is None:
                    continue
                last_before = step
                if step >= args.kill_after_step:
                    seen.update(children(proc.pid))
                    ranks = [p for p in children(proc.pid)
                             if local_rank_of(p) == args.kill_local_rank]
                    if len(ranks) != 1:
                        raise RuntimeError(f"{side}: found {len(ranks)} processes with "
                                           f"LOCAL_RANK={args.kill_local_rank} under the launcher")
                    victim, kill_seen_step = ranks[0], step
                    t_kill = time.monotonic()
                    os.kill(victim, signal.SIGKILL)
                continue
            # After the kill: tell lines of the killed generation from those after recovery.
            if side == "trainrun":
                r = TRAINRUN_RECOVERED.search(line)
                if r and recovered is None:
                    resumed = int(r.group(3))
                    recovered = (int(r.group(3)), int(r.group(4)), float(r.group(5)))
                    continue
                after_recovery = resumed is not None
            else:
                r = TORCH_RESUMED.search(line)
                if r and resumed is None:
                    resumed = int(r.group(1))
                    continue
                rs = RESTART.search(line)
                after_recovery = step is not None and rs is not None and int(rs.group(1)) > 0
                if after_recovery and resumed is None:
                    resumed = 0  # no checkpoint yet: started over
            if step is None:
                continue
            if not after_recovery:
                last_before = max(last_before, step)
                continue
            if t_first is None and step > resumed:
                t_first, first_step = now, step
            if t_back is None and step > last_before:
                t_back, back_step = now, step
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{side}: the launcher did not exit 30 s after its output ended")
    finally:
        timer.cancel()
        if proc.poll() is None:
            kill_all()
            proc.wait()
    log = "".join(lines)
    tail = "\n".join(log.strip().splitlines()[-20:])
    if timed_out.is_set():
        raise RuntimeError(f"{side}: the run took over {args.timeout} s\n{tail}")
    if proc.returncode != 0:
        raise RuntimeError(f"{side}: exit code {proc.returncode}\n{tail}")
    if t_kill is None:
        raise RuntimeError(f"{side}: the run ended before step {args.kill_after_step}\n{tail}")
    if t_first is None or t_back is None:
        raise RuntimeError(f"{side}: no step after the recovery in the log\n{tail}")
    time.sleep(0.2)
    left = [p for p in seen if alive(p)]
    kill_all()  # none should be left; if some are, do not let them load the next trial
    # last_step_before_kill can exceed the step whose line triggered the kill: lines still in
    # the pipe (the reader lags when the machine is loaded) were logged before the kill too.
    trial = {"side": side, "killed_local_rank": args.kill_local_rank,
             "kill_on_reading_step": kill_seen_step, "last_step_before_kill": last_before,
             "resumed_from_step": resumed,
             "steps_lost": max(0, last_before - resumed),
             "recovery_s": t_first - t_kill, "first_step_after": first_step,
             "back_at_pre_kill_s": t_back - t_kill, "first_new_step": back_step,
             "loadavg_1min_at_start": load, "processes_left_behind": len(left)}
    if side == "trainrun":
        if recovered is None:
            raise RuntimeError(f"trainrun: no recovered_generation line\n{tail}")
        trial["trainrun_recovery_ms"] = recovered[2]
        trial["trainrun_lost_steps"] = recovered[1]
        with open(os.path.join(tmp, "out", "metrics.json")) as f:
            m = json.load(f)
        trial["metrics"] = {k: m.get(k) for k in ("membership_changes", "lost_steps",
                                                   "recovery_ms_max", "steps", "world_size")}
        if m.get("membership_changes") != 1 or m.get("steps") != args.steps:
            raise RuntimeError(f"trainrun: metrics.json says {trial['metrics']}, expected one "
                               f"membership change and {args.steps} steps")
    shutil.rmtree(tmp, ignore_errors=True)
    return trial


def median(trials, side, key):
    return statistics.median(t[key] for t in trials if t["side"] == side)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=5, help="kills per side (default 5)")
    ap.add_argument("--steps", type=int, default=400, help="steps per run (default 400)")
    ap.add_argument("--checkpoint-every", type=int, default=100,
                    help="K: checkpoint interval in steps on both sides (default 100)")
    ap.add_argument("--kill-after-step", type=int, default=250,
                    help="T: kill once rank 0 has logged this step (default 250: mid-interval)")
    ap.add_argument("--kill-local-rank", type=int, default=1,
                    help="the local rank killed on both sides (default 1)")
    ap.add_argument("--trainrun-backend", default="gloo",
                    help="trainrun's dist.backend (default gloo, as PyTorch DDP on CPU)")
    ap.add_argument("--timeout", type=float, default=180, help="seconds per run (default 180)")
    ap.add_argument("--bin-dir", default=BIN_DIR)
    ap.add_argument("--json", help="also write every trial and the medians here")
    args = ap.parse_args()
    if not 0 <= args.kill_local_rank < NPROC:
        ap.error(f"--kill-local-rank must be below {NPROC}")
    if not 0 < args.kill_after_step < args.steps:
        ap.error("--kill-after-step must be within the run's --steps")
    if not os.access(os.path.join(args.bin_dir, "trainrun"), os.X_OK):
        ap.error(f"no trainrun in {args.bin_dir} (build it or pass --bin-dir)")

    trials = []
    for i in range(args.trials):
        order = ("trainrun", "torchrun") if i % 2 == 0 else ("torchrun", "trainrun")
        for side in order:
            try:
                t = run_trial(side, args)
            except RuntimeError as e:
                print(f"recovery_time: trial {i + 1}: {e}", file=sys.stderr)
                return 1
            t["trial"] = i
            trials.append(t)
            extra = (f", trainrun says recovery_ms={t['trainrun_recovery_ms']:.0f} "
                     f"lost_steps={t['trainrun_lost_steps']}" if side == "trainrun" else "")
            print(f"trial {i + 1}/{args.trials} {side}: killed local rank {args.kill_local_rank} "
                  f"on reading step {t['kill_on_reading_step']} (last logged before the kill: "
                  f"{t['last_step_before_kill']}), resumed from {t['resumed_from_step']}"
                  f", recovery {t['recovery_s']:.3f} s (first step {t['first_step_after']}), "
                  f"back at step {t['first_new_step']} after {t['back_at_pre_kill_s']:.3f} s, "
                  f"load {t['loadavg_1min_at_start']:.1f}{extra}", file=sys.stderr, flush=True)

    rows = []
    for side in ("trainrun", "torchrun"):
        rows.append({"side": side, "recovery_s": median(trials, side, "recovery_s"),
                     "steps_lost": median(trials, side, "steps_lost"),
                     "back_at_pre_kill_s": median(trials, side, "back_at_pre_kill_s")})
    ratio = rows[0]["recovery_s"] / rows[1]["recovery_s"]
    rows[0]["ratio"], rows[1]["ratio"] = ratio, 1.0
    loads = [t["loadavg_1min_at_start"] for t in trials]
    print(f"# kill -9 of local rank {args.kill_local_rank} after step {args.kill_after_step} of "
          f"{args.steps}, checkpoint every {args.checkpoint_every} steps, {NPROC} ranks, "
          f"digits-mlp 64-256-256-10, global batch 64, 1 thread/rank; trainrun dist.backend="
          f"{args.trainrun_backend}, PyTorch Gloo; median of {args.trials} trials per side, "
          f"alternating; {os.cpu_count()} CPUs, 1-min load {min(loads):.1f}-{max(loads):.1f}")
    print(f"{'side':>9} {'recovery':>9} {'steps':>6} {'back at':>9} {'ratio':>9}")
    print(f"{'':>9} {'':>9} {'lost':>6} {'pre-kill':>9} {'/torchrun':>9}")
    print(f"{'':>9} {'s':>9} {'steps':>6} {'s':>9} {'x':>9}")
    for r in rows:
        print(f"{r['side']:>9} {r['recovery_s']:>9.3f} {r['steps_lost']:>6g} "
              f"{r['back_at_pre_kill_s']:>9.3f} {r['ratio']:>9.3f}")
    verdict = "meets" if ratio <= 0.2 else "misses"
    own = [t for t in trials if t["side"] == "trainrun"]
    print(f"# trainrun's own recovered_generation line (survivor's failure detection to the group "
          f"re-formed with the state handed over): median recovery_ms="
          f"{statistics.median(t['trainrun_recovery_ms'] for t in own):.0f}; the step in flight "
          f"was redone in {sum(t['trainrun_lost_steps'] for t in own)} of {len(own)} trials "
          f"(not counted as lost on either side: it had not completed)")
    print(f"# recovery ratio trainrun/torchrun = {ratio:.3f} ({verdict} the target <= 0.2)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "recovery_time", "steps": args.steps,
                       "checkpoint_every": args.checkpoint_every,
                       "kill_after_step": args.kill_after_step,
                       "kill_local_rank": args.kill_local_rank, "ranks": NPROC,
                       "trainrun_backend": args.trainrun_backend, "cpus": os.cpu_count(),
                       "trials_per_side": args.trials, "ratio": ratio, "target": 0.2,
                       "rows": rows, "trials": trials}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
