#!/usr/bin/env python3
"""Hang reports end to end: a rank frozen with SIGSTOP mid-run is named by the launcher's table
within dist.timeout_s + 10 s, the full dump holds every rank's stacks, the stuck rank is killed at
once (not after the grace period) and the run ends within dist.timeout_s + 15 s, leaving no
process and no dump folder behind; with --max-restarts the stuck rank is killed and restarted and
the run ends with the parameters of an uninterrupted one, bit for bit; a rank that does not
answer its dump request (TRAINRUN_FAULT_FREEZE) is killed at once too; a healthy run leaves
nothing. Stdlib only, but torch for the parameters."""
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../support"))
from harness import (CONFIG, DATA, REPO, STEP_LINE, TRAINRUN, children, env_of, free_port,  # noqa
                     in_group)

TIMEOUT_S = 10  # dist.timeout_s of these runs
RESTART_STEPS = 400  # the restart test's run: long enough to stop a rank a quarter through


class Pumped:
    """A launcher whose stdout and stderr are read on threads, each line with its arrival time."""

    def __init__(self, args, env):
        self.proc = subprocess.Popen([TRAINRUN] + args, cwd=REPO, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = []  # (monotonic time, stream, line)
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._read, args=(s, n), daemon=True)
                        for s, n in ((self.proc.stdout, "out"), (self.proc.stderr, "err"))]
        for t in self.threads:
            t.start()

    def _read(self, stream, name):
        for line in stream:
            with self.lock:
                self.lines.append((time.monotonic(), name, line.rstrip("\n")))

    def wait_for(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for when, _, line in self.lines:
                    if re.search(pattern, line):
                        return when, line
            if self.proc.poll() is not None and not any(t.is_alive() for t in self.threads):
                break
            time.sleep(0.05)
        return None, None

    def finish(self, timeout):
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        for t in self.threads:
            t.join(5)
        self.proc.stdout.close()
        self.proc.stderr.close()

    def stderr(self):
        with self.lock:
            return "\n".join(l for _, s, l in self.lines if s == "err")


class Hangs(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="trainrun_hangs_")
        self.addCleanup(self.tmp.cleanup)
        self.tmpdir = os.path.join(self.tmp.name, "tmp")  # the launcher's TMPDIR
        os.mkdir(self.tmpdir)
        self.env = dict(os.environ, TMPDIR=self.tmpdir)
        self.env.pop("TRAINRUN_DUMP_DIR", None)

    def args(self, *sets, nproc=2, grace=3, flags=()):
        out = os.path.join(self.tmp.name, "out")
        args = ["--nproc-per-node", str(nproc), "--grace-period", str(grace), *flags, CONFIG,
                "--set", f"data.path={DATA}", "--set", f"output.dir={out}",
                "--set", "checkpoint.uri=", "--set", f"dist.timeout_s={TIMEOUT_S}",
                "--set", "train.log_every=10"]
        for s in sets:
            args += ["--set", s]
        return args

    def test_a_stopped_rank_is_named_with_the_stacks_then_killed_at_once(self):
        # 3 ranks and torchrun's grace period: the stopped rank cannot use it, so it is not given it.
        run = Pumped(self.args("train.epochs=100000", nproc=3, grace=120), self.env)
        stopped = None
        try:
            when, _ = run.wait_for(STEP_LINE.pattern, 60)
            self.assertIsNotNone(when, "training never started:\n" + run.stderr())
            workers = children(run.proc.pid)
            self.assertEqual(len(workers), 3)
            ranks = {int(env_of(pid)["RANK"]): pid for pid in workers}
            stopped = ranks[1]
            os.kill(stopped, signal.SIGSTOP)
            t0 = time.monotonic()
            when, headline = run.wait_for(r"^trainrun: rank 1 \(node 0\) did not join ",
                                          TIMEOUT_S + 10 + 5)
            self.assertIsNotNone(headline, "no hang report naming rank 1:\n" + run.stderr())
            took = when - t0
            print(f"\nSIGSTOP to the report naming rank 1: {took:.1f} s", flush=True)
            self.assertLess(took, TIMEOUT_S + 10, run.stderr())
            run.finish(60)
            took = time.monotonic() - t0
            print(f"SIGSTOP to the launcher's exit: {took:.1f} s", flush=True)
            self.assertLess(took, TIMEOUT_S + 15, run.stderr())
        finally:
            if run.proc.poll() is None:
                run.proc.kill()
            if stopped:
                try:
                    os.killpg(stopped, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        err = run.stderr()
        self.assertNotEqual(run.proc.returncode, 0, err)
        self.assertRegex(err, r"trainrun: hang: killed rank 1 \(pid %d\) with SIGKILL at once: it "
                              r"is stopped by a signal" % ranks[1])
        self.assertNotIn("needed SIGKILL after", err)
        self.assertRegex(err, r"the hang cost \d+\.\d s from the last completed collective to "
                              r"the exit")
        # The table: a header and one row per rank; rank 1's row says it is stopped.
        self.assertRegex(err, r"trainrun: +rank +node +pid +step +last seq +open collective")
        self.assertRegex(err, r"trainrun: +0 +0 +%d " % ranks[0])
        self.assertRegex(err, r"trainrun: +1 +0 +%d .*stopped by a signal" % ranks[1])
        self.assertRegex(err, r"did not join (allreduce|broadcast|allgather|barrier|collective) "
                              r"#\d+")
        # The full dump: every rank's records and stacks, gdb's for the stopped rank.
        m = re.search(r"^trainrun: full hang dump: (\S+)$", err, re.M)
        self.assertIsNotNone(m, err)
        path = m.group(1)
        self.assertTrue(path.startswith(self.tmpdir + "/"), path)
        with open(path) as f:
            dump = f.read()
        self.assertIn("===== rank 0 (pid %d" % ranks[0], dump)
        self.assertIn("===== rank 1 (pid %d, stopped by a signal)" % ranks[1], dump)
        self.assertRegex(dump, r"collective seq=\d+ op=allreduce bytes=\d+ step=\d+ state=")
        self.assertRegex(dump, r"thread tid=%d answered=1 name=" % ranks[0])
        self.assertRegex(dump, r"\n  trainrun-worker\(trainrun::[^\n]*\n")  # a named frame
        if subprocess.run(["sh", "-c", "command -v gdb"], capture_output=True).returncode == 0:
            self.assertIn("gdb, run by the launcher:", dump)
            self.assertRegex(dump, r"Thread 1 \(.*LWP %d" % ranks[1])
        # The last line names the culprit too; the folder holds the report alone.
        self.assertIn("rank 1 (node 0) did not join", err.strip().splitlines()[-1])
        self.assertIn("killed at once: rank 1 (stopped by a signal)", err.strip().splitlines()[-1])
        self.assertEqual(os.listdir(os.path.dirname(path)), ["hang-dump.txt"])
        for pid in workers:
            self.assertEqual(in_group(pid), [], f"rank process group {pid} outlived the run")

    def test_with_restarts_a_stopped_rank_is_killed_and_restarted_and_the_run_is_exact(self):
        """--max-restarts 2, 3 ranks, rank 1 stopped mid-run: one report, rank 1 killed and
        respawned, the other two keep their state; exit 0 and the parameters of an uninterrupted
        run bit for bit (the world size never changes, so neither does the reduction order)."""
        import torch
        job = ("train.steps=%d" % RESTART_STEPS, "model.hidden=[256,256]")
        ref_out = os.path.join(self.tmp.name, "ref")
        ref = Pumped(self.args(*job, f"output.dir={ref_out}", nproc=3), self.env)
        ref.finish(240)
        self.assertEqual(ref.proc.returncode, 0, ref.stderr())
        out = os.path.join(self.tmp.name, "restarted")
        run = Pumped(self.args(*job, f"output.dir={out}", nproc=3, grace=120,
                               flags=("--max-restarts", "2")), self.env)
        stopped = None
        try:
            when, _ = run.wait_for(r"^\[rank 0\] step=%d/" % (RESTART_STEPS // 4), 120)
            self.assertIsNotNone(when, "training never got going:\n" + run.stderr())
            ranks = {int(env_of(pid)["RANK"]): pid for pid in children(run.proc.pid)}
            stopped = ranks[1]
            os.kill(stopped, signal.SIGSTOP)
            t0 = time.monotonic()
            when, _ = run.wait_for(r"^trainrun: hang over: ", TIMEOUT_S + 40)
            self.assertIsNotNone(when, "the job did not step on:\n" + run.stderr())
            print(f"\nSIGSTOP to the job stepping on with a restarted rank 1: "
                  f"{when - t0:.1f} s", flush=True)
            run.finish(240)
        finally:
            if run.proc.poll() is None:
                run.proc.kill()
            if stopped:
                try:
                    os.killpg(stopped, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        err = run.stderr()
        self.assertEqual(run.proc.returncode, 0, err)
        self.assertEqual(len(re.findall(r"trainrun: +rank +node +pid +step", err)), 1, err)
        self.assertRegex(err, r"killed rank 1 \(pid %d\) with SIGKILL at once" % stopped)
        self.assertRegex(err, r"rank 1 hung \(stopped by a signal\) and was killed by the "
                              r"launcher; restarting it \(restart 1 of 2\)")
        m = re.search(r"trainrun: hang over: rank 1 was killed and restarted; the job stepped on, "
                      r"(\d+\.\d) s after its last completed collective", err)
        self.assertIsNotNone(m, err)
        for m in re.finditer(r"recovered_generation=\d+ world_size=(\d+) step=\d+ "
                             r"lost_steps=(\d+) recovery_ms=\S+", run.stderr() + "\n" +
                             "\n".join(l for _, s, l in run.lines if s == "out")):
            print(m.group(0), flush=True)
            self.assertEqual(int(m.group(1)), 3)
            self.assertLessEqual(int(m.group(2)), 1)
        a = torch.jit.load(os.path.join(ref_out, "model", "model.pt")).state_dict()
        b = torch.jit.load(os.path.join(out, "model", "model.pt")).state_dict()
        self.assertEqual(sorted(a), sorted(b))
        for k in a:
            self.assertTrue(torch.equal(a[k], b[k]), f"{k} differs from the uninterrupted run")

    def test_a_rank_that_does_not_answer_its_dump_request_is_killed_at_once(self):
        """TRAINRUN_FAULT_FREEZE=1:20: rank 1 freezes at step 20 and its dump thread with it,
        neither stopped nor in the kernel: SIGTERM would be caught and ignored, so only its
        silence says it is stuck. It is killed at once, with gdb's stacks in the dump."""
        env = dict(self.env, TRAINRUN_FAULT_FREEZE="1:20")
        run = Pumped(self.args("train.epochs=100000", grace=120), env)
        try:
            when, _ = run.wait_for(r"^\[rank 0\] step=20/", 60)
            self.assertIsNotNone(when, "training never got to step 20:\n" + run.stderr())
            t0 = when
            ranks = {int(env_of(pid)["RANK"]): pid for pid in children(run.proc.pid)}
            run.finish(TIMEOUT_S + 40)
            took = time.monotonic() - t0
            print(f"\nstep 20 to the launcher's exit: {took:.1f} s", flush=True)
        finally:
            if run.proc.poll() is None:
                run.proc.kill()
        err = run.stderr()
        self.assertNotEqual(run.proc.returncode, 0, err)
        self.assertLess(took, TIMEOUT_S + 20, err)
        self.assertRegex(err, r"trainrun: +1 +0 +%d .*running; did not answer" % ranks[1])
        self.assertRegex(err, r"killed rank 1 \(pid %d\) with SIGKILL at once: it did not answer "
                              r"its dump request" % ranks[1])
        self.assertNotIn("needed SIGKILL after", err)
        for pid in ranks.values():
            self.assertEqual(in_group(pid), [], f"rank process group {pid} outlived the run")

    def test_two_nodes_one_report_names_the_stopped_rank_of_the_other_node(self):
        """Nodes 0 and 1 on loopback, 2 ranks each; rank 3 (node 1) is stopped. The node that
        claims the hang gathers the other node's evidence through the store: one table of all
        four ranks, one full dump with every rank's section; the other node repeats the verdict."""
        port = free_port()
        nodes, tmpdirs = [], []
        for n in range(2):
            tmpdir = os.path.join(self.tmp.name, f"tmp{n}")
            os.mkdir(tmpdir)
            tmpdirs.append(tmpdir)
            env = dict(self.env, TMPDIR=tmpdir, TRAINRUN_RDZV_TOKEN="hang-test-token",
                       OMP_NUM_THREADS="1")
            args = ["--nnodes", "2", "--node-rank", str(n), "--rdzv-endpoint",
                    f"127.0.0.1:{port}", "--local-addr", "127.0.0.1"]
            nodes.append(Pumped(args + self.args("train.epochs=100000",
                                                 f"output.dir={self.tmp.name}/out{n}"), env))
        stopped = None
        try:
            when, _ = nodes[0].wait_for(STEP_LINE.pattern, 90)
            self.assertIsNotNone(when, "training never started:\n" + nodes[0].stderr() +
                                 nodes[1].stderr())
            workers = children(nodes[1].proc.pid)
            self.assertEqual(len(workers), 2)
            ranks = {int(env_of(pid)["RANK"]): pid for pid in workers}
            self.assertEqual(sorted(ranks), [2, 3])
            stopped = ranks[3]
            os.kill(stopped, signal.SIGSTOP)
            t0 = time.monotonic()
            culprit = r"rank 3 \(node 1\) did not join "
            found = [node.wait_for(r"^trainrun: " + culprit, TIMEOUT_S + 10 + 5)
                     for node in nodes]
            reporters = [n for n in range(2) if found[n][0] is not None]
            self.assertEqual(len(reporters), 1, "not exactly one node printed the table:\n" +
                             nodes[0].stderr() + "\n----\n" + nodes[1].stderr())
            took = found[reporters[0]][0] - t0
            print(f"\nSIGSTOP to node {reporters[0]}'s report naming rank 3: {took:.1f} s",
                  flush=True)
            self.assertLess(took, TIMEOUT_S + 10)
            for node in nodes:
                node.finish(90)
        finally:
            for node in nodes:
                if node.proc.poll() is None:
                    node.proc.kill()
            if stopped:
                try:
                    os.killpg(stopped, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        reporter, other = nodes[reporters[0]], nodes[1 - reporters[0]]
        err = reporter.stderr() + "\n---- the other node:\n" + other.stderr()
        # One table with all four ranks, two from each node.
        for rank, node in ((0, 0), (1, 0), (2, 1), (3, 1)):
            self.assertRegex(err, r"trainrun: +%d +%d +\d+ " % (rank, node))
        self.assertRegex(err, r"trainrun: +3 +1 +%d .*stopped by a signal" % ranks[3])
        m = re.search(r"^trainrun: full hang dump: (\S+)$", err, re.M)
        self.assertIsNotNone(m, err)
        with open(m.group(1)) as f:
            dump = f.read()
        for rank in range(4):
            self.assertIn("===== rank %d (pid " % rank, dump)
        self.assertIn("===== rank 3 (pid %d, stopped by a signal)" % ranks[3], dump)
        if subprocess.run(["sh", "-c", "command -v gdb"], capture_output=True).returncode == 0:
            self.assertRegex(dump, r"Thread 1 \(.*LWP %d" % ranks[3])
        # The other node sent its stacks there and names the same culprit; both runs failed.
        other_err = other.stderr()
        self.assertRegex(other_err, r"trainrun: hang: node %d reports: " % reporters[0])
        self.assertRegex(other_err, culprit)
        self.assertNotIn("full hang dump", other_err)
        for node in nodes:
            self.assertNotEqual(node.proc.returncode, 0)
        for pid in list(ranks.values()):
            self.assertEqual(in_group(pid), [], f"rank process group {pid} outlived the run")

    def test_a_healthy_run_leaves_no_dump_folder(self):
        run = Pumped(self.args("train.steps=30"), self.env)
        run.finish(120)
        err = run.stderr()
        self.assertEqual(run.proc.returncode, 0, err)
        self.assertNotIn("hang", err)
        self.assertEqual(os.listdir(self.tmpdir), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
