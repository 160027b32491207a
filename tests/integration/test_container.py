#!/usr/bin/env python3
"""trainrun as a container's PID 1 (root: `unshare --pid --fork --mount-proc` gives it a PID
namespace and a /proc of its own, as `docker run` does): an orphan a rank leaves behind is reaped instead of staying a zombie
(a plain parent that waits only for its own child, the control, leaves it a zombie), SIGTERM to
PID 1 reaches the launcher (a preemption: exit 143), and the launcher's exit code comes out."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../support"))
from harness import TRAINRUN, children, state  # noqa: E402

# A rank whose helper (`sleep 0.2`) is orphaned at once (its parent shell exits without waiting
# for it); then it says so in the file named by its first argument.
ORPHANING_RANK = ["sh", "-c", 'sh -c "sleep 0.2 &"; touch "$0"; sleep 3; exit 3']
# A PID 1 that waits for its own child only, as a shell or a Python entrypoint script does.
NON_REAPING_INIT = [sys.executable, "-c",
                    "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"]


def zombies_of(pid):
    return [c for c in children(pid) if state(c) == "Z"]


@unittest.skipUnless(os.geteuid() == 0 or os.environ.get("CI"), "needs root for a PID namespace")
class Pid1(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="trainrun_pid1_")
        self.marker = os.path.join(self.tmp, "orphaned")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def wait_for_marker(self, p):
        """Until the rank has made its orphan (the launcher may take seconds to start it)."""
        deadline = time.monotonic() + 60
        while not os.path.exists(self.marker):
            self.assertIsNone(p.poll(), "the job ended before its rank ran")
            self.assertLess(time.monotonic(), deadline, "the rank never ran")
            time.sleep(0.05)
        os.remove(self.marker)
        time.sleep(1.0)  # the orphan (sleep 0.2) has exited by now

    def start(self, *cmd):
        p = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", *cmd],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 10
        while not children(p.pid):  # the namespace's PID 1, once unshare has forked it
            self.assertLess(time.monotonic(), deadline, "unshare started nothing")
            time.sleep(0.05)
        return p, children(p.pid)[0]

    def test_orphans_are_reaped_and_the_exit_code_comes_out(self):
        self.assertTrue(shutil.which("unshare"), "unshare (util-linux) is missing")
        p, init = self.start(*NON_REAPING_INIT, TRAINRUN, "--", *ORPHANING_RANK, self.marker)
        self.wait_for_marker(p)
        control = zombies_of(init)
        p.communicate(timeout=30)
        self.assertTrue(control, "the control init left no zombie: the check cannot see one")

        p, init = self.start(TRAINRUN, "--", *ORPHANING_RANK, self.marker)
        self.wait_for_marker(p)
        self.assertEqual(state(init), "S")  # alive, waiting for signals
        leftover = zombies_of(init)
        out, err = p.communicate(timeout=30)
        self.assertEqual(leftover, [], f"zombies under trainrun as PID 1: {leftover}")
        self.assertEqual(p.returncode, 3, out + err)  # the rank's code, through the launcher
        self.assertIn("rank 0 failed first: exit code 3", err)
        print(f"\ncontrol init left zombie(s) {control}; trainrun as PID 1 left none", flush=True)

    def test_sigterm_to_pid_1_reaches_the_launcher(self):
        p, init = self.start(TRAINRUN, "--grace-period", "5", "--", "sh", "-c",
                             'touch "$0"; sleep 60', self.marker)
        self.wait_for_marker(p)
        start = time.monotonic()
        os.kill(init, signal.SIGTERM)
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 143, out + err)  # a preemption, as without a namespace
        self.assertLess(time.monotonic() - start, 10, out + err)
        self.assertIn("got SIGTERM", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
