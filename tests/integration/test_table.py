#!/usr/bin/env python3
"""data.name=table end to end on 2 ranks: Parquet training files in a folder with CSV
validation and gzip CSV test splits, classification and regression; the exported model.pt
takes raw features and reproduces the evaluation; bad cells and missing keys are one line;
the same tables from S3 (moto_server) are fetched once into the cache and train to the same
result."""
import csv
import gzip
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("TRAINRUN_BIN_DIR", os.path.join(REPO, "build"))
TRAINRUN = os.path.join(BIN, "trainrun")
CLASSES = [2, 5, 7]  # label values, not 0..C-1: the model must map its outputs back


def blobs(n, seed, regression=False):
    """Three features on very different scales (standardization matters) and a label."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = np.array([[0.0, 0.0, 0.0], [3.0, -3.0, 3.0], [-3.0, 3.0, 3.0]])
    z = centers[y] + rng.normal(0, 1.0, (n, 3))
    x = z * np.array([1000.0, 0.001, 1.0]) + np.array([5e4, 0.0, -20.0])
    if regression:
        label = 2.0 * z[:, 0] - z[:, 1] + 0.5 * z[:, 2] + rng.normal(0, 0.1, n)
    else:
        label = np.array(CLASSES)[y]
    return {"income": x[:, 0], "ratio": x[:, 1], "temp": x[:, 2], "label": label}


def write_parquet(path, cols):
    pq.write_table(pa.table({k: pa.array(v) for k, v in cols.items()}), path)


def write_csv(path, cols, opener=open):
    names = list(cols)
    with opener(path, "wt", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        for row in zip(*(cols[k] for k in names)):
            w.writerow([repr(float(v)) if isinstance(v, float) else v for v in row])


def split(cols, a, b):
    return {k: v[a:b] for k, v in cols.items()}


def make_tables(root, regression=False):
    """root/train/{part-0,part-1}.parquet, root/validation.csv, root/test.csv.gz."""
    train = blobs(1200, 1, regression)
    os.makedirs(f"{root}/train", exist_ok=True)
    write_parquet(f"{root}/train/part-0.parquet", split(train, 0, 700))
    write_parquet(f"{root}/train/part-1.parquet", split(train, 700, 1200))
    with open(f"{root}/train/_SUCCESS", "w"):
        pass
    write_csv(f"{root}/validation.csv", blobs(300, 2, regression))
    write_csv(f"{root}/test.csv.gz", blobs(300, 3, regression), opener=gzip.open)


def read_features(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        rows = list(csv.DictReader(f))
    x = torch.tensor([[float(r[k]) for k in ("income", "ratio", "temp")] for r in rows],
                     dtype=torch.float32)
    y = torch.tensor([float(r["label"]) for r in rows], dtype=torch.float64)
    return x, y


def run(args, env=None, timeout=240):
    return subprocess.run([TRAINRUN] + args, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env)


def table_args(out, path, validation, test, *sets, nproc=2):
    args = ["--nproc-per-node", str(nproc), os.path.join(REPO, "configs", "digits-mlp.yaml"),
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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Skipped only outside CI: scripts/setup.sh installs the tools, and CI must run these.
@unittest.skipUnless((shutil.which("moto_server") and shutil.which("aws")) or os.environ.get("CI"),
                     "needs moto_server, aws (scripts/setup.sh installs them)")
class TableFromS3(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="trainrun_table_s3_")
        port = free_port()
        cls.endpoint = f"http://127.0.0.1:{port}"
        cls.env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                       AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=cls.endpoint,
                       AWS_EC2_METADATA_DISABLED="true", TRAINRUN_CACHE_DIR=f"{cls.tmp}/cache")
        cls.env.pop("AWS_PROFILE", None)
        cls.moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                                    env=cls.env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start")
                time.sleep(0.3)

    @classmethod
    def tearDownClass(cls):
        cls.moto.terminate()
        cls.moto.wait(timeout=10)
        shutil.rmtree(cls.tmp)

    def aws(self, *args):
        return subprocess.run(["aws", "--endpoint-url", self.endpoint, *args], env=self.env,
                              capture_output=True, text=True, check=True, timeout=60)

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
