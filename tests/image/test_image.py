#!/usr/bin/env python3
"""The training-step image, run as the platforms run it (root; CI builds the image with
docker/build_image.sh first and runs this; it never skips there). Every binary's libraries
resolve inside the image (ldd, through `buildah run`), and it holds no build or test tool;
`IMAGE train` against a fake /opt/ml (hyperparameters.json, resourceconfig.json, CSV channels)
as user 1000 on a read-only root: model.pt at the root of /opt/ml/model, evaluation.json, the
image's git revision in lineage.json; a bad hyperparameter: a short /opt/ml/output/failure;
SIGTERM during training: an emergency checkpoint under /opt/ml/checkpoints and a rerun resumes
from it; `IMAGE --nproc-per-node 2 configs/digits-mlp.yaml` trains to accuracy >= 0.95."""
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../support"))
from container import Container, image_config  # noqa: E402
from harness import REPO, STEP_LINE, children  # noqa: E402
from tables import blobs, write_csv  # noqa: E402

IMAGE = os.environ.get("TRAINRUN_IMAGE", "localhost/trainrun:cpu")
USER = 1000  # `docker run --user 1000`


def preempted_exit_code():
    """The launcher's exit code after a preemption, as core/error.h defines it."""
    with open(os.path.join(REPO, "csrc", "core", "error.h")) as f:
        return int(re.search(r"kExitPreempted = (\d+);", f.read()).group(1))


def write_json(path, doc):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f)


def chown_tree(path, uid):
    for d, dirs, files in os.walk(path):
        for name in [d] + [os.path.join(d, x) for x in dirs + files]:
            os.chown(name, uid, uid)


@unittest.skipUnless(os.geteuid() == 0 or os.environ.get("CI"), "needs root (buildah, namespaces)")
class Image(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.box = Container(IMAGE)
        cls.labels = image_config(IMAGE).get("Labels") or {}

    @classmethod
    def tearDownClass(cls):
        cls.box.close()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="trainrun_image_")
        self.addCleanup(shutil.rmtree, self.tmp)

    def opt_ml(self, hyperparameters, channels=True):
        """A fake /opt/ml as SageMaker mounts it: config files, CSV channels, empty outputs."""
        ml = os.path.join(self.tmp, "ml")
        for d in ["model", "output/data", "checkpoints"]:
            os.makedirs(os.path.join(ml, d), exist_ok=True)
        write_json(f"{ml}/input/config/hyperparameters.json", hyperparameters)
        write_json(f"{ml}/input/config/resourceconfig.json",
                   {"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "lo"})
        if channels:
            write_json(f"{ml}/input/config/inputdataconfig.json",
                       {c: {"TrainingInputMode": "File", "ContentType": "text/csv"}
                        for c in ("train", "validation", "test")})
            for seed, channel in enumerate(("train", "validation", "test"), 1):
                os.makedirs(f"{ml}/input/data/{channel}")
                write_csv(f"{ml}/input/data/{channel}/{channel}.csv",
                          blobs(1200 if channel == "train" else 300, seed))
        chown_tree(ml, USER)
        return ml

    def sagemaker(self, ml, **kw):
        """`docker run --read-only --user 1000 -v ml:/opt/ml IMAGE train`, as SageMaker runs it."""
        return self.box.start(["train"], volumes=[(ml, "/opt/ml")], user=USER,
                              env={"TRAINING_JOB_NAME": "image-job"}, **kw)

    def finish(self, p, timeout=300):
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out + err

    def test_every_library_resolves_inside_and_no_build_tool_is_there(self):
        p = self.box.buildah_run("sh", "-c", "n=0; for f in /opt/trainrun/bin/* "
                                 "/opt/trainrun/lib/*; do n=$((n+1)); ldd \"$f\" | "
                                 "grep 'not found' | sed \"s|^|$f: |\"; done; echo checked $n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("not found", p.stdout)
        checked = int(re.search(r"checked (\d+)", p.stdout).group(1))
        print(f"image {IMAGE}: ldd inside the image: {checked} binaries and libraries, every "
              "NEEDED library resolves", file=sys.stderr)
        self.assertGreaterEqual(checked, 8)  # 3 binaries + LibTorch, c10, Arrow, Parquet, ...
        for tool in ("python3", "gcc", "g++", "cmake", "nvcc", "pip", "moto_server", "ctest"):
            self.assertEqual(self.box.buildah_run("sh", "-c", f"command -v {tool}").stdout, "",
                             f"{tool} is in the runtime image")
        self.assertFalse(os.path.exists(self.box.root + "/opt/trainrun/lib/libtorch_cuda.so"),
                         "the cpu image carries LibTorch's CUDA half")
        p = self.box.run(["--help"], user=USER)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("--nproc-per-node", p.stdout)

    def test_train_against_opt_ml_writes_the_model_evaluation_and_lineage(self):
        ml = self.opt_ml({"data.name": "table", "data.label": "label", "model.hidden": "[32]",
                          "train.steps": "150", "train.global_batch_size": "64"})
        code, log = self.finish(self.sagemaker(ml))
        self.assertEqual(code, 0, log)
        self.assertIn("model.pt", os.listdir(f"{ml}/model"))  # at the root: SageMaker packs it
        with open(f"{ml}/output/data/evaluation.json") as f:
            evaluation = json.load(f)
        accuracy = evaluation["multiclass_classification_metrics"]["accuracy"]["value"]
        self.assertGreaterEqual(accuracy, 0.9, log)
        with open(f"{ml}/output/data/lineage.json") as f:
            lineage = json.load(f)
        revision = self.labels.get("org.opencontainers.image.revision")
        self.assertTrue(revision and revision != "unknown", self.labels)
        self.assertEqual(lineage["trainrun"]["git_revision"], revision)
        self.assertFalse(os.path.exists(f"{ml}/output/failure"), log)

    def test_a_bad_hyperparameter_leaves_a_short_failure_file(self):
        ml = self.opt_ml({"train.steps": "many"})
        code, log = self.finish(self.sagemaker(ml))
        self.assertNotEqual(code, 0, log)
        with open(f"{ml}/output/failure") as f:
            reason = f.read()
        self.assertEqual(reason.count("\n"), 1, reason)
        self.assertLess(len(reason), 400, reason)
        self.assertIn("train.steps", reason)
        self.assertEqual(os.listdir(f"{ml}/model"), [])

    def test_sigterm_saves_an_emergency_checkpoint_that_a_rerun_resumes(self):
        # Long enough to be training when SIGTERM comes (about 1 ms a step), no periodic save.
        job = {"train.steps": "6000", "checkpoint.every_steps": "100000", "train.log_every": "10",
               "train.eval_every": "0"}
        ml = self.opt_ml(job, channels=False)
        p = self.sagemaker(ml)
        init = None
        deadline = time.monotonic() + 120
        while init is None and time.monotonic() < deadline:  # the namespace's PID 1 (trainrun)
            kids = children(p.pid)
            init = kids[0] if kids else None
            time.sleep(0.05)
        self.assertIsNotNone(init, "unshare started nothing")
        lines = []
        while True:  # until training is under way
            line = p.stdout.readline()
            self.assertTrue(line, "the job ended before its first step: " + "".join(lines))
            lines.append(line)
            if STEP_LINE.match(line):
                break
        os.kill(init, signal.SIGTERM)
        code, rest = self.finish(p, timeout=120)
        log = "".join(lines) + rest
        self.assertEqual(code, preempted_exit_code(), log)
        step = int(re.search(r"emergency checkpoint committed at step (\d+)", log).group(1))
        self.assertIn(f"step-{step:08d}", os.listdir(f"{ml}/checkpoints/image-job"), log)
        self.assertFalse(os.path.exists(f"{ml}/output/failure"), "a preemption is no failure")
        code, log = self.finish(self.sagemaker(ml))  # the platform's retry: the same job
        self.assertEqual(code, 0, log)
        self.assertRegex(log, rf"resumed=\S*/opt/ml/checkpoints/image-job/step-0*{step}\b")

    def test_the_default_job_on_two_ranks_reaches_accuracy(self):
        runs = os.path.join(self.tmp, "runs")
        checkpoints = os.path.join(self.tmp, "checkpoints")
        for d in (runs, checkpoints):
            os.makedirs(d)
            os.chown(d, USER, USER)
        p = self.box.run(["--nproc-per-node", "2", "configs/digits-mlp.yaml"], user=USER,
                         volumes=[(runs, "/opt/trainrun/runs"),
                                  (checkpoints, "/opt/trainrun/checkpoints")])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        (run,) = os.listdir(runs)  # the config's stem and the data's hash: digits-mlp-<sha256[:8]>
        with open(os.path.join(runs, run, "metrics.json")) as f:
            metrics = json.load(f)
        self.assertEqual(metrics["world_size"], 2)
        self.assertGreaterEqual(metrics["accuracy"], 0.95)


if __name__ == "__main__":
    unittest.main(verbosity=2)
