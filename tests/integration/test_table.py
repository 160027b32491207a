#!/usr/bin/env python3
"""data.name=table end to end on 2 ranks: Parquet training files in a folder with CSV
validation and gzip CSV test splits, classification and regression; the exported model.pt
takes raw features and reproduces the evaluation; bad cells and missing keys are one line;
the same tables from S3 (moto_server) are fetched once into the cache and train to the same
result."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import pyarrow.parquet as pq
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../support"))
from harness import CONFIG, REPO, TRAINRUN, MotoCase, have_moto  # noqa: E402
from tables import CLASSES, blobs, make_tables, read_features, split, write_parquet  # noqa: E402



def run(args, env=None, timeout=240):
    return subprocess.run([TRAINRUN] + args, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env)


def table_args(out, path, validation, test, *sets, nproc=2):
    args = ["--nproc-per-node", str(nproc), CONFIG,
            "--set", "data.name=table", "--set", f"data.path={path}",
            "--set", f"data.validation_path={validation}", "--set", f"data.test_path={test}",
            "--set", "data.label=label", "--set", "model.hidden=[32]", "--set", "train.steps=150",
            "--set", "train.global_batch_size=64", "--set", f"output.dir={out}",
            "--set", f"checkpoint.uri={out}_ckpt", "--set", "run.name=table"]
    for s in sets:
        args += ["--set", s]
    return args


def field(stdout, name):
    m = re.findall(rf"\b{name}=([-\d.e+]+)", stdout)
    assert m, f"no {name}= in:\n{stdout}"
    return float(m[-1])


class TableTraining(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="trainrun_table_")
        self.addCleanup(shutil.rmtree, self.tmp)

    def train(self, *args, env=None):
        p = run(list(args), env=env)
        if p.returncode != 0:
            raise AssertionError(f"trainrun failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p

    def test_classification_from_parquet_and_csv_and_model_takes_raw_features(self):
        make_tables(self.tmp)
        out = f"{self.tmp}/out"
        p = self.train(*table_args(out, f"{self.tmp}/train", f"{self.tmp}/validation.csv",
                                   f"{self.tmp}/test.csv.gz"))
        self.assertIn("task=classification task_from=auto:_3_distinct_whole-number_labels "
                      "label=label features=3 classes=3 train_rows=1200 eval_rows=300 "
                      "test_rows=300 files=4", p.stdout)
        with open(f"{out}/metrics.json") as f:
            metrics = json.load(f)
        self.assertGreaterEqual(metrics["accuracy"], 0.9, p.stdout)
        self.assertGreaterEqual(metrics["test_accuracy"], 0.9, p.stdout)
        self.assertAlmostEqual(field(p.stdout, "eval_accuracy"), metrics["accuracy"], places=5)

        # model.pt takes raw rows: its argmax over the classes reproduces the evaluation.
        model = torch.jit.load(f"{out}/model/model.pt")
        self.assertEqual(model.classes.tolist(), [float(c) for c in CLASSES])
        for split, key in (("validation.csv", "accuracy"), ("test.csv.gz", "test_accuracy")):
            x, y = read_features(f"{self.tmp}/{split}")
            with torch.no_grad():
                predicted = model.predict(x)
                self.assertTrue(torch.equal(predicted, model.classes[model(x).argmax(1)]))
            accuracy = (predicted == y).double().mean().item()
            self.assertAlmostEqual(accuracy, metrics[key], places=6, msg=split)
        # Standardization is the training split's: mean of the training rows.
        train = pq.read_table(f"{self.tmp}/train").to_pydict()
        self.assertAlmostEqual(model.input_mean[0].item(), float(np.mean(train["income"])),
                               delta=0.1)

    def test_resume_keeps_the_statistics_and_other_data_is_a_new_run(self):
        make_tables(self.tmp)
        out = f"{self.tmp}/out"
        args = table_args(out, f"{self.tmp}/train", f"{self.tmp}/validation.csv",
                          f"{self.tmp}/test.csv.gz", "train.steps=40")
        self.train(*args)
        again = self.train(*args[:-2], "--set", "train.steps=60")  # resumes at step 40
        self.assertRegex(again.stdout, r"resumed=\S+ step=40 ")
        # Other training data: the data's hash is in the resume fingerprint, so the same
        # command starts a new run beside the old one instead of resuming it.
        write_parquet(f"{self.tmp}/train/part-1.parquet", split(blobs(500, 9), 0, 500))
        p = run(args[:-2] + ["--set", "train.steps=80"])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"data changed since run table's newest checkpoint .*: "
                                   r"starting fresh as run table-data-[0-9a-f]{8}")
        self.assertNotIn("resumed=", p.stdout)
        # The old run's checkpoint, named explicitly, is refused: it was trained on other data.
        old = f"{out}_ckpt/table/step-00000060"
        self.assertTrue(os.path.isdir(old), os.listdir(f"{out}_ckpt/table"))
        p = run(args[:-2] + ["--set", "train.steps=80", "--set", f"resume={old}"])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("was trained on other data", p.stdout + p.stderr)

    def test_regression_prints_mse_and_model_reproduces_it(self):
        make_tables(self.tmp, regression=True)
        out = f"{self.tmp}/reg"
        p = self.train(*table_args(out, f"{self.tmp}/train", f"{self.tmp}/validation.csv",
                                   f"{self.tmp}/test.csv.gz", "optimizer.lr=0.02"))
        self.assertIn("task=regression task_from=auto:_labels_are_not_whole_numbers", p.stdout)
        mse, rmse = field(p.stdout, "eval_mse"), field(p.stdout, "eval_rmse")
        self.assertAlmostEqual(rmse, mse ** 0.5, places=3)
        with open(f"{out}/metrics.json") as f:
            metrics = json.load(f)
        self.assertNotIn("accuracy", metrics)
        self.assertLess(metrics["mse"], 0.5, p.stdout)  # label variance is about 5.3
        model = torch.jit.load(f"{out}/model/model.pt")
        x, y = read_features(f"{self.tmp}/validation.csv")
        with torch.no_grad():
            got = ((model.predict(x).double() - y) ** 2).mean().item()
        self.assertAlmostEqual(got, metrics["mse"], delta=1e-4 * max(1.0, metrics["mse"]))

    def test_bad_cell_and_missing_label_are_one_line(self):
        make_tables(self.tmp)
        bad = f"{self.tmp}/bad.csv"
        with open(f"{self.tmp}/validation.csv") as f:
            lines = f.read().splitlines()
        lines[5] = "n/a," + lines[5].split(",", 1)[1]
        with open(bad, "w") as f:
            f.write("\n".join(lines) + "\n")
        p = run(table_args(f"{self.tmp}/o1", f"{self.tmp}/train", bad, f"{self.tmp}/test.csv.gz"))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(f"data.validation_path file '{bad}' line 6, column 'income': 'n/a' is not a "
                      "finite number (feature columns must be numeric", p.stdout + p.stderr)
        self.assertFalse(os.path.exists(f"{self.tmp}/o1/model"))

        args = table_args(f"{self.tmp}/o2", f"{self.tmp}/train", bad, bad)
        args[args.index("data.label=label")] = "data.label="
        p = run(args)
        self.assertEqual(p.returncode, 2, p.stderr)
        err = p.stderr.strip().splitlines()
        self.assertEqual(len(err), 1, p.stderr)
        self.assertIn("data.name=table needs data.label", err[0])
        self.assertNotIn("[rank", p.stdout + p.stderr)  # before any rank started


# Skipped only outside CI: scripts/setup.sh installs the tools, and CI must run these.
@unittest.skipUnless(have_moto() or os.environ.get("CI"),
                     "needs moto_server, aws (scripts/setup.sh installs them)")
class TableFromS3(MotoCase):
    @classmethod
    def setUpClass(cls):
        cls.start_moto("trainrun_table_s3_")
        cls.env["TRAINRUN_CACHE_DIR"] = f"{cls.tmp}/cache"

    def test_s3_tables_are_fetched_once_and_train_as_local_ones(self):
        local = f"{self.tmp}/local"
        make_tables(local)
        self.aws("s3", "mb", "s3://tables")
        self.aws("s3", "cp", "--recursive", local, "s3://tables/job")
        s3 = "s3://tables/job"
        out = f"{self.tmp}/s3_out"
        p = run(table_args(out, f"{s3}/train", f"{s3}/validation.csv", f"{s3}/test.csv.gz"),
                env=self.env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(f"fetched data.path={s3}/train objects=2 fetched=2 ", p.stdout)
        self.assertIn(f"fetched data.validation_path={s3}/validation.csv objects=1 fetched=1 ",
                      p.stdout)
        self.assertTrue(os.path.isdir(f"{self.tmp}/cache/s3/tables/job/train/part-0.parquet"))
        # The same files locally train to the same model (the data order follows the names).
        ref = f"{self.tmp}/local_out"
        q = run(table_args(ref, f"{local}/train", f"{local}/validation.csv",
                           f"{local}/test.csv.gz"), env=self.env)
        self.assertEqual(q.returncode, 0, q.stdout + q.stderr)
        a = torch.jit.load(f"{out}/model/model.pt").state_dict()
        b = torch.jit.load(f"{ref}/model/model.pt").state_dict()
        self.assertEqual(list(a), list(b))
        for k in a:
            self.assertTrue(torch.equal(a[k], b[k]), k)
        # Run again: every object comes from the cache.
        r = run(table_args(f"{self.tmp}/again", f"{s3}/train", f"{s3}/validation.csv",
                           f"{s3}/test.csv.gz", "resume=never"), env=self.env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"fetched data.path={s3}/train objects=2 fetched=0 ", r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
