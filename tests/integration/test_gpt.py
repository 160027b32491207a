#!/usr/bin/env python3
"""The GPT end to end through the `trainrun` launcher: configs/gpt-tiny.yaml on two ranks
learns (loss falls) and reports its device and model TFLOPS (MFU given a peak), writes a
TorchScript artifact that Python loads, GPT-2's optimizer recipe (decay on matrices, clipping)
resumes bit for bit, byte-level text trains, and a GPT with non-token data is one clear line. Reuses test_training.py's helpers."""
import glob
import json
import os
import sys
import tempfile
import time
import unittest

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../support"))
from harness import LOG_LINE, REPO, config  # noqa: E402
from harness import run_trainrun as run  # noqa: E402

CONFIG = config("gpt-tiny")


def train(out_dir, *sets):
    args = ["--nproc-per-node", "2", CONFIG, "--set", f"output.dir={out_dir}",
            "--set", f"checkpoint.uri={out_dir}_ckpt"]
    for s in sets:
        args += ["--set", s]
    p = run(args)
    if p.returncode != 0:
        raise AssertionError(f"trainrun failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def losses(stdout):
    return [float(m.group(4)) for m in map(LOG_LINE.match, stdout.splitlines()) if m]


class Gpt(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="trainrun_gpt_")
        self.addCleanup(self.tmp.cleanup)

    def out(self, name):
        return os.path.join(self.tmp.name, name)

    def test_gpt_tiny_learns_on_two_ranks_and_writes_a_loadable_artifact(self):
        start = time.monotonic()
        p = train(self.out("tiny"))
        elapsed = time.monotonic() - start
        self.assertLess(elapsed, 60, "gpt-tiny is the CPU smoke test: it must stay fast")
        loss = losses(p.stdout)
        self.assertGreater(len(loss), 3, p.stdout)
        self.assertLess(loss[-1], 0.7 * loss[0], p.stdout)
        self.assertIn("device_name=cpu cuda=none nccl=none cudnn=none precision=fp32", p.stdout)
        self.assertRegex(p.stdout, r"step=150/150 .* tflops=[\d.]+\n")  # no peak on CPU: no mfu
        model = torch.jit.load(self.out("tiny/model/model.pt"))
        names = list(model.state_dict())
        self.assertEqual(names[:2], ["wte.weight", "wpe.weight"])
        self.assertFalse(any("lm_head" in n for n in names))  # the head is tied to wte
        self.assertEqual(tuple(model(torch.zeros(3, 64, dtype=torch.long)).shape), (3, 64, 128))

    def test_mfu_against_a_given_peak(self):
        p = run(["--nproc-per-node", "1", CONFIG, "--set", f"output.dir={self.out('mfu')}",
                 "--set", "checkpoint.uri=", "--set", "train.steps=20"],
                env=dict(os.environ, TRAINRUN_PEAK_TFLOPS="0.5"))
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(self.out("mfu/metrics.json")) as f:
            m = json.load(f)
        self.assertGreater(m["tflops"], 0)
        self.assertAlmostEqual(m["mfu"], m["tflops"] / 0.5)
        self.assertRegex(p.stdout, r"step=20/20 .* tflops=\S+ mfu=\S+")

    def test_gpt2_recipe_decay_on_matrices_and_clipping_resumes_bit_for_bit(self):
        # Two optimizer groups (decay on matrices only) and clipped gradients: a run resumed
        # from its step-20 checkpoint ends where the straight run ends.
        recipe = ["optimizer.weight_decay=0.1", "optimizer.decay_params=matrices",
                  "optimizer.max_grad_norm=0.5", "train.steps=40", "checkpoint.every_steps=20"]
        p = train(self.out("straight"), *recipe)
        self.assertRegex(p.stdout, r"step=40/40 .* grad_norm=[\d.]+")
        step20 = glob.glob(self.out("straight_ckpt/*/step-00000020"))
        self.assertEqual(len(step20), 1, os.listdir(self.out("straight_ckpt")))
        p = train(self.out("resumed"), *recipe, f"resume={step20[0]}")
        self.assertRegex(p.stdout, r"resumed=\S+ step=20 ")
        straight = torch.jit.load(self.out("straight/model/model.pt")).state_dict()
        resumed = torch.jit.load(self.out("resumed/model/model.pt")).state_dict()
        for name, t in straight.items():
            self.assertTrue(torch.equal(t, resumed[name]), name)
        # The groups did differ: biases and LayerNorm weights decayed would end elsewhere.
        train(self.out("all"), *recipe, "optimizer.decay_params=all")
        everything = torch.jit.load(self.out("all/model/model.pt")).state_dict()
        self.assertFalse(torch.equal(straight["ln_f.bias"], everything["ln_f.bias"]))

    def test_byte_level_text_trains(self):
        readme = os.path.join(REPO, "README.md")
        p = train(self.out("text"), "data.name=text", f"data.path={readme}", "train.steps=20",
                  "model.block_size=32")
        self.assertTrue(losses(p.stdout), p.stdout)
        model = torch.jit.load(self.out("text/model/model.pt"))
        self.assertEqual(tuple(model(torch.zeros(1, 32, dtype=torch.long)).shape), (1, 32, 256))

    def test_gpt_with_non_token_data_is_one_line_and_exit_code_2(self):
        cases = {
            "digits": (["data.name=digits"], "needs token data"),
            "text without path": (["data.name=text"], "data.name=text needs data.path"),
            "heads": (["model.n_head=3", "model.n_embd=64"], "must be divisible by model.n_head"),
        }
        for name, (sets, needle) in cases.items():
            with self.subTest(name):
                out_dir = self.out("never_" + name.replace(" ", "_"))
                args = ["--nproc-per-node", "2", CONFIG, "--set", f"output.dir={out_dir}"]
                for s in sets:
                    args += ["--set", s]
                p = run(args)
                self.assertEqual(p.returncode, 2, p.stderr)
                err = p.stderr.strip().splitlines()
                self.assertEqual(len(err), 1, p.stderr)
                self.assertIn(needle, err[0])


if __name__ == "__main__":
    unittest.main(verbosity=2)
