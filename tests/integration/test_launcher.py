#!/usr/bin/env python3
"""Integration tests of the `trainrun` launcher: env, output prefixes, failure stops, signals, orphans.

Runs build/trainrun with `-- sh -c '...'` workers. TRAINRUN_BIN_DIR names the build tree
(ctest sets it); default: <repo>/build. Stdlib only.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../support"))
from harness import TRAINRUN, alive, free_port  # noqa: E402

# Slack for launcher start-up (loading LibTorch takes ~1 s on a busy machine) and teardown.
SLACK_S = 4.0


def wait_dead(pids, timeout=2.0):
    """The pids still alive after `timeout` (SIGKILL delivery is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in pids if alive(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def launcher_lines(stderr):
    return [l for l in stderr.splitlines() if l.startswith("trainrun:")]


# Each rank records its shell's pid, a background child's pid and a grandchild's pid.
RECORD_PIDS = (
    'echo $$ > "$D/rank$RANK.pid"; '
    'sleep 1000 & echo $! > "$D/child$RANK.pid"; '
    "sh -c 'echo $$ > \"$D/grandchild$RANK.pid\"; exec sleep 1000' & "
    'while [ ! -s "$D/grandchild$RANK.pid" ]; do sleep 0.01; done; '
)


class LauncherTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="trainrun-launcher-test-")
        self.dir = self.tmp.name

    def tearDown(self):
        # Never leave our own debris behind, even when a test failed.
        for pid in self.recorded_pids():
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.tmp.cleanup()

    def recorded_pids(self):
        pids = []
        for name in os.listdir(self.dir):
            if name.endswith(".pid"):
                with open(os.path.join(self.dir, name)) as f:
                    text = f.read().strip()
                if text:
                    pids.append(int(text))
        return pids

    def wait_for_pid_files(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.recorded_pids()) >= count:
                return
            time.sleep(0.05)
        self.fail(f"workers did not start: {os.listdir(self.dir)}")

    def command_argv(self, argv, nproc=2, flags=()):
        return [TRAINRUN, "--nproc-per-node", str(nproc), "--master-port",
                str(free_port("0.0.0.0")), *flags, "--", *argv]

    def command(self, script, nproc=2, flags=()):
        return self.command_argv(["sh", "-c", script], nproc, flags)

    def run_launcher(self, args, timeout=30, env=None):
        full_env = dict(os.environ, D=self.dir, **(env or {}))
        start = time.monotonic()
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=full_env)
        return proc, time.monotonic() - start

    # --- the per-rank contract -------------------------------------------------------------

    def test_env_vars_per_rank(self):
        port = free_port("0.0.0.0")
        script = ('echo "R=$RANK L=$LOCAL_RANK W=$WORLD_SIZE LW=$LOCAL_WORLD_SIZE G=$GROUP_RANK '
                  'A=$MASTER_ADDR P=$MASTER_PORT OMP=$OMP_NUM_THREADS"')
        env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
        env["RANK"] = "99"  # inherited rank variables must be replaced
        proc = subprocess.run([TRAINRUN, "--nproc_per_node=2", f"--master_port={port}", "--",
                               "sh", "-c", script], capture_output=True, text=True, timeout=30,
                              env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        omp = max(1, len(os.sched_getaffinity(0)) // 2)
        for rank in (0, 1):
            self.assertIn(f"[rank {rank}] R={rank} L={rank} W=2 LW=2 G=0 A=127.0.0.1 P={port} "
                          f"OMP={omp}", proc.stdout.splitlines())
        # A user's OMP_NUM_THREADS is kept.
        proc, _ = self.run_launcher(self.command('echo "OMP=$OMP_NUM_THREADS"', nproc=1),
                                    env={"OMP_NUM_THREADS": "7"})
        self.assertEqual(proc.stdout, "[rank 0] OMP=7\n")

    def test_output_prefixed_per_stream_whole_lines(self):
        # 2 ranks x 400 lines of 300 bytes, written as fast as awk can, on both streams.
        script = ("awk -v r=$RANK 'BEGIN { pad = sprintf(\"%0300d\", 0); "
                  "for (i = 0; i < 400; i++) { printf \"out%s-%d-%s\\n\", r, i, pad; "
                  "printf \"err%s-%d-%s\\n\", r, i, pad > \"/dev/stderr\" } }'; "
                  "printf 'no newline at the end'")
        proc, _ = self.run_launcher(self.command(script))
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        for stream, text in (("out", proc.stdout), ("err", proc.stderr)):
            seen = {0: [], 1: []}
            for line in text.splitlines():
                if line.startswith("trainrun:"):
                    continue
                m = re.fullmatch(r"\[rank (\d)\] (?:%s(\d)-(\d+)-0{300}|no newline at the end)"
                                 % stream, line)
                self.assertIsNotNone(m, f"mangled {stream} line: {line[:120]!r}")
                rank = int(m.group(1))
                if m.group(2) is not None:
                    self.assertEqual(int(m.group(2)), rank)
                    seen[rank].append(int(m.group(3)))
            for rank in (0, 1):
                self.assertEqual(seen[rank], list(range(400)), f"{stream} rank {rank}")
        for rank in (0, 1):
            self.assertIn(f"[rank {rank}] no newline at the end", proc.stdout.splitlines())

    def test_torchrun_log_flags(self):
        # --tee 3 with --local-ranks-filter 0: each rank's lines in its own files (unprefixed),
        # rank 0's alone on the console, in torchrun's layout under --log-dir.
        logs = os.path.join(self.dir, "logs")
        script = 'echo "out $RANK"; echo "err $RANK" >&2'
        proc, _ = self.run_launcher(self.command(script, flags=[
            "--log-dir", logs, "--tee", "3", "--local-ranks-filter", "0", "--rdzv-id", "job5"]))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout, "[rank 0] out 0\n")
        (run_dir,) = os.listdir(logs)
        self.assertTrue(run_dir.startswith("job5_"), run_dir)
        self.assertEqual(launcher_lines(proc.stderr), [f"trainrun: rank logs in {logs}/{run_dir}"])
        self.assertEqual([l for l in proc.stderr.splitlines() if not l.startswith("trainrun:")],
                         ["[rank 0] err 0"])

        def read(run, rank, stream):
            with open(os.path.join(logs, run, "attempt_0", str(rank), stream + ".log")) as f:
                return f.read()
        for rank in (0, 1):
            self.assertEqual(read(run_dir, rank, "stdout"), f"out {rank}\n")
            self.assertEqual(read(run_dir, rank, "stderr"), f"err {rank}\n")
        # -r 0:1: rank 0's stdout goes to its file only; rank 1 keeps the console and no file.
        proc, _ = self.run_launcher(self.command(script, flags=["--log-dir", logs, "-r", "0:1"]))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout, "[rank 1] out 1\n")
        self.assertEqual(sorted(l for l in proc.stderr.splitlines() if l.startswith("[rank")),
                         ["[rank 0] err 0", "[rank 1] err 1"])
        (second,) = set(os.listdir(logs)) - {run_dir}  # a fresh folder for each run
        self.assertEqual(read(second, 0, "stdout"), "out 0\n")
        # Rank 1's folder holds no log (only its error file, if it had failed).
        self.assertEqual(os.listdir(os.path.join(logs, second, "attempt_0", "1")), [])
        # A bad choice is one line and exit 2, before any folder is made.
        unused = os.path.join(self.dir, "unused")
        proc, _ = self.run_launcher(self.command(script, flags=["--log-dir", unused, "-t", "4"]))
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(len(proc.stderr.strip().splitlines()), 1, proc.stderr)
        self.assertIn("--tee '4' is not a stream choice", proc.stderr)
        self.assertFalse(os.path.exists(unused))

    def test_a_python_ranks_recorded_error_is_in_the_failure_line(self):
        # torchrun's TORCHELASTIC_ERROR_FILE: PyTorch's @record writes the uncaught exception
        # there, and the launcher's failure line quotes it (and names the file it keeps).
        script = ("from torch.distributed.elastic.multiprocessing.errors import record\n"
                  "@record\n"
                  "def main():\n"
                  "    raise ValueError('bad batch 7')\n"
                  "main()\n")
        logs = os.path.join(self.dir, "logs")
        proc, _ = self.run_launcher(self.command_argv([sys.executable, "-c", script], nproc=1,
                                                      flags=["--log-dir", logs, "-r", "3"]),
                                    timeout=60)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        (run_dir,) = os.listdir(logs)
        error_file = os.path.join(logs, run_dir, "attempt_0", "0", "error.json")
        self.assertEqual(launcher_lines(proc.stderr)[-1],
                         "trainrun: rank 0 failed first: exit code 1: ValueError: bad batch 7 "
                         f"(its traceback: {error_file})")
        with open(os.path.join(logs, run_dir, "attempt_0", "0", "stderr.log")) as f:
            self.assertIn("ValueError: bad batch 7", f.read())  # Python's own traceback
        # Without a kept log the error file is private and removed; the line still quotes it.
        proc, _ = self.run_launcher(self.command_argv([sys.executable, "-c", script], nproc=1),
                                    timeout=60)
        self.assertEqual(launcher_lines(proc.stderr)[-1],
                         "trainrun: rank 0 failed first: exit code 1: ValueError: bad batch 7")

    def test_torchrun_script_form(self):
        # `trainrun --nproc-per-node 2 train.py --lr 0.1` runs python3 -u train.py --lr 0.1 on
        # each rank, as torchrun does ($PYTHON_EXEC picks the python).
        script = os.path.join(self.dir, "train.py")
        with open(script, "w") as f:
            f.write("import os, sys\nprint(os.environ['RANK'], sys.argv[1:], sys.stdout.write_through)\n")
        proc, _ = self.run_launcher([TRAINRUN, "--nproc-per-node", "2", "--master-port",
                                     str(free_port("0.0.0.0")), script, "--lr", "0.1", "-m",
                                     "--help"],
                                    env={"PYTHON_EXEC": sys.executable})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(sorted(proc.stdout.splitlines()),
                         ["[rank 0] 0 ['--lr', '0.1', '-m', '--help'] True",
                          "[rank 1] 1 ['--lr', '0.1', '-m', '--help'] True"])

    # --- failures stop the run -------------------------------------------------------------

    def test_failing_rank_stops_others_and_sets_exit_code(self):
        script = ('i=0; while true; do echo "step=$i"; '
                  'if [ "$RANK" = 1 ] && [ $i = 5 ]; then echo "boom" >&2; exit 3; fi; '
                  'i=$((i+1)); sleep 0.05; done')
        proc, elapsed = self.run_launcher(self.command(RECORD_PIDS + script))
        self.assertEqual(proc.returncode, 3, proc.stderr)
        self.assertLess(elapsed, 1.0 + SLACK_S, "the surviving rank was not stopped promptly")
        stdout = proc.stdout.splitlines()
        for i in range(6):
            self.assertIn(f"[rank 1] step={i}", stdout)
        self.assertIn("[rank 1] boom", proc.stderr.splitlines())
        self.assertEqual(launcher_lines(proc.stderr),
                         ["trainrun: rank 1 failed first: exit code 3 (stopped 1 other rank)"])
        self.assertEqual(proc.stderr.splitlines()[-1], launcher_lines(proc.stderr)[0])
        self.assertEqual(len(self.recorded_pids()), 6)
        self.assertEqual(wait_dead(self.recorded_pids()), [], "processes of the run survived")

    def test_rank_killed_by_sigkill_is_reported_as_likely_oom(self):
        script = 'if [ "$RANK" = 0 ]; then sleep 0.2; kill -KILL $$; fi; sleep 30'
        proc, elapsed = self.run_launcher(self.command(script))
        self.assertEqual(proc.returncode, 128 + signal.SIGKILL, proc.stderr)
        self.assertLess(elapsed, 0.2 + SLACK_S)
        lines = launcher_lines(proc.stderr)
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertTrue(lines[0].startswith("trainrun: rank 0 failed first: killed by SIGKILL"),
                        lines[0])
        self.assertIn("out-of-memory", lines[0])
        self.assertIn("stopped 1 other rank", lines[0])

    def test_rank_ignoring_sigterm_is_killed_after_grace_period(self):
        script = ('if [ "$RANK" = 1 ]; then sleep 0.3; exit 1; fi; '
                  "trap '' TERM; while true; do sleep 0.1; done")
        proc, elapsed = self.run_launcher(
            self.command(RECORD_PIDS + script, flags=("--grace-period", "1")))
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertGreaterEqual(elapsed, 1.3, "SIGKILL came before the grace period ended")
        self.assertLess(elapsed, 1.3 + SLACK_S, "SIGKILL did not come after the grace period")
        self.assertEqual(launcher_lines(proc.stderr), [
            "trainrun: rank 1 failed first: exit code 1 (stopped 1 other rank; "
            "1 needed SIGKILL after the 1 s grace period)"])
        self.assertEqual(wait_dead(self.recorded_pids()), [], "processes of the run survived")

    def test_successful_run_leaves_no_descendants(self):
        proc, _ = self.run_launcher(self.command(RECORD_PIDS + "echo done"))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(launcher_lines(proc.stderr), [])
        self.assertEqual(len(self.recorded_pids()), 6)
        self.assertEqual(wait_dead(self.recorded_pids()), [], "background children survived")

    # --- signals to the launcher -----------------------------------------------------------

    def check_signal_forwarded(self, sig):
        script = RECORD_PIDS + "while true; do sleep 0.1; done"
        launcher = subprocess.Popen(self.command(script, flags=("--grace-period", "3")),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=dict(os.environ, D=self.dir))
        try:
            self.wait_for_pid_files(6)
            start = time.monotonic()
            launcher.send_signal(sig)
            _, stderr = launcher.communicate(timeout=15)
        finally:
            if launcher.poll() is None:
                launcher.kill()
                launcher.wait()
        self.assertLess(time.monotonic() - start, 2.0, "ranks were not stopped by the signal")
        self.assertEqual(wait_dead(self.recorded_pids()), [], "processes of the run survived")
        return launcher.returncode, launcher_lines(stderr)

    def test_sigterm_to_launcher_is_a_preemption(self):
        # A preemption (exit 143, 128 + SIGTERM: retryable) even for a worker that knows nothing of it.
        code, lines = self.check_signal_forwarded(signal.SIGTERM)
        self.assertEqual(code, 143, lines)
        self.assertEqual(lines[-1], "trainrun: preempted (SIGTERM); the ranks reported no "
                                    "emergency checkpoint; stopped 2 ranks")

    def test_sigint_to_launcher_is_forwarded(self):
        code, lines = self.check_signal_forwarded(signal.SIGINT)
        self.assertEqual(code, 128 + signal.SIGINT, lines)
        self.assertEqual(lines[-1], "trainrun: received SIGINT; stopped 2 ranks")

    def test_unknown_command_is_a_rank_failure(self):
        proc, _ = self.run_launcher(self.command_argv(["no-such-command-xyz"], nproc=1))
        self.assertEqual(proc.returncode, 127, proc.stderr)
        self.assertIn("[rank 0] trainrun: cannot run 'no-such-command-xyz': command not found",
                      proc.stderr.splitlines())
        self.assertEqual(launcher_lines(proc.stderr)[-1],
                         "trainrun: rank 0 failed first: exit code 127 (command not found)")

    def test_ranks_die_with_a_sigkilled_launcher(self):
        launcher = subprocess.Popen(self.command(RECORD_PIDS + "while true; do sleep 0.1; done"),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    env=dict(os.environ, D=self.dir))
        self.wait_for_pid_files(6)
        launcher.kill()
        launcher.wait(timeout=10)
        ranks = []
        for rank in (0, 1):
            with open(os.path.join(self.dir, f"rank{rank}.pid")) as f:
                ranks.append(int(f.read()))
        # PR_SET_PDEATHSIG reaches the ranks; their own children are tearDown's to clean up.
        self.assertEqual(wait_dead(ranks), [], "ranks outlived a SIGKILLed launcher")

    # --- rendezvous ------------------------------------------------------------------------

    def test_taken_port_falls_back_to_a_free_one(self):
        with socket.socket() as blocker:
            blocker.bind(("0.0.0.0", 0))
            blocker.listen()
            taken = blocker.getsockname()[1]
            proc, _ = self.run_launcher([TRAINRUN, "--nproc-per-node", "2", "--master-port",
                                         str(taken), "--", "sh", "-c", 'echo "P=$MASTER_PORT"'])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        m = re.fullmatch(rf"trainrun: port {taken} is taken; rendezvous store at 127\.0\.0\.1:(\d+)",
                         proc.stderr.strip())
        self.assertIsNotNone(m, proc.stderr)
        port = int(m.group(1))
        self.assertNotEqual(port, taken)
        self.assertEqual(sorted(proc.stdout.splitlines()),
                         [f"[rank 0] P={port}", f"[rank 1] P={port}"])

    # --- usage and config errors: one line, exit 2, nothing spawned ------------------------

    def assert_usage_error(self, args, *needles):
        proc, _ = self.run_launcher([TRAINRUN, *args])
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertEqual(proc.stdout, "")
        lines = proc.stderr.splitlines()
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertTrue(lines[0].startswith("trainrun: error: "), lines[0])
        for needle in needles:
            self.assertIn(needle, lines[0])

    def test_bad_flags(self):
        self.assert_usage_error(["--bogus", "--", "true"], "--bogus", "--help")
        self.assert_usage_error(["--nproc-per-node", "two", "--", "true"], "--nproc-per-node")
        self.assert_usage_error(["--master-port", "70000", "--", "true"], "--master-port")
        self.assert_usage_error(["--grace-period", "-1", "--", "true"], "--grace-period")
        self.assert_usage_error(["--nnodes", "1:2", "--", "true"], "--nnodes", "needs a CONFIG")
        self.assert_usage_error(["--nproc-per-nod", "2", "--", "true"], "--nproc-per-node?")
        self.assert_usage_error(["--nproc-per-node"], "--nproc-per-node")
        self.assert_usage_error([], "CONFIG")

    def test_help(self):
        proc, _ = self.run_launcher([TRAINRUN, "--help"])
        self.assertEqual(proc.returncode, 0)
        self.assertTrue(proc.stdout.startswith("usage: trainrun"), proc.stdout)
        self.assertIn("--nproc-per-node", proc.stdout)

    def fake_worker(self):
        """A TRAINRUN_WORKER that records its arguments, so tests see whether it ran."""
        path = os.path.join(self.dir, "worker.sh")
        with open(path, "w") as f:
            f.write('#!/bin/sh\necho "$RANK $*" >> "$D/worker-ran"\necho "args: $*"\n')
        os.chmod(path, 0o755)
        return {"TRAINRUN_WORKER": path}

    def test_missing_config_file(self):
        missing = os.path.join(self.dir, "no-such-config.yaml")
        proc, _ = self.run_launcher([TRAINRUN, "--nproc-per-node", "2", missing],
                                    env=self.fake_worker())
        self.assertEqual(proc.returncode, 2, proc.stderr)
        lines = proc.stderr.splitlines()
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertTrue(lines[0].startswith("trainrun: error: "), lines[0])
        self.assertIn("no-such-config.yaml", lines[0])
        self.assertFalse(os.path.exists(os.path.join(self.dir, "worker-ran")))

    def test_config_runs_worker_with_overrides(self):
        config = os.path.join(self.dir, "job.yaml")
        with open(config, "w") as f:
            # Synthetic data: the config check must not depend on data files or the cwd.
            f.write("train:\n  steps: 5\ndata:\n  name: synthetic\n")
        env = self.fake_worker()
        proc, _ = self.run_launcher([TRAINRUN, "--nproc-per-node", "2", "--master-port",
                                     str(free_port("0.0.0.0")), config, "--set",
                                     "train.steps=7"], env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(sorted(proc.stdout.splitlines()),
                         [f"[rank {r}] args: {config} --set train.steps=7" for r in (0, 1)])
        # A bad override is caught before anything is spawned.
        os.remove(os.path.join(self.dir, "worker-ran"))
        proc, _ = self.run_launcher([TRAINRUN, config, "--set", "train.no_such_key=1"], env=env)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertEqual(len(proc.stderr.splitlines()), 1, proc.stderr)
        self.assertIn("no_such_key", proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "worker-ran")))


if __name__ == "__main__":
    if not os.access(TRAINRUN, os.X_OK):
        raise SystemExit(f"{TRAINRUN} not found: build target trainrun or set TRAINRUN_BIN_DIR")
    unittest.main(verbosity=2)
