#!/usr/bin/env python3
"""`trainrun bench allreduce` end to end: 2 and 4 CPU ranks, every backend of the host, fp32,
fp16 and bf16: the sums are exact (#wrong 0 in the table and the JSON), the sizes go up by the
factor, busbw = algbw x 2(n-1)/n; a bad flag is one line and exit 2 before any rank starts.
Stdlib only."""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../support"))
from harness import TRAINRUN  # noqa: E402

ROW = re.compile(r"^\[rank 0\] +(\d+) +(\d+) +(float|half|bfloat16) +sum +([\d.]+) +([\d.]+) "
                 r"+([\d.]+) +(\d+) +([\d.]+) +([\d.]+) +([\d.]+) +(\d+)$")


class BenchAllreduce(unittest.TestCase):
    def run_bench(self, nproc, *flags):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "allreduce.json")
            p = subprocess.run([TRAINRUN, "bench", "allreduce", "--nproc-per-node", str(nproc),
                                *flags, "--json", out], capture_output=True, text=True,
                               timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            with open(out) as f:
                return p.stdout, json.load(f)

    def check(self, nproc, stdout, doc, backends, types, sizes):
        self.assertEqual(doc["world_size"], nproc)
        rows = doc["rows"]
        self.assertEqual(len(rows), len(backends) * len(types) * len(sizes), stdout)
        self.assertEqual({r["backend"] for r in rows}, set(backends))
        for r in rows:
            for side in ("out_of_place", "in_place"):
                self.assertEqual(r[side]["wrong"], 0, r)
                self.assertGreater(r[side]["time_us"], 0, r)
                self.assertAlmostEqual(r[side]["busbw_gbps"],
                                       r[side]["algbw_gbps"] * 2 * (nproc - 1) / nproc, places=9)
        for b in backends:
            for t in types:
                got = [r["size_bytes"] for r in rows if r["backend"] == b and r["type"] == t]
                self.assertEqual(got, sizes)
        # The table: the units line, one row per size, #wrong 0 in both halves.
        self.assertRegex(stdout, r"\(B\) +\(elements\) +\(us\) +\(GB/s\) +\(GB/s\)")
        table = [m for m in map(ROW.match, stdout.splitlines()) if m]
        self.assertEqual(len(table), len(rows), stdout)
        self.assertTrue(all(m.group(7) == "0" and m.group(11) == "0" for m in table))
        self.assertEqual(stdout.count("out of bounds values : 0 OK"), len(backends) * len(types))

    def test_two_ranks_every_type_is_exact(self):
        stdout, doc = self.run_bench(2, "-b", "8", "-e", "256K", "-f", "8", "-w", "1", "-n", "3",
                                     "-d", "all")
        self.check(2, stdout, doc, ["shm", "gloo"], ["float", "half", "bfloat16"],
                   [8, 64, 512, 4096, 32768, 262144])

    def test_four_ranks(self):
        stdout, doc = self.run_bench(4, "-b", "4K", "-e", "1M", "-f", "4", "-w", "1", "-n", "3")
        self.check(4, stdout, doc, ["shm", "gloo"], ["float"], [4096, 16384, 65536, 262144,
                                                                1048576])

    def test_a_bad_flag_is_one_line_before_any_rank_starts(self):
        p = subprocess.run([TRAINRUN, "bench", "allreduce", "--nproc-per-node", "2", "-e", "3T"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr.strip(), "trainrun: error: -e needs a size from 1 to 1G (e.g. 8, "
                         "4K, 32M, 1G), got '3T'")
        self.assertNotIn("[rank", p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
