#!/usr/bin/python3
"""Preemption end to end through `trainrun`: an EC2 spot interruption notice from a fake IMDS
(IMDSv2, on 127.0.0.1) and SIGTERM both end a single-node 2-rank run with exit code 143 and an
emergency checkpoint committed before the deadline, from which the same command resumes to
the uninterrupted run's parameters bit for bit; a deadline too short for the measured save is
one warning line, no new step folder, and exit code 143 still. Two nodes (on loopback) that are
both SIGTERMed save one emergency checkpoint together, and the same commands resume from it."""
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../support"))
from harness import CONFIG, DATA, REPO, RESUMED, STEP_LINE, TRAINRUN, free_port, params  # noqa: E402

# Long enough that a run is still training when the notice comes (about 1 ms a step on 2
# cores), short enough for the reference and the resumed runs.
STEPS = 8000
JOB = [f"train.steps={STEPS}", "train.log_every=500", "train.eval_every=0",
       "checkpoint.every_steps=1000", f"data.path={DATA}", "run.name=preempt-job"]
OUTCOME = re.compile(r"emergency checkpoint committed at step (\d+) in ([\d.]+) s, ([\d.]+) s "
                     r"before the deadline")
EXIT_PREEMPTED = 143  # 128 + SIGTERM: retried by Kubeflow's ExitCode policy, Batch, SageMaker


def command(out_dir, *flags):
    cmd = [TRAINRUN, "--nproc-per-node", "2", *flags, CONFIG]
    for s in JOB + [f"output.dir={out_dir}", f"checkpoint.uri={out_dir}_ckpt"]:
        cmd += ["--set", s]
    return cmd


def environment(imds_url=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_EC2_METADATA")}
    if imds_url:
        env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = imds_url
    else:
        env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


class FakeImds:
    """IMDSv2 on 127.0.0.1: a session token, then spot/instance-action (404 until announce())
    and a rebalance recommendation that is never there. Records every request."""

    def __init__(self):
        self.notice = None
        self.requests = []
        imds = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body=b""):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self):
                imds.requests.append(("PUT", self.path, dict(self.headers)))
                if (self.path == "/latest/api/token"
                        and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")):
                    self.reply(200, b"fake-token")
                else:
                    self.reply(400)

            def do_GET(self):
                imds.requests.append(("GET", self.path, dict(self.headers)))
                if self.headers.get("X-aws-ec2-metadata-token") != "fake-token":
                    self.reply(401)
                elif self.path == "/latest/meta-data/spot/instance-action" and imds.notice:
                    self.reply(200, json.dumps(imds.notice).encode())
                else:
                    self.reply(404)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def announce(self, seconds_ahead):
        """A spot interruption `seconds_ahead` from now (IMDS gives whole seconds); its time."""
        deadline = int(time.time()) + seconds_ahead
        self.notice = {"action": "terminate",
                       "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(deadline))}
        return deadline

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Run:
    """A launcher whose stdout and stderr are read on threads, line by line."""

    def __init__(self, cmd, env):
        self.start = time.time()
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.out, self.err = [], []
        self.readers = [threading.Thread(target=self._read, args=(s, l), daemon=True)
                        for s, l in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self.readers:
            t.start()

    @staticmethod
    def _read(stream, lines):
        for line in stream:
            lines.append(line.rstrip("\n"))

    def wait_for(self, pattern, timeout=60):
        """The first stdout match of `pattern`; fails when the run ends or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.out):
                m = re.search(pattern, line)
                if m:
                    return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"no line matching {pattern!r}:\n" + self.log())

    def finish(self, timeout=120):
        self.proc.wait(timeout=timeout)
        self.end = time.time()
        for t in self.readers:
            t.join(timeout=10)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode

    def log(self):
        return "\n".join(self.out + self.err)


def step_folders(ckpt):
    run_dir = os.path.join(ckpt, "preempt-job")
    return sorted(d for d in os.listdir(run_dir) if d.startswith("step-"))


class Preemption(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="trainrun_preempt_")
        p = subprocess.run(command(f"{cls.tmp}/ref"), cwd=REPO, capture_output=True, text=True,
                           timeout=300, env=environment())
        assert p.returncode == 0, p.stdout + p.stderr
        cls.ref = params(f"{cls.tmp}/ref")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def assert_emergency_checkpoint(self, run, out, deadline, reason):
        """Exit 143, the summary names `reason` and the step, the step's manifest was written
        before `deadline` (unix seconds), no outputs; returns the step."""
        log = run.log()
        self.assertEqual(run.proc.returncode, EXIT_PREEMPTED, log)
        summary = [l for l in run.err if l.startswith("trainrun: preempted")]
        self.assertEqual(len(summary), 1, log)
        self.assertTrue(summary[0].startswith(f"trainrun: preempted ({reason}); emergency "
                                              "checkpoint committed at step "), summary[0])
        self.assertTrue(summary[0].endswith("; stopped 2 ranks"), summary[0])
        step = int(OUTCOME.search(summary[0]).group(1))
        self.assertLess(step, STEPS)
        self.assertNotEqual(step % 1000, 0, "the emergency checkpoint is a periodic one")
        manifest = os.path.join(f"{out}_ckpt", "preempt-job", f"step-{step:08d}", "manifest.pb")
        self.assertTrue(os.path.exists(manifest), log)
        self.assertLess(os.path.getmtime(manifest), deadline, "committed after the deadline")
        self.assertLess(run.end, deadline, "the launcher outlived the deadline")
        self.assertFalse(os.path.exists(f"{out}/metrics.json"))
        m = OUTCOME.search(summary[0])
        print(f"\n{self.id().split('.')[-1]}: stopped at step {step}, save {m.group(2)} s, "
              f"committed {deadline - os.path.getmtime(manifest):.1f} s before the deadline, "
              f"launcher exited {run.end - self.notice_at:.2f} s after the notice", flush=True)
        return step

    def assert_resumes_exactly(self, out, step):
        p = subprocess.run(command(out), cwd=REPO, capture_output=True, text=True, timeout=300,
                           env=environment())
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        m = RESUMED.search(p.stdout)
        self.assertIsNotNone(m, p.stdout)
        self.assertEqual(int(m.group(2)), step)
        got = params(out)
        for k in self.ref:
            self.assertTrue(torch.equal(self.ref[k], got[k]), k)

    def test_spot_notice_saves_before_the_deadline_and_resumes_bit_for_bit(self):
        imds = FakeImds()
        self.addCleanup(imds.close)
        out = f"{self.tmp}/spot"
        run = Run(command(out), environment(imds.url))
        run.wait_for(STEP_LINE.pattern)  # training runs; only now does the notice appear
        self.notice_at = time.time()
        deadline = imds.announce(20)
        run.finish(timeout=60)
        when = imds.notice["time"]
        self.assertIn(f"trainrun: spot interruption notice: terminate at {when}; stopping 2 "
                      "rank(s)", run.log())
        step = self.assert_emergency_checkpoint(
            run, out, deadline, f"spot interruption notice: terminate at {when}")
        # IMDSv2: every GET carried the session token of a PUT.
        self.assertEqual(imds.requests[0][:2], ("PUT", "/latest/api/token"))
        self.assertTrue(any(r[1] == "/latest/meta-data/spot/instance-action"
                            for r in imds.requests if r[0] == "GET"))
        self.assert_resumes_exactly(out, step)

    def test_sigterm_saves_within_the_grace_period_and_resumes_bit_for_bit(self):
        out = f"{self.tmp}/sigterm"
        run = Run(command(out, "--grace-period", "30"), environment())
        run.wait_for(STEP_LINE.pattern)
        self.notice_at = time.time()
        run.proc.send_signal(signal.SIGTERM)
        run.finish(timeout=60)
        step = self.assert_emergency_checkpoint(run, out, self.notice_at + 30, "SIGTERM")
        self.assert_resumes_exactly(out, step)

    def test_deadline_too_short_for_the_measured_save_is_one_warning(self):
        out = f"{self.tmp}/short"
        run = Run(command(out, "--grace-period", "1"), environment())
        run.wait_for(r"checkpoint step=1000 committed=")  # a save is measured
        run.proc.send_signal(signal.SIGTERM)
        run.finish(timeout=60)
        log = run.log()
        self.assertEqual(run.proc.returncode, EXIT_PREEMPTED, log)
        warning = re.compile(r"^\[rank 0\] trainrun: warning: not saving an emergency "
                             r"checkpoint: the last save took [\d.]+ s and [\d.]+ s are left "
                             r"before the deadline; the run resumes from step 1000$")
        self.assertEqual(len([l for l in run.err if warning.match(l)]), 1, log)
        summary = [l for l in run.err if l.startswith("trainrun: preempted (SIGTERM); ")]
        self.assertEqual(len(summary), 1, log)
        self.assertIn("no emergency checkpoint: the last save took", summary[0])
        self.assertNotIn("needed SIGKILL", summary[0])
        # Nothing torn: every step folder is committed, and none was started after 1000.
        folders = step_folders(f"{out}_ckpt")
        self.assertEqual(folders[-1], "step-00001000", folders)
        for d in folders:
            self.assertTrue(os.path.exists(f"{out}_ckpt/preempt-job/{d}/manifest.pb"), d)
        print(f"\n{self.id().split('.')[-1]}: {summary[0]}", flush=True)


class TwoNodePreemption(unittest.TestCase):
    """Every node leaving at once (a stopped SageMaker job, a reclaimed fleet): the state exists
    nowhere else, so the nodes' ranks agree on one step and commit one emergency checkpoint."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="trainrun_preempt2_")
        self.addCleanup(shutil.rmtree, self.tmp)

    def nodes(self, port, out, *flags):
        env = dict(environment(), TRAINRUN_RDZV_TOKEN="preempt-test", OMP_NUM_THREADS="1")
        runs = []
        for n in range(2):
            cmd = [TRAINRUN, "--nproc-per-node", "2", "--nnodes", "2", "--node-rank", str(n),
                   "--rdzv-endpoint", f"127.0.0.1:{port}", "--local-addr", "127.0.0.1", *flags,
                   CONFIG]
            for s in JOB + ["train.steps=3000", f"output.dir={out}",
                            f"checkpoint.uri={out}_ckpt"]:
                cmd += ["--set", s]
            runs.append(Run(cmd, env))
        return runs

    def test_both_nodes_sigtermed_save_one_checkpoint_and_resume_from_it(self):
        port = free_port()
        out = f"{self.tmp}/job"
        runs = self.nodes(port, out, "--grace-period", "30")
        try:
            runs[0].wait_for(STEP_LINE.pattern)
            notice_at = time.time()
            runs[1].proc.send_signal(signal.SIGTERM)  # the fleet's notices, 0.3 s apart
            time.sleep(0.3)
            runs[0].proc.send_signal(signal.SIGTERM)
            codes = [r.finish(timeout=60) for r in runs]
        finally:
            for r in runs:
                if r.proc.poll() is None:
                    r.proc.kill()
        log = runs[0].log() + "\n---- node 1:\n" + runs[1].log()
        self.assertEqual(codes, [EXIT_PREEMPTED, EXIT_PREEMPTED], log)
        summary = [l for l in runs[0].err if l.startswith("trainrun: preempted (SIGTERM); ")]
        self.assertEqual(len(summary), 1, log)
        m = OUTCOME.search(summary[0])
        self.assertIsNotNone(m, log)
        step = int(m.group(1))
        self.assertNotEqual(step % 1000, 0, "the emergency checkpoint is a periodic one")
        manifest = os.path.join(f"{out}_ckpt", "preempt-job", f"step-{step:08d}", "manifest.pb")
        self.assertTrue(os.path.exists(manifest), log)
        self.assertLess(os.path.getmtime(manifest), notice_at + 30)
        print(f"\ntwo nodes SIGTERMed: emergency checkpoint at step {step}, committed "
              f"{os.path.getmtime(manifest) - notice_at:.1f} s after the first notice", flush=True)
        # The same commands resume from it and finish.
        runs = self.nodes(port, out)
        codes = [r.finish(timeout=240) for r in runs]
        log = runs[0].log() + "\n---- node 1:\n" + runs[1].log()
        self.assertEqual(codes, [0, 0], log)
        m = RESUMED.search("\n".join(runs[0].out))
        self.assertIsNotNone(m, log)
        self.assertEqual(int(m.group(2)), step)


if __name__ == "__main__":
    unittest.main(verbosity=2)
