#!/usr/bin/env python3
"""The training step of a pipeline end to end. SageMaker: `trainrun train` against a fake /opt/ml
tree (TRAINRUN_FS_ROOT): hyperparameters.json typed by the schema, channels as data keys
(checked in the resolved model/config.yaml), SM_* variables over the layout, model.pt at the
root of /opt/ml/model, checkpoints in /opt/ml/checkpoints, one line in /opt/ml/output/failure
when a run fails (a bad hyperparameter before any rank starts, a rank's error after). AWS Batch
and Kubernetes: output.uri on moto_server gets model.tar.gz (read by Python's tarfile; the
model.pt in it loads and classifies the digits) and metrics.json, with static keys or with web
identity credentials from moto's STS; a bad output URI or missing credentials fail before
step 1 in one line."""
import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../support"))
from bad_location import BadLocationCase, run_bad_location  # noqa: E402
from harness import CONFIG, DATA, REPO, TRAINRUN, MotoCase, have_moto  # noqa: E402
from tables import make_tables, read_features  # noqa: E402

STEPS = "100"


def digits_tensors():
    """The 1,797 digits as (features, labels), read as trainrun's loader reads the CSV."""
    with gzip.open(DATA, "rt") as f:
        rows = [[float(v) for v in line.split(",")] for line in f if line.strip()]
    t = torch.tensor(rows)
    return t[:, :-1] / 16.0, t[:, -1].long()


def write_json(path, doc):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f)


def resolved(model_dir):
    """The resolved config.yaml as {"section.key": "value text"}."""
    out, section = {}, None
    with open(os.path.join(model_dir, "config.yaml")) as f:
        for line in f:
            line = line.split(" #")[0].rstrip()
            if not line or line.startswith("#"):
                continue
            if not line.startswith(" ") and line.endswith(":"):
                section = line[:-1]
                continue
            key, _, value = line.strip().partition(":")
            out[f"{section}.{key}" if line.startswith(" ") else key] = value.strip().strip('"')
    return out


class SageMakerFlow(unittest.TestCase):
    """`trainrun train` with a fake /opt/ml under a temporary root, as SageMaker lays it out."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="trainrun_sm_")
        self.ml = os.path.join(self.root, "opt", "ml")
        for d in ["model", "output/data", "output/tensorboard", "checkpoints", "input/data/train"]:
            os.makedirs(os.path.join(self.ml, d))
        shutil.copy(DATA, os.path.join(self.ml, "input/data/train/part-00000.csv.gz"))
        write_json(os.path.join(self.ml, "input/config/resourceconfig.json"),
                   {"current_host": "algo-1", "hosts": ["algo-1"],
                    "network_interface_name": "lo"})
        write_json(os.path.join(self.ml, "input/config/inputdataconfig.json"),
                   {"train": {"TrainingInputMode": "File", "ContentType": "text/csv"}})
        self.cwd = tempfile.mkdtemp(prefix="trainrun_sm_cwd_")  # no configs/ here: the image's

    def tearDown(self):
        shutil.rmtree(self.root)
        shutil.rmtree(self.cwd)

    def hyperparameters(self, doc):
        write_json(os.path.join(self.ml, "input/config/hyperparameters.json"), doc)

    def train(self, **env):
        full = dict(os.environ, TRAINRUN_FS_ROOT=self.root, TRAINING_JOB_NAME="sm-job-1", **env)
        for k in [k for k in full if k.startswith("SM_")]:
            if k not in env:
                del full[k]
        return subprocess.run([TRAINRUN, "train"], cwd=self.cwd, capture_output=True, text=True,
                              timeout=180, env=full)

    def failure(self):
        path = os.path.join(self.ml, "output", "failure")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return f.read()

    def test_train_runs_the_job_described_by_opt_ml(self):
        self.hyperparameters({"train.steps": STEPS, "model.hidden": "[64, 32]",
                              "checkpoint.every_steps": "50", "sagemaker_region": "\"us-east-1\"",
                              "_tuning_objective_metric": "accuracy"})
        p = self.train()
        log = p.stdout + p.stderr
        self.assertEqual(p.returncode, 0, log)
        self.assertIn(f"sagemaker: config {os.path.join(REPO, 'configs', 'digits-mlp.yaml')} "
                      "(the image's default)", log)
        model = os.path.join(self.ml, "model")
        # At the root, as SageMaker packs it into model.tar.gz.
        self.assertEqual(sorted(os.listdir(model)), ["config.yaml", "model.pt", "model_card.json"])
        cfg = resolved(model)
        self.assertEqual(cfg["data.path"], os.path.join(self.ml, "input/data/train/part-00000.csv.gz"))
        self.assertEqual(cfg["train.steps"], STEPS)
        self.assertEqual(cfg["model.hidden"], "[64, 32]")
        self.assertEqual(cfg["output.model_dir"], model)
        self.assertEqual(cfg["output.dir"], os.path.join(self.ml, "output/data"))
        self.assertEqual(cfg["output.tensorboard_dir"], os.path.join(self.ml, "output/tensorboard"))
        self.assertEqual(cfg["checkpoint.uri"], "auto")  # the shipped config names no location
        with open(os.path.join(self.ml, "output/data/metrics.json")) as f:
            metrics = json.load(f)
        self.assertEqual(metrics["run"], "sm-job-1")
        self.assertEqual(metrics["steps"], int(STEPS))
        self.assertGreater(metrics["accuracy"], 0.8)
        # Managed spot: checkpoints go to /opt/ml/checkpoints, under the job's name.
        self.assertIn("step-00000100", os.listdir(os.path.join(self.ml, "checkpoints", "sm-job-1")))
        net = torch.jit.load(os.path.join(model, "model.pt"))
        self.assertEqual(tuple(net.state_dict()["fc0.weight"].shape), (64, 64))
        self.assertIsNone(self.failure())
        # The same job again (a spot restart) resumes from /opt/ml/checkpoints.
        p = self.train()
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"resumed=\S+/opt/ml/checkpoints/sm-job-1/step-00000100")

    def test_parquet_and_csv_channels_train_a_table_and_evaluation_json_is_read_by_json_get(self):
        """The processing step's tables as channels: Parquet files for train, a CSV for
        validation, a gzip CSV for test; the pipeline's condition step reads evaluation.json."""
        tables = os.path.join(self.root, "tables")
        make_tables(tables)
        data = os.path.join(self.ml, "input/data")
        shutil.rmtree(os.path.join(data, "train"))
        shutil.copytree(os.path.join(tables, "train"), os.path.join(data, "train"))
        for channel, name in (("validation", "validation.csv"), ("test", "test.csv.gz")):
            os.makedirs(os.path.join(data, channel))
            shutil.copy(os.path.join(tables, name), os.path.join(data, channel, name))
        write_json(os.path.join(self.ml, "input/config/inputdataconfig.json"),
                   {c: {"TrainingInputMode": "File"} for c in ("train", "validation", "test")})
        self.hyperparameters({"data.name": "table", "data.label": "label", "model.hidden": "[32]",
                              "train.steps": "150", "train.global_batch_size": "64"})
        p = self.train()
        log = p.stdout + p.stderr
        self.assertEqual(p.returncode, 0, log)
        cfg = resolved(os.path.join(self.ml, "model"))
        self.assertEqual(cfg["data.path"], os.path.join(data, "train"))
        self.assertEqual(cfg["data.validation_path"], os.path.join(data, "validation"))
        self.assertEqual(cfg["data.test_path"], os.path.join(data, "test"))
        self.assertIn("model.pt", os.listdir(os.path.join(self.ml, "model")))
        with open(os.path.join(self.ml, "output/data/evaluation.json")) as f:
            evaluation = json.load(f)
        value = evaluation  # JsonGet's json_path, step by step
        for part in "multiclass_classification_metrics.accuracy.value".split("."):
            value = value[part]
        self.assertEqual(evaluation["split"], "test")
        self.assertGreaterEqual(value, 0.9, log)
        net = torch.jit.load(os.path.join(self.ml, "model", "model.pt"))
        x, y = read_features(os.path.join(tables, "test.csv.gz"))
        with torch.no_grad():
            self.assertEqual((net.predict(x).double() == y).double().mean().item(), value)
        self.assertIsNone(self.failure())

    def test_sm_variables_win_over_the_layout_and_a_config_channel_is_used(self):
        other = os.path.join(self.root, "elsewhere")
        os.makedirs(os.path.join(other, "train"))
        os.makedirs(os.path.join(other, "model"))
        shutil.copy(DATA, os.path.join(other, "train", "digits.csv.gz"))
        os.makedirs(os.path.join(self.ml, "input/data/config"))
        with open(CONFIG) as f:
            text = f.read() + "run:\n  name: from-channel\n"
        with open(os.path.join(self.ml, "input/data/config/job.yaml"), "w") as f:
            f.write(text)
        self.hyperparameters({"train.steps": "5"})
        p = self.train(SM_CHANNEL_TRAIN=os.path.join(other, "train"),
                       SM_MODEL_DIR=os.path.join(other, "model"))
        log = p.stdout + p.stderr
        self.assertEqual(p.returncode, 0, log)
        self.assertIn("(the config channel)", log)
        cfg = resolved(os.path.join(other, "model"))
        self.assertEqual(cfg["data.path"], os.path.join(other, "train", "digits.csv.gz"))
        self.assertEqual(cfg["run.name"], "from-channel")
        self.assertTrue(os.path.exists(os.path.join(other, "model", "model.pt")))
        self.assertEqual(os.listdir(os.path.join(self.ml, "model")), [])

    def test_explicit_data_path_wins_over_the_channel(self):
        self.hyperparameters({"train.steps": "5", "data.path": DATA})
        p = self.train()
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(resolved(os.path.join(self.ml, "model"))["data.path"], DATA)

    def test_a_bad_hyperparameter_fails_before_any_rank_in_one_line(self):
        for doc, parts in [({"train.stepz": "100"}, ["hyperparameter train.stepz='100'",
                                                      "unknown config key 'train.stepz'", "did you mean 'train.steps'"]),
                           ({"train.steps": "many"}, ["hyperparameter train.steps='many'"]),
                           ({"train.steps": "-3"}, ["hyperparameter train.steps='-3'"])]:
            with self.subTest(doc=doc):
                self.hyperparameters(doc)
                p = self.train()
                log = p.stdout + p.stderr
                self.assertEqual(p.returncode, 2, log)
                self.assertNotIn("[rank", log)
                errors = [l for l in log.splitlines() if "error:" in l]
                self.assertEqual(len(errors), 1, log)
                reason = self.failure()
                self.assertIsNotNone(reason, log)
                self.assertEqual(reason.count("\n"), 1, reason)  # one line
                for part in parts:
                    self.assertIn(part, reason)
                    self.assertIn(part, errors[0])

    def test_a_rank_failure_writes_the_ranks_reason(self):
        with open(os.path.join(self.ml, "input/data/train/part-00000.csv.gz"), "wb") as f:
            f.write(b"not gzip at all\n")
        self.hyperparameters({"train.steps": "5"})
        p = self.train()
        log = p.stdout + p.stderr
        self.assertNotEqual(p.returncode, 0, log)
        reason = self.failure()
        self.assertIsNotNone(reason, log)
        self.assertEqual(reason.count("\n"), 1, reason)
        self.assertIn("part-00000.csv.gz", reason)
        self.assertIn(reason.strip(), log)  # the rank's own error line
        # The launcher's last line quotes it too (the rank's TORCHELASTIC_ERROR_FILE).
        (summary,) = [l for l in p.stderr.splitlines() if " failed first: " in l]
        self.assertIn(": " + reason.strip(), summary)

    def test_a_channel_with_several_files_for_a_one_file_dataset_is_one_line(self):
        shutil.copy(DATA, os.path.join(self.ml, "input/data/train/extra.csv.gz"))
        self.hyperparameters({"train.steps": "5"})
        p = self.train()
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("channel train", self.failure())
        self.assertIn("holds 2 files", self.failure())


# Skipped only outside CI: scripts/setup.sh installs the tools, and CI must run these.
@unittest.skipUnless(have_moto() or os.environ.get("CI"),
                     "needs moto_server, aws (scripts/setup.sh installs them)")
class BatchFlow(MotoCase, BadLocationCase):
    """output.uri on moto_server: what a Batch or Kubernetes job leaves behind."""

    @classmethod
    def setUpClass(cls):
        cls.start_moto("trainrun_out_")
        cls.aws("s3", "mb", "s3://models")

    def command(self, out_dir, uri, nproc=2):
        cmd = [TRAINRUN, "--nproc-per-node", str(nproc), CONFIG]
        for s in [f"output.dir={out_dir}", f"output.uri={uri}", f"data.path={DATA}",
                  f"train.steps={STEPS}", "checkpoint.uri=", f"checkpoint.s3_endpoint={self.endpoint}"]:
            cmd += ["--set", s]
        return cmd

    def fetch(self, key):
        dst = os.path.join(self.tmp, "fetched-" + key.replace("/", "_"))
        self.aws("s3", "cp", f"s3://models/{key}", dst)
        with open(dst, "rb") as f:
            return f.read()

    def check_uploaded(self, prefix, out_dir):
        blob = self.fetch(f"{prefix}/model.tar.gz")
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            self.assertEqual(sorted(tar.getnames()), ["config.yaml", "model.pt", "model_card.json"])
            member = tar.getmember("model.pt")
            self.assertTrue(member.isfile())
            model_bytes = tar.extractfile(member).read()
        with open(os.path.join(out_dir, "model", "model.pt"), "rb") as f:
            self.assertEqual(model_bytes, f.read())
        net = torch.jit.load(io.BytesIO(model_bytes))
        x, y = digits_tensors()
        with torch.no_grad():
            accuracy = (net(x).argmax(1) == y).float().mean().item()
        self.assertGreater(accuracy, 0.85)
        with open(os.path.join(out_dir, "metrics.json"), "rb") as f:
            self.assertEqual(self.fetch(f"{prefix}/metrics.json"), f.read())
        return accuracy

    def test_output_uri_gets_model_tar_gz_and_metrics(self):
        out = os.path.join(self.tmp, "batch")
        p = subprocess.run(self.command(out, "s3://models/jobs/job-1"), cwd=REPO,
                           capture_output=True, text=True, env=self.env, timeout=180)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("uploaded model.tar.gz, evaluation.json, lineage.json, metrics.json to "
                      "s3://models/jobs/job-1", p.stdout)
        accuracy = self.check_uploaded("jobs/job-1", out)
        print(f"\nmodel.pt from model.tar.gz: accuracy {accuracy:.4f} on the 1,797 digits",
              flush=True)

    def test_a_table_job_uploads_its_artifacts_and_the_tarball_reproduces_the_test_accuracy(self):
        tables = os.path.join(self.tmp, "tables")
        make_tables(tables)
        out = os.path.join(self.tmp, "table-batch")
        cmd = [TRAINRUN, "--nproc-per-node", "2", CONFIG]
        for s in ["data.name=table", f"data.path={tables}/train", "data.label=label",
                  f"data.validation_path={tables}/validation.csv",
                  f"data.test_path={tables}/test.csv.gz", "model.hidden=[32]", "train.steps=150",
                  "train.global_batch_size=64", f"output.dir={out}",
                  "output.uri=s3://models/jobs/table-1", "checkpoint.uri=",
                  f"checkpoint.s3_endpoint={self.endpoint}"]:
            cmd += ["--set", s]
        p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=self.env,
                           timeout=240)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        evaluation = json.loads(self.fetch("jobs/table-1/evaluation.json"))
        lineage = json.loads(self.fetch("jobs/table-1/lineage.json"))
        self.assertEqual({f["role"] for f in lineage["data"]["files"]}, {"train", "validation",
                                                                          "test"})
        with tarfile.open(fileobj=io.BytesIO(self.fetch("jobs/table-1/model.tar.gz")),
                          mode="r:gz") as tar:
            net = torch.jit.load(io.BytesIO(tar.extractfile("model.pt").read()))
        x, y = read_features(os.path.join(tables, "test.csv.gz"))
        with torch.no_grad():
            accuracy = (net.predict(x).double() == y).double().mean().item()
        self.assertEqual(evaluation["split"], "test")
        self.assertEqual(accuracy, evaluation["multiclass_classification_metrics"]["accuracy"]
                         ["value"])
        print(f"\ntable job: model.pt from model.tar.gz reproduces the test accuracy {accuracy:.4f}",
              flush=True)

    def test_web_identity_credentials_from_sts(self):
        token = os.path.join(self.tmp, "token")
        with open(token, "w") as f:
            f.write("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6bWw6dHJhaW4ifQ.c2ln\n")
        env = {k: v for k, v in self.env.items() if not k.startswith("AWS_ACCESS_KEY_ID")
               and not k.startswith("AWS_SECRET_ACCESS_KEY")}
        env.update(AWS_WEB_IDENTITY_TOKEN_FILE=token,
                   AWS_ROLE_ARN="arn:aws:iam::123456789012:role/trainrun-irsa",
                   AWS_ENDPOINT_URL_STS=self.endpoint,
                   AWS_SHARED_CREDENTIALS_FILE=os.path.join(self.tmp, "no-such-credentials"))
        out = os.path.join(self.tmp, "irsa")
        p = subprocess.run(self.command(out, "s3://models/irsa"), cwd=REPO, capture_output=True,
                           text=True, env=env, timeout=180)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.check_uploaded("irsa", out)
        # The same without the token file: one line naming it, before step 1.
        env["AWS_WEB_IDENTITY_TOKEN_FILE"] = os.path.join(self.tmp, "no-such-token")
        p, seconds, errors = run_bad_location(self.command(out + "2", "s3://models/irsa2"), env)
        self.assert_fails_at_start(p, seconds, errors, "output.uri s3://models/irsa2",
                                   "web identity token file")

    def test_bad_output_uri_or_no_credentials_fail_before_step_1(self):
        out = os.path.join(self.tmp, "bad")
        p, seconds, errors = run_bad_location(self.command(out, "s3://no-such-bucket-x/p"),
                                              self.env)
        self.assert_fails_at_start(p, seconds, errors, "output.uri s3://no-such-bucket-x/p")
        env = {k: v for k, v in self.env.items() if not k.startswith("AWS_ACCESS_KEY_ID")
               and not k.startswith("AWS_SECRET_ACCESS_KEY")}
        env["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(self.tmp, "no-such-credentials")
        p, seconds, errors = run_bad_location(self.command(out, "s3://models/nocreds"), env)
        self.assert_fails_at_start(p, seconds, errors, "output.uri s3://models/nocreds",
                                   "no AWS credentials found")
        p, seconds, errors = run_bad_location(self.command(out, "s3://Bad_Bucket/x"), self.env)
        self.assert_fails_at_start(p, seconds, errors, "output.uri 's3://Bad_Bucket/x'")
        self.assertFalse(re.search(r"\[rank", p.stdout + p.stderr))  # refused by the launcher


if __name__ == "__main__":
    unittest.main(verbosity=2)
