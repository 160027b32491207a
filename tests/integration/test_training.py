#!/usr/bin/env python3
"""End-to-end training through the `trainrun` launcher: accuracy, artifacts, world-size
invariance, bad input, a diverged run stopped before it saves NaN, out of memory in one line,
and a rank killed mid-run. Needs the venv's PyTorch to read the model artifacts
(torch.jit.load), which also proves they load from Python."""
import json
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../support"))
from harness import (CONFIG, DATA, LOG_LINE, REPO, TRAINRUN, WORKER, alive,  # noqa: E402
                     children, env_of, max_rel_diff, params)
from harness import run_trainrun as run  # noqa: E402


def train(out_dir, nproc, *sets, config=CONFIG):
    args = ["--nproc-per-node", str(nproc), config, "--set", f"output.dir={out_dir}",
            "--set", f"data.path={DATA}", "--set", f"checkpoint.uri={out_dir}_ckpt"]
    for s in sets:
        args += ["--set", s]
    p = run(args)
    if p.returncode != 0:
        raise AssertionError(f"trainrun failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


class Training(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="trainrun_it_")
        self.addCleanup(self.tmp.cleanup)

    def out(self, name):
        return os.path.join(self.tmp.name, name)

    def test_default_job_reaches_accuracy_and_writes_artifacts(self):
        start = time.monotonic()
        p = train(self.out("main"), 2)
        self.assertIn("backend=shm", p.stdout)  # auto: ranks on one host share memory
        elapsed = time.monotonic() - start
        self.assertLess(elapsed, 60)
        lines = [m for m in map(LOG_LINE.match, p.stdout.splitlines()) if m]
        self.assertGreater(len(lines), 3, p.stdout)
        with open(self.out("main/metrics.json")) as f:
            metrics = json.load(f)
        for key in ("accuracy", "loss", "steps", "world_size", "samples_per_sec", "wall_seconds"):
            self.assertIn(key, metrics)
        self.assertGreaterEqual(metrics["accuracy"], 0.95)
        self.assertEqual(metrics["world_size"], 2)
        self.assertTrue(os.path.exists(self.out("main/model/config.yaml")))
        model = torch.jit.load(self.out("main/model/model.pt"))
        self.assertEqual(list(model.state_dict())[:2], ["fc0.weight", "fc0.bias"])
        self.assertEqual(tuple(model(torch.zeros(3, 64)).shape), (3, 10))

    def test_bf16_autocast_on_cpu_reaches_accuracy(self):
        p = train(self.out("bf16"), 2, "precision=bf16")
        self.assertIn("precision=bf16", p.stdout)
        with open(self.out("bf16/metrics.json")) as f:
            self.assertGreaterEqual(json.load(f)["accuracy"], 0.93)

    def test_profile_trace_writes_a_trace_and_a_table_of_the_busiest_ops(self):
        p = train(self.out("trace"), 2, "train.steps=30", "train.log_every=10",
                  "train.profile_trace=3")
        self.assertIn("profile: steps 11-13 traced", p.stdout)
        with open(self.out("trace/profile_trace.json")) as f:
            trace = json.load(f)
        self.assertTrue(any(e.get("name", "").startswith("aten::") for e in trace["traceEvents"]))
        with open(self.out("trace/profile_kernels.json")) as f:
            table = json.load(f)
        self.assertEqual(table["steps"], 3)
        self.assertEqual(table["kind"], "cpu operators (inclusive time)")
        self.assertGreater(len(table["rows"]), 5)
        self.assertLessEqual(len(table["rows"]), 40)
        times = [r["ms_per_step"] for r in table["rows"]]
        self.assertEqual(times, sorted(times, reverse=True))
        self.assertIn("aten::addmm", [r["name"] for r in table["rows"]])  # the MLP's layers
        self.assertEqual(p.stdout.count("profile: steps"), 1, p.stdout)  # rank 0 alone traces

    def test_a_closed_pipe_or_socket_is_an_error_to_the_rank_never_a_sigpipe(self):
        # A rank writing to a socket a lost peer closed (Gloo writes without MSG_NOSIGNAL) or
        # to a closed stdout gets EPIPE, which it reports; SIGPIPE's default would kill it
        # before elastic recovery could act. Here: stdout's reader is gone before the first line.
        r, w = os.pipe()
        os.close(r)
        p = subprocess.run([WORKER, CONFIG, "--set", f"output.dir={self.out('pipe')}",
                            "--set", f"data.path={DATA}", "--set", "train.steps=20",
                            "--set", "checkpoint.uri="], stdout=w, stderr=subprocess.PIPE,
                           env=dict(os.environ, RANK="0", WORLD_SIZE="1", LOCAL_RANK="0"),
                           cwd=REPO,
                           timeout=120)
        os.close(w)
        self.assertNotEqual(p.returncode, -signal.SIGPIPE, p.stderr)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.exists(self.out("pipe/metrics.json")))

    def test_world_size_buckets_and_accumulation_do_not_change_the_result(self):
        steps = "train.steps=50"
        train(self.out("w1"), 1, steps)
        train(self.out("w2"), 2, steps)
        train(self.out("w2_tiny"), 2, steps, "dist.bucket_cap_mb=0.0001",
              "dist.first_bucket_mb=0.0001")
        train(self.out("w2_accum"), 2, steps, "train.grad_accum_steps=2")
        p = train(self.out("w2_gloo"), 2, steps, "dist.backend=gloo")
        self.assertIn("backend=gloo", p.stdout)
        ref = params(self.out("w1"))
        for name in ("w2", "w2_tiny", "w2_accum", "w2_gloo"):
            diff = max_rel_diff(ref, params(self.out(name)))
            self.assertLessEqual(diff, 1e-5, f"{name}: max relative difference {diff:.3g}")
        # And training did move the parameters (the comparison is not vacuous).
        trained = params(self.out("w1"))
        train(self.out("w1_short"), 1, "train.steps=1")
        self.assertGreater(max_rel_diff(trained, params(self.out("w1_short"))), 1e-3)
        # Clipping sees the averaged gradient: the same at every world size and accumulation.
        clip = "optimizer.max_grad_norm=0.5"
        train(self.out("w1_clip"), 1, steps, clip)
        train(self.out("w2_clip"), 2, steps, clip, "train.grad_accum_steps=2")
        clipped = params(self.out("w1_clip"))
        diff = max_rel_diff(clipped, params(self.out("w2_clip")))
        self.assertLessEqual(diff, 1e-5, f"w2_clip: max relative difference {diff:.3g}")
        self.assertGreater(max_rel_diff(trained, clipped), 1e-3)  # the clip did clip

    def test_bad_input_is_one_line_and_exit_code_2(self):
        bad_yaml = self.out("bad.yaml")
        with open(bad_yaml, "w") as f:
            f.write("train:\n  steps: [1, 2\n")
        unknown = self.out("unknown.yaml")
        with open(unknown, "w") as f:
            f.write("train:\n  stepz: 10\n")
        cases = {
            "malformed YAML": ([bad_yaml], "malformed YAML"),
            "unknown key": ([unknown], "train.stepz"),
            "negative batch": ([CONFIG, "--set", "train.global_batch_size=-4"],
                               "train.global_batch_size"),
            "missing data": ([CONFIG, "--set", "data.path=/nonexistent/digits.csv.gz"],
                             "/nonexistent/digits.csv.gz"),
        }
        for name, (args, needle) in cases.items():
            with self.subTest(name):
                out_dir = self.out("never_" + name.replace(" ", "_"))
                p = run(["--nproc-per-node", "2"] + args + ["--set", f"output.dir={out_dir}"])
                self.assertEqual(p.returncode, 2, p.stderr)
                err = p.stderr.strip().splitlines()
                self.assertEqual(len(err), 1, p.stderr)
                self.assertIn(needle, err[0])
                self.assertFalse(os.path.exists(out_dir))

    def test_a_diverged_run_stops_keeps_its_checkpoints_and_resumes_with_a_lower_lr(self):
        # SGD warming up to lr 1e4: finite through step 10, NaN by step 15. --max-restarts
        # does not restart it: the same config diverges the same way.
        out = self.out("diverged")
        job = ["--set", f"output.dir={out}", "--set", f"data.path={DATA}",
               "--set", f"checkpoint.uri={out}_ckpt", "--set", "train.steps=60",
               "--set", "scheduler.warmup_steps=60", "--set", "train.log_every=5",
               "--set", "checkpoint.every_steps=5"]
        p = run(["--nproc-per-node", "2", "--max-restarts", "2", CONFIG, *job,
                 "--set", "optimizer.lr=1e4"])
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        last = p.stderr.strip().splitlines()[-1]
        self.assertRegex(last, r"^trainrun: rank \d failed first: exit code 2: training "
                         r"diverged: train_loss is nan over steps \d+-\d+; checkpoints saved "
                         r"before are kept")
        self.assertIn("which a restart repeats: stopping the job", p.stderr)
        self.assertNotIn("restarting it", p.stderr)
        self.assertRegex(p.stdout, r"step=\d+/60 epoch=\d+ train_loss=nan ")  # then it stopped
        self.assertFalse(os.path.exists(f"{out}/metrics.json"))  # no outputs of a NaN model
        run_dir = os.path.join(f"{out}_ckpt", os.listdir(f"{out}_ckpt")[0])
        kept = sorted(d for d in os.listdir(run_dir) if d.startswith("step-"))
        self.assertTrue(kept, os.listdir(run_dir))
        # The fix the line names: a lower lr resumes from the newest (finite) checkpoint.
        p = run(["--nproc-per-node", "2", CONFIG, *job, "--set", "optimizer.lr=0.1"])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(f"step={int(kept[-1][5:])} ", p.stdout.split("resumed=", 1)[1])
        with open(f"{out}/metrics.json") as f:
            self.assertTrue(math.isfinite(json.load(f)["train_loss"]))

    def test_a_diverged_parameter_is_never_checkpointed(self):
        # Logged every 100 steps, saved every 5: the save finds the NaN before any log line.
        out = self.out("nan_params")
        p = run(["--nproc-per-node", "2", CONFIG, "--set", f"output.dir={out}",
                 "--set", f"data.path={DATA}", "--set", f"checkpoint.uri={out}_ckpt",
                 "--set", "optimizer.lr=1e30", "--set", "train.log_every=100",
                 "--set", "checkpoint.every_steps=5"])
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("training diverged: parameter fc0.weight holds a NaN or an infinity after "
                      "step 5, so that checkpoint is not saved", p.stderr)
        self.assertEqual(os.listdir(f"{out}_ckpt"), [])

    def test_out_of_memory_in_a_step_is_one_line_naming_the_fix(self):
        # A 4096 x 4,000,000 activation (61 GiB) in step 1's forward, under a 32 GiB address
        # space limit: the CPU allocator refuses at once, whatever the machine's overcommit.
        def limit_address_space():
            resource.setrlimit(resource.RLIMIT_AS, (32 << 30, 32 << 30))
        out = self.out("oom")
        p = run(["--nproc-per-node", "1", "--max-restarts", "1", CONFIG,
                 "--set", "data.name=synthetic", "--set", "data.synthetic_features=1",
                 "--set", "data.synthetic_samples=8192", "--set", "model.hidden=[4000000]",
                 "--set", "train.global_batch_size=4096", "--set", "train.steps=2",
                 "--set", f"output.dir={out}", "--set", "checkpoint.uri="],
                preexec_fn=limit_address_space)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        last = p.stderr.strip().splitlines()[-1]
        self.assertIn("exit code 2: out of memory in step 1: the host cannot allocate 61.0 GiB; "
                      "each rank forwards about 4096 samples at a time: raise "
                      "train.grad_accum_steps (now 1) to forward fewer with the same global "
                      "batch, or lower train.global_batch_size", last)
        self.assertNotIn("restarting it", p.stderr)  # the same step runs out again

    def test_a_cuda_graph_without_a_gpu_is_refused_before_start_up(self):
        # The rank knows its device: it refuses before opening storage or the output folder.
        out_dir = self.out("never_graphed")
        p = run(["--nproc-per-node", "1", CONFIG, "--set", "train.cuda_graph=true",
                 "--set", "optimizer.name=adamw", "--set", f"data.path={DATA}",
                 "--set", f"output.dir={out_dir}"])
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("train.cuda_graph needs a CUDA device (this rank runs on cpu); drop "
                      "train.cuda_graph", p.stderr)
        self.assertFalse(os.path.exists(out_dir))

    def test_rank_killed_mid_run_stops_the_job(self):
        proc = subprocess.Popen(
            [TRAINRUN, "--nproc-per-node", "2", "--grace-period", "3", CONFIG,
             "--set", "train.epochs=100000", "--set", f"data.path={DATA}",
             "--set", f"output.dir={self.out('killed')}", "--set", "train.log_every=10",
             "--set", f"checkpoint.uri={self.out('killed_ckpt')}"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            for line in proc.stdout:  # wait until training runs
                if LOG_LINE.match(line):
                    break
            workers = children(proc.pid)
            self.assertEqual(len(workers), 2)
            ranks = {int(env_of(pid)["RANK"]): pid for pid in workers}
            os.kill(ranks[1], signal.SIGKILL)
            start = time.monotonic()
            _, err = proc.communicate(timeout=30)
            self.assertLess(time.monotonic() - start, 3 + 5)
        finally:
            if proc.poll() is None:
                proc.kill()
        self.assertNotEqual(proc.returncode, 0)
        summary = err.strip().splitlines()[-1]
        self.assertIn("rank 1", summary)
        self.assertIn("SIGKILL", summary)
        for pid in workers:
            self.assertFalse(alive(pid), f"worker {pid} outlived the launcher")

    def test_pytorch_worker_joins_the_launchers_store(self):
        # `trainrun -- python3 script.py` as with torchrun: init_process_group("gloo") via env://.
        script = self.out("allreduce.py")
        with open(script, "w") as f:
            f.write("import torch, torch.distributed as dist\n"
                    "dist.init_process_group('gloo')\n"
                    "t = torch.tensor([float(dist.get_rank() + 1)])\n"
                    "dist.all_reduce(t)\n"
                    "print(f'sum={t.item():g} world={dist.get_world_size()}')\n"
                    # PyTorch 2.x wants this before exit; without it Gloo's threads can
                    # abort the interpreter at shutdown (also under torchrun).
                    "dist.destroy_process_group()\n")
        p = run(["--nproc-per-node", "2", "--", sys.executable, script], timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("[rank 0] sum=3 world=2", p.stdout)
        self.assertIn("[rank 1] sum=3 world=2", p.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
