"""Jobs whose storage location cannot work (test_checkpoint.py, test_pipeline.py): run one, and
check that it ends before step 1, in one error line, with exit code 2."""
import subprocess
import time
import unittest

from harness import REPO


def run_bad_location(cmd, env=None):
    """Runs a job whose storage cannot work; returns (process, seconds, its error lines)."""
    start = time.monotonic()
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=60)
    seconds = time.monotonic() - start
    errors = [l for l in (p.stdout + p.stderr).splitlines() if "error:" in l]
    return p, seconds, errors


class BadLocationCase(unittest.TestCase):
    def assert_fails_at_start(self, p, seconds, errors, *parts):
        """Exit code 2 in under 10 s, one error line holding `parts`, before step 1."""
        log = p.stdout + p.stderr
        self.assertEqual(p.returncode, 2, log)
        self.assertLess(seconds, 10, log)
        self.assertEqual(len(errors), 1, log)
        for part in parts:
            self.assertIn(part, errors[0])
        self.assertNotRegex(log, r"step=\d+/\d+ epoch=")  # no training step ran
        self.assertNotIn("checkpoint step=", log)
        print(f"\n{self.id().split('.')[-1]}: {seconds:.2f} s: {errors[0]}", flush=True)
