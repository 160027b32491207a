#!/usr/bin/python3
"""Checkpoint storage under faults, end to end: save + kill + resume cycles through a
fault-injecting proxy in front of moto_server (503 SlowDown, 500 InternalError, connections
cut mid-body, stalls past the client's stall timeout) at 10% and 30% of requests; every
resume is bit for bit from the newest committed checkpoint, with no "corrupt" verdict and no
fallback. And a storage outage over two save intervals: the run warns, goes on, finishes and
commits its final checkpoint."""
import os
import subprocess
import sys
import unittest

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../support"))
from fault_cycles import (COMMITTED, FAULT_ENV, SAVE_WARNING, Moto, job_command,  # noqa: E402
                          read_faults, run_cycles, temp_dir)
from fault_proxy import KINDS, FaultProxy  # noqa: E402
from harness import REPO, have_moto, params  # noqa: E402

BUCKET = "ckpt"
# During an outage every attempt fails: few, quick retries keep a failed save short.
OUTAGE_ENV = dict(FAULT_ENV, AWS_MAX_ATTEMPTS="4")


# Skipped only outside CI: scripts/setup.sh installs moto_server, and CI must run these.
@unittest.skipUnless(have_moto(aws=False) or os.environ.get("CI"),
                     "needs moto_server (scripts/setup.sh installs it)")
class StorageFaults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.cleanup = temp_dir("trainrun_faults_")
        cls.moto = Moto()
        cls.moto.create_bucket(BUCKET)
        cls.ref = {}

    @classmethod
    def tearDownClass(cls):
        cls.moto.stop()
        cls.cleanup()

    def reference(self, steps):
        """Parameters of the same job run through without faults or kills (local storage)."""
        if steps not in self.ref:
            out = f"{self.tmp}/ref-{steps}"
            p = subprocess.run(job_command(2, out, f"{out}_ckpt", steps), cwd=REPO,
                               capture_output=True, text=True, timeout=180)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.ref[steps] = params(out)
        return self.ref[steps]

    def check_cycles(self, rate, seed, kills=4, steps=100):
        out = f"{self.tmp}/out-{rate}"
        r = run_cycles(self.moto, BUCKET, f"rate-{rate}", out, rate=rate, seed=seed, kills=kills,
                       steps=steps)
        summary = {k: v for k, v in r.items() if k != "failures"}
        print(f"\nfaults at {rate:.0%}: {summary}", flush=True)
        self.assertEqual(r["failed_runs"], 0, "\n\n".join(r["failures"]))
        self.assertTrue(r["finished"], summary)
        # Every run but the last was preempted, and the next resumed from the newest commit; the
        # last may have been SIGTERMed too, as its ranks finished (then it ends 0, complete).
        self.assertEqual(r["kills"], r["runs"] - 1, summary)
        self.assertGreaterEqual(r["kills"], kills - 1, summary)
        self.assertEqual(r["resumes"], r["runs"] - 1, summary)
        self.assertEqual(r["resumed_newest"], r["resumes"], summary)
        self.assertEqual(r["fallbacks"], 0, summary)
        self.assertEqual(r["corrupt_verdicts"], 0, summary)
        # The faults happened, of every kind, on the read path too (else this proves nothing).
        stats = r["proxy"]
        for kind in KINDS:
            self.assertGreater(stats.get(f"fault:{kind}", 0), 0, (kind, stats))
        self.assertGreater(read_faults(stats), 0, stats)
        got, ref = params(out), self.reference(steps)
        for k in ref:
            self.assertTrue(torch.equal(ref[k], got[k]), k)  # bit for bit

    def test_resume_cycles_with_10_percent_faults(self):
        self.check_cycles(0.10, seed=10)

    def test_resume_cycles_with_30_percent_faults(self):
        self.check_cycles(0.30, seed=30)

    def run_through_outage(self, first_key, last_key, name, steps, *sets):
        """A 2-rank job whose storage is down from the request naming first_key until one
        names last_key; returns (process, log, proxy, output dir, bucket prefix)."""
        proxy = FaultProxy(self.moto.port).start()
        self.addCleanup(proxy.stop)
        proxy.outage_between(first_key, last_key)
        env = dict(self.moto.env, AWS_ENDPOINT_URL=proxy.url, **OUTAGE_ENV)
        out = f"{self.tmp}/{name}"
        p = subprocess.run(job_command(2, out, f"s3://{BUCKET}/{name}", steps, *sets), cwd=REPO,
                           env=env, capture_output=True, text=True, timeout=180)
        return p, p.stdout + p.stderr, proxy, out, name

    def test_outage_over_two_save_intervals_warns_and_finishes(self):
        # Down from the first request of the step-20 save until the step-40 save begins: the
        # saves of steps 20 and 30 fail after all their retries.
        p, log, proxy, out, prefix = self.run_through_outage("/step-00000020/", "/step-00000040/",
                                                             "outage", 50)
        self.assertEqual(p.returncode, 0, log)
        warnings = [l for l in log.splitlines() if SAVE_WARNING in l]
        self.assertEqual(len(warnings), 2, log)  # once per failed save, from rank 0's commit
        self.assertIn("checkpoint step 20 not", warnings[0])
        self.assertIn("checkpoint step 30 not", warnings[1])
        self.assertIn("503 SlowDown", warnings[0])
        self.assertGreater(proxy.stats().get("fault:outage", 0), 0)
        committed = [int(m.group(1)) for m in COMMITTED.finditer(log)]
        self.assertEqual(committed, [10, 40, 50], log)
        self.assertEqual(self.moto.committed_steps(BUCKET, f"{prefix}/fault-job"), [10, 40, 50])
        self.assertTrue(os.path.exists(f"{out}/metrics.json"))

    def test_outage_longer_than_the_limit_fails_the_run_with_the_reason(self):
        p, log, _, out, prefix = self.run_through_outage(
            "/step-00000020/", "/never/", "down", 100, "checkpoint.max_consecutive_failures=2")
        self.assertNotEqual(p.returncode, 0, log)
        self.assertEqual(log.count(SAVE_WARNING), 1, log)
        errors = [l for l in log.splitlines() if "error:" in l]
        self.assertTrue(errors, log)
        self.assertIn("503 SlowDown", errors[0])
        self.assertIn("2 checkpoint saves failed in a row", errors[0])
        self.assertFalse(os.path.exists(f"{out}/metrics.json"))
        # The committed checkpoint is intact and still the newest.
        self.assertEqual(self.moto.committed_steps(BUCKET, f"{prefix}/fault-job"), [10])


if __name__ == "__main__":
    unittest.main(verbosity=2)
