#!/usr/bin/python3
"""Elastic recovery through `trainrun --max-restarts`: kill -9 of a random rank at a random
moment costs at most the step in flight; the survivors keep their state, the respawned rank
receives it from a peer, and the final parameters equal those of an uninterrupted run.

ELASTIC_TRIALS sets the number of kill trials (default 10; benchmarks/elastic_soak.py runs
more). Each trial prints one line: the step killed at, the rank, recovery time, lost steps."""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../support"))
import harness  # noqa: E402
from harness import CONFIG, DATA, REPO, STEP_LINE, TRAINRUN, alive, max_rel_diff, params  # noqa
from harness import children_or_empty as children  # noqa: E402

STEPS = 300
# Steps of a few milliseconds (so a kill lands mid-step, mid-save or mid-log alike), frequent
# logs and checkpoints, so every kind of moment gets hit across trials.
JOB = [f"train.steps={STEPS}", "train.log_every=5", "train.eval_every=100",
       "model.hidden=[512,512]", "checkpoint.every_steps=25", f"data.path={DATA}",
       "run.name=elastic-job"]
# The recovery line with its time (group 5).
RECOVERED = re.compile(harness.RECOVERED.pattern + r" recovery_ms=([\d.e+-]+)")


def command(out_dir, ckpt_dir, *flags):
    cmd = [TRAINRUN, "--nproc-per-node", "2", "--grace-period", "5", *flags, CONFIG]
    for s in JOB + [f"output.dir={out_dir}", f"checkpoint.uri={ckpt_dir}"]:
        cmd += ["--set", s]
    return cmd


class ElasticRecovery(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="trainrun_elastic_")
        ref = subprocess.run(command(f"{cls.tmp}/ref", f"{cls.tmp}/ref_ckpt"), cwd=REPO,
                             capture_output=True, text=True, timeout=300)
        assert ref.returncode == 0, ref.stdout + ref.stderr
        cls.ref = params(f"{cls.tmp}/ref")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def kill_trial(self, trial, rng):
        out, ckpt = f"{self.tmp}/t{trial}", f"{self.tmp}/t{trial}_ckpt"
        target = rng.randrange(10, STEPS - 40)
        proc = subprocess.Popen(command(out, ckpt, "--max-restarts", "3"), cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seen_pids, lines, logged_before_kill, victim = set(), [], 0, None
        for line in proc.stdout:
            lines.append(line)
            seen_pids.update(children(proc.pid))
            m = STEP_LINE.match(line)
            if m and victim is None:
                logged_before_kill = int(m.group(1))
                if logged_before_kill >= target:
                    # A random moment after this log line: 0-20 ms into the steps that follow.
                    time.sleep(rng.random() * 0.02)
                    ranks = sorted(children(proc.pid))
                    victim = rng.randrange(len(ranks))
                    os.kill(ranks[victim], signal.SIGKILL)
        proc.wait(timeout=60)
        log = "".join(lines)
        self.assertEqual(proc.returncode, 0, log)
        self.assertIsNotNone(victim, f"the run ended before step {target}:\n{log}")
        m = RECOVERED.search(log)
        self.assertIsNotNone(m, log)
        generation, world, step, lost, ms = m.groups()
        self.assertEqual(int(world), 2)
        self.assertLessEqual(int(lost), 1, log)
        # No logged (completed) step is lost: recovery resumes at or after the last one.
        self.assertGreaterEqual(int(step), logged_before_kill, log)
        with open(f"{out}/metrics.json") as f:
            metrics = json.load(f)
        self.assertEqual(metrics["membership_changes"], 1)
        self.assertLessEqual(metrics["lost_steps"], 1)
        got = params(out)
        self.assertLessEqual(max_rel_diff(self.ref, got), 1e-5)
        seen_pids.update(children(proc.pid))
        time.sleep(0.2)
        self.assertEqual([p for p in seen_pids if alive(p)], [], "processes left behind")
        print(f"trial {trial}: killed rank {victim} after step {logged_before_kill}, resumed at "
              f"step {step}, lost {lost} step(s), recovery {float(ms):.0f} ms", flush=True)

    def test_kill_random_rank_at_random_moment(self):
        seed = int(os.environ.get("ELASTIC_SEED", time.time_ns() % 100000))
        print(f"ELASTIC_SEED={seed}", flush=True)
        rng = random.Random(seed)
        for trial in range(int(os.environ.get("ELASTIC_TRIALS", "10"))):
            with self.subTest(trial=trial):
                self.kill_trial(trial, rng)

    def test_restarts_exhausted_stops_the_job_with_the_failure(self):
        out, ckpt = f"{self.tmp}/exhausted", f"{self.tmp}/exhausted_ckpt"
        logs = f"{self.tmp}/exhausted_logs"  # --tee 3: a respawned rank logs to attempt_1
        proc = subprocess.Popen(command(out, ckpt, "--max-restarts", "1", "--log-dir", logs,
                                        "--tee", "3"), cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        kills, lines = 0, []
        for line in proc.stdout:
            lines.append(line)
            m = STEP_LINE.match(line)
            if m and int(m.group(1)) >= 20 * (kills + 1) and kills < 2:
                os.kill(sorted(children(proc.pid))[1], signal.SIGKILL)
                kills += 1
        proc.wait(timeout=60)
        log = "".join(lines)
        self.assertEqual(kills, 2, log)
        self.assertEqual(proc.returncode, 128 + signal.SIGKILL, log)
        self.assertIn("no restarts left (--max-restarts 1)", log)
        self.assertFalse(os.path.exists(f"{out}/metrics.json"))
        (run_dir,) = os.listdir(logs)
        attempts = {a: sorted(os.listdir(f"{logs}/{run_dir}/{a}"))
                    for a in os.listdir(f"{logs}/{run_dir}")}
        self.assertEqual(sorted(attempts), ["attempt_0", "attempt_1"], attempts)
        self.assertEqual(attempts["attempt_0"], ["0", "1"])
        self.assertEqual(len(attempts["attempt_1"]), 1, attempts)  # the one respawn
        with open(f"{logs}/{run_dir}/attempt_0/0/stdout.log") as f:
            self.assertIn("step=20/", f.read())  # rank 0's own lines, unprefixed


if __name__ == "__main__":
    unittest.main(verbosity=2)
