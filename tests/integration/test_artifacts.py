#!/usr/bin/env python3
"""The artifacts a pipeline's evaluate, condition and register steps read, end to end:
evaluation.json (reproduced from the exported model in Python), lineage.json, metrics.jsonl and
TensorBoard event files (read back by the `tensorboard` package's own reader), log lines against
the SageMaker metric_definitions of docs/outputs.md, retraining on changed data, and a
TorchScript model from Python trained at 1 and 2 ranks, checkpointed and resumed. Uses
tests/support/harness.py."""
import gzip
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../support"))
from harness import CONFIG, DATA, LOG_LINE, REPO, max_rel_diff, params  # noqa: E402
from harness import run_trainrun as run  # noqa: E402

SPLIT_SEED = 0x5EED5EED  # csrc/data/dataset.cpp: every run evaluates the same samples


def job(out, *sets, config=CONFIG, nproc=2, data=DATA, ok=True):
    args = ["--nproc-per-node", str(nproc), config, "--set", f"output.dir={out}",
            "--set", f"data.path={data}"]
    for s in sets:
        args += ["--set", s]
    p = run(args)
    if ok and p.returncode != 0:
        raise AssertionError(f"trainrun failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def load_json(path):
    with open(path) as f:
        return json.load(f)


def json_get(doc, path):
    """What SageMaker Pipelines' JsonGet(json_path=...) reads: dotted keys."""
    for key in path.split("."):
        doc = doc[key]
    return doc


def eval_split():
    """The digits' eval split as trainrun makes it: features scaled to [0, 1], labels."""
    with gzip.open(DATA, "rt") as f:
        rows = [list(map(float, line.split(","))) for line in f if line.strip()]
    t = torch.tensor(rows)
    x, y = t[:, :64] / 16.0, t[:, 64].long()
    n = len(rows)
    n_eval = int(n * 0.2)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    idx = perm[n - n_eval:]
    return x[idx], y[idx]


def readme_metric_definitions():
    with open(os.path.join(REPO, "docs", "outputs.md")) as f:
        text = f.read()
    m = re.search(r"<!-- metric_definitions -->\s*```json\n(.*?)```", text, re.S)
    assert m, "docs/outputs.md lacks the metric_definitions block"
    return json.loads(m.group(1))


class Artifacts(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="trainrun_artifacts_")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def out(self, name):
        return os.path.join(self.tmp, name)

    def test_evaluation_lineage_history_tensorboard_and_log_lines(self):
        out = self.out("main")
        p = job(out, "train.steps=60", "train.log_every=10", "train.eval_every=30",
                f"checkpoint.uri={out}_ckpt", "run.name=artifacts-job",
                "optimizer.max_grad_norm=5")
        stdout = p.stdout

        # evaluation.json in SageMaker's layout, reproduced from the exported model.
        ev = load_json(f"{out}/evaluation.json")
        self.assertEqual(ev["split"], "validation")
        acc = json_get(ev, "multiclass_classification_metrics.accuracy.value")
        self.assertEqual(acc, load_json(f"{out}/metrics.json")["accuracy"])
        x, y = eval_split()
        model = torch.jit.load(f"{out}/model/model.pt")
        with torch.no_grad():
            pred = model(x).argmax(1)
        self.assertEqual(ev["samples"], len(y))
        self.assertEqual(acc, (pred == y).sum().item() / len(y))  # exactly
        m = ev["multiclass_classification_metrics"]
        cm = [[m["confusion_matrix"][str(a)][str(b)] for b in range(10)] for a in range(10)]
        for a in range(10):
            for b in range(10):
                self.assertEqual(cm[a][b], ((y == a) & (pred == b)).sum().item())
        f1 = 0.0
        for c in range(10):
            tp = cm[c][c]
            prec = tp / max(1, sum(cm[a][c] for a in range(10)))
            rec = tp / max(1, sum(cm[c]))
            f1 += (2 * prec * rec / (prec + rec) if prec + rec else 0) * sum(cm[c]) / len(y)
        self.assertAlmostEqual(m["weighted_f1"]["value"], f1, places=12)
        sd = m["accuracy"]["standard_deviation"]  # bootstrap: about sqrt(p(1-p)/n)
        self.assertGreater(sd, 0.3 * math.sqrt(acc * (1 - acc) / len(y)))
        self.assertLess(sd, 3 * math.sqrt(acc * (1 - acc) / len(y)) + 1e-3)
        self.assertIn("validation", ev["splits"])

        # The model card: what goes in and out, classes, data, metrics.
        card = load_json(f"{out}/model/model_card.json")
        self.assertEqual(card["inputs"]["shape"], [None, 64])
        self.assertEqual(card["outputs"]["shape"], [None, 10])
        self.assertEqual(card["classes"], [str(c) for c in range(10)])
        self.assertEqual(card["training_data"]["validation_samples"], len(y))
        self.assertEqual(card["metrics"]["accuracy"], acc)

        # lineage.json: content hashes, build identity, world size.
        lin = load_json(f"{out}/lineage.json")
        with open(DATA, "rb") as f:
            self.assertEqual(lin["data"]["files"][0]["sha256"], hashlib.sha256(f.read()).hexdigest())
        with open(CONFIG, "rb") as f:
            self.assertEqual(lin["config"]["sha256"], hashlib.sha256(f.read()).hexdigest())
        with open(f"{out}/model/model.pt", "rb") as f:
            self.assertEqual(lin["model"]["sha256"], hashlib.sha256(f.read()).hexdigest())
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True,
                              text=True)
        if head.returncode == 0:  # a checkout: the revision the binaries were built from
            self.assertRegex(lin["trainrun"]["git_revision"], r"^[0-9a-f]{40}(-dirty)?$")
        self.assertEqual(lin["world_size"], 2)
        self.assertIsNone(lin["resumed_from"])
        self.assertEqual(lin["software"]["libtorch"].split("+")[0], torch.__version__.split("+")[0])

        # metrics.jsonl: one object per logged line.
        with open(f"{out}/metrics.jsonl") as f:
            history = [json.loads(line) for line in f]
        train_entries = [h for h in history if "train_loss" in h]
        self.assertEqual([h["step"] for h in train_entries], [10, 20, 30, 40, 50, 60])
        evals = [h for h in history if "eval_loss" in h]
        self.assertEqual([h["step"] for h in evals], [30, 60])
        self.assertAlmostEqual(evals[-1]["eval_accuracy"], acc, places=12)

        # TensorBoard's own reader sees the same curve.
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
        acc_tb = EventAccumulator(f"{out}/tensorboard")
        acc_tb.Reload()
        self.assertIn("train_loss", acc_tb.Tags()["scalars"])
        curve = acc_tb.Scalars("train_loss")
        self.assertEqual([e.step for e in curve], [10, 20, 30, 40, 50, 60])
        for e, h in zip(curve, train_entries):
            self.assertAlmostEqual(e.value, h["train_loss"], delta=1e-6 * abs(h["train_loss"]))
        self.assertEqual([e.step for e in acc_tb.Scalars("eval_accuracy")], [30, 60])

        # Log lines: step=N/TOTAL, plain decimals, and docs/outputs.md's metric_definitions.
        lines = [mm for mm in map(LOG_LINE.match, stdout.splitlines()) if mm]
        self.assertEqual([int(mm.group(1)) for mm in lines], [10, 20, 30, 40, 50, 60])
        self.assertTrue(all(mm.group(2) == "60" for mm in lines))
        self.assertEqual(float(lines[-1].group(8)), 0.0)  # eta_s at the last step
        for line in stdout.splitlines():
            self.assertNotRegex(line, r"=-?[\d.]+e[-+]?\d", "a value with an exponent")
        found = {}
        for d in readme_metric_definitions():
            values = [float(v) for v in re.findall(d["Regex"], stdout)]
            found[d["Name"]] = values
            if d["Name"].startswith("test:"):
                continue  # this data has no test split: no test_* lines
            self.assertTrue(values, f"{d['Name']}: {d['Regex']} matches nothing")
        self.assertEqual(len(found["train:loss"]), len(train_entries))
        for got, h in zip(found["train:loss"], train_entries):
            self.assertAlmostEqual(got, h["train_loss"], delta=1e-5 * h["train_loss"])
        self.assertEqual(len(found["train:grad_norm"]), len(train_entries))
        for got, h in zip(found["train:grad_norm"], train_entries):
            self.assertGreater(got, 0)
            self.assertAlmostEqual(got, h["grad_norm"], delta=1e-5 * h["grad_norm"])
        self.assertEqual(len(found["validation:accuracy"]), 2)
        self.assertAlmostEqual(found["validation:accuracy"][-1], acc, places=5)

        # The lr below 1e-4 prints in plain decimal (the cosine schedule's tail).
        p = job(self.out("tiny_lr"), "train.steps=10", "train.log_every=10", "checkpoint.uri=",
                "optimizer.lr=0.00006", "scheduler.name=constant", "scheduler.warmup_steps=0",
                nproc=1)
        self.assertIn(" lr=0.00006 ", p.stdout)

    def test_binary_and_language_model_layouts(self):
        job(self.out("bin"), "data.name=synthetic", "data.synthetic_classes=2",
            "data.synthetic_samples=512", "train.steps=20", "checkpoint.uri=", nproc=1)
        ev = load_json(self.out("bin/evaluation.json"))
        auc = json_get(ev, "binary_classification_metrics.auc.value")
        self.assertGreater(auc, 0.5)
        self.assertLessEqual(auc, 1.0)
        for key in ("accuracy", "precision", "recall", "f1", "weighted_f1"):
            self.assertIn("standard_deviation", ev["binary_classification_metrics"][key])
        p = job(self.out("lm"), "train.steps=5", "checkpoint.uri=",
                config=os.path.join(REPO, "configs", "gpt-tiny.yaml"), nproc=1)
        ev = load_json(self.out("lm/evaluation.json"))
        lm = ev["language_model_metrics"]
        self.assertAlmostEqual(lm["perplexity"]["value"], math.exp(lm["loss"]["value"]), places=9)
        self.assertAlmostEqual(lm["loss"]["value"], load_json(self.out("lm/metrics.json"))["loss"],
                               places=9)
        self.assertGreater(lm["loss"]["standard_deviation"], 0)

    def test_retraining_on_changed_data_starts_a_new_run(self):
        data_v1 = self.out("v1.csv.gz")
        shutil.copy(DATA, data_v1)
        data = self.out("digits.csv.gz")  # one path, whose content changes
        shutil.copy(data_v1, data)
        unnamed = self.out("unnamed.yaml")
        with open(CONFIG) as f:
            text = f.read()
        with open(unnamed, "w") as f:
            f.write(re.sub(r"run:\n  name: digits-mlp\n", "", text))
        ckpt = self.out("ckpt")
        common = ["train.steps=30", "train.log_every=10", "train.eval_every=0",
                  f"checkpoint.uri={ckpt}"]
        digest = hashlib.sha256()
        with open(data, "rb") as f:
            digest.update(b"data " + hashlib.sha256(f.read()).hexdigest().encode() + b"\n")
        run_v1 = "unnamed-" + digest.hexdigest()[:8]

        # Unnamed: the run name carries the data's digest.
        p = job(self.out("u1"), *common, config=unnamed, data=data)
        self.assertIn(f"run={run_v1} ", p.stdout)
        self.assertTrue(os.path.isdir(f"{ckpt}/{run_v1}"))
        p = job(self.out("u1"), *common, config=unnamed, data=data)  # unchanged: resumes
        self.assertIn(f"resumed={ckpt}/{run_v1}/step-00000030 step=30", p.stdout)
        self.assertFalse([l for l in p.stdout.splitlines() if LOG_LINE.match(l)])
        self.assertEqual(load_json(self.out("u1/lineage.json"))["resumed_from"],
                         f"{ckpt}/{run_v1}/step-00000030")
        with gzip.open(data_v1, "rt") as f:
            rows = f.readlines()
        with gzip.open(data, "wt") as f:  # new data: the first 1500 rows
            f.writelines(rows[:1500])
        p = job(self.out("u2"), *common, config=unnamed, data=data)
        self.assertNotIn("resumed=", p.stdout)
        self.assertNotIn(f"run={run_v1} ", p.stdout)
        self.assertEqual(len([l for l in p.stdout.splitlines() if LOG_LINE.match(l)]), 3)

        # Named: new data starts fresh under a name of its own and says so in one line.
        shutil.copy(data_v1, data)
        named = common + ["run.name=named"]
        job(self.out("n1"), *named, data=data)
        with gzip.open(data, "wt") as f:
            f.writelines(rows[:1500])
        p = job(self.out("n2"), *named, data=data)
        said = [l for l in p.stdout.splitlines() if "data changed since run named" in l]
        self.assertEqual(len(said), 1, p.stdout)
        fresh = re.search(r"starting fresh as run (\S+);", said[0]).group(1)
        self.assertNotIn("resumed=", p.stdout)
        self.assertEqual(len([l for l in p.stdout.splitlines() if LOG_LINE.match(l)]), 3)
        p = job(self.out("n3"), *named, data=data)  # the same new data again: resumes it
        self.assertIn(f"resumed={ckpt}/{fresh}/step-00000030 step=30", p.stdout)
        self.assertTrue(os.path.isdir(f"{ckpt}/named/step-00000030"))  # the old run stays

    def test_torchscript_model_from_python(self):
        path = self.out("net.pt")

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.body = torch.nn.Sequential(torch.nn.Linear(64, 48), torch.nn.Tanh(),
                                                torch.nn.Linear(48, 10))
                self.register_buffer("scale", torch.tensor(2.0))

            def forward(self, x):
                return self.body(x * self.scale)

        torch.manual_seed(3)
        torch.jit.script(Net()).save(path)
        initial = torch.jit.load(path).state_dict()
        common = [f"model.name=torchscript", f"model.path={path}", "scheduler.name=constant",
                  "train.eval_every=0", "run.name=ts-job"]
        job(self.out("w1"), *common, "train.steps=40", "checkpoint.uri=", nproc=1)
        p = job(self.out("w2"), *common, "train.steps=40", f"checkpoint.uri={self.out('c2')}")
        self.assertIn("model=torchscript", p.stdout)
        w1, w2 = params(self.out("w1")), params(self.out("w2"))
        self.assertEqual(sorted(w1), sorted(initial))  # the module's own names
        self.assertLessEqual(max_rel_diff(w1, w2), 1e-5)
        self.assertGreater(max_rel_diff(w1, initial), 1e-3)  # it trained
        self.assertEqual(w1["scale"].item(), 2.0)
        acc = load_json(self.out("w1/metrics.json"))["accuracy"]
        self.assertGreater(acc, 0.8)
        x, y = eval_split()
        with torch.no_grad():
            pred = torch.jit.load(self.out("w1/model/model.pt"))(x).argmax(1)
        self.assertEqual(acc, (pred == y).sum().item() / len(y))
        # Checkpointed and resumed: 20 steps, then on to 40, equal 40 in one go.
        ckpt = f"checkpoint.uri={self.out('c3')}"
        job(self.out("r1"), *common, "train.steps=20", ckpt)
        p = job(self.out("r2"), *common, "train.steps=40", ckpt)
        self.assertIn("step=20 saved_world_size=2", p.stdout)
        self.assertLessEqual(max_rel_diff(w2, params(self.out("r2"))), 1e-6)
        # A module that does not fit the data is one line, exit code 2.
        bad = self.out("bad.pt")
        torch.jit.script(torch.nn.Linear(64, 3)).save(bad)
        p = job(self.out("bad"), "model.name=torchscript", f"model.path={bad}", ok=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("returned [2, 3]; the data needs (2, 10) logits", p.stderr)
        p = job(self.out("none"), "model.name=torchscript", ok=False)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertIn("model.name=torchscript needs model.path", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
