#!/usr/bin/env python3
"""What a first user of the image meets on one host: `--version`, each command's own `--help`,
the unknown-flag line, the exit-code contract's usage error, a bad input (dist.backend: nccl
on a host without GPUs, resume from a checkpoint that does not exist, locally and in S3 on
moto_server) failing in one line before any rank starts, a rendezvous nobody answers ending
in one line that names the endpoint and the variable it came from (no c10d log lines), and a
single-host job's store listening on 127.0.0.1 only (`ss -ltn`). Stdlib only."""
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../support"))
from harness import CONFIG, DATA, REPO, TRAINRUN, MotoServer, free_port, have_moto  # noqa: E402

# Variables that would steer the launcher (a scheduler's, torchrun's) are not the test's.
STEERING = ("SLURM_", "PET_", "AWS_BATCH_", "TORCHELASTIC_", "SM_")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(STEERING) and
           k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK",
                     "TRAINING_JOB_NAME", "TRAINRUN_FS_ROOT")}
    env.update(extra)
    return env


def run(args, env=None, timeout=120):
    start = time.monotonic()
    p = subprocess.run([TRAINRUN] + args, cwd=REPO, env=env or clean_env(), capture_output=True,
                       text=True, timeout=timeout)
    return p, time.monotonic() - start


class FirstUser(unittest.TestCase):
    def assert_one_error_line(self, p, code, *needles):
        """Exit `code`, stderr exactly one `trainrun: error:` line holding every needle, and
        no rank ever started (no "[rank N]" output)."""
        self.assertEqual(p.returncode, code, p.stdout + p.stderr)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertTrue(lines[0].startswith("trainrun: error: "), lines[0])
        for n in needles:
            self.assertIn(n, lines[0])
        self.assertNotIn("[rank", p.stdout + p.stderr)
        return lines[0]

    def test_version(self):
        p, _ = run(["--version"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout.strip(), r"^trainrun \d+\.\d+\.\d+ \(git [0-9a-f]{7,}(-dirty)?"
                                           r"\)$|^trainrun \d+\.\d+\.\d+ \(git unknown\)$")

    def test_each_command_prints_its_own_help(self):
        p, _ = run(["bench", "allreduce", "--help"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("-b, --minbytes", p.stdout)
        self.assertIn("busbw", p.stdout)
        p, _ = run(["train", "--help"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("SM_NUM_GPUS", p.stdout)
        self.assertIn("/opt/ml/model", p.stdout)
        p, _ = run(["bench", "scaling", "--help"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("--nodes", p.stdout)
        p, _ = run(["--help"])
        self.assertIn("Exit status", p.stdout)

    def test_unknown_flag_is_one_sentence(self):
        p, _ = run(["--bogus", CONFIG])
        self.assert_one_error_line(p, 2, "unknown flag --bogus; run 'trainrun --help' for usage")

    def test_nccl_without_gpus_fails_before_any_rank(self):
        # CUDA_VISIBLE_DEVICES=-1 hides any GPU, so this holds on GPU hosts too.
        p, took = run(["--nproc-per-node", "2", CONFIG, "--set", f"data.path={DATA}", "--set",
                       "dist.backend=nccl"], env=clean_env(CUDA_VISIBLE_DEVICES="-1"))
        self.assert_one_error_line(p, 2, "dist.backend: nccl", "dist.backend: auto")
        self.assertLess(took, 15)

    def test_resume_from_a_local_checkpoint_that_does_not_exist(self):
        with tempfile.TemporaryDirectory(prefix="trainrun_resume_") as tmp:
            uri = os.path.join(tmp, "ckpt", "digits", "step-00000100")
            p, _ = run([CONFIG, "--set", f"data.path={DATA}", "--set", f"output.dir={tmp}/out",
                        "--set", f"resume={uri}"])
            self.assert_one_error_line(p, 2, f"no committed checkpoint at {uri}")

    @unittest.skipUnless(have_moto(aws=False) or os.environ.get("CI"),
                         "needs moto_server (scripts/setup.sh installs it)")
    def test_resume_from_an_s3_checkpoint_that_does_not_exist(self):
        with MotoServer() as moto:
            moto.create_bucket("ckpt")
            env = clean_env(AWS_ENDPOINT_URL=moto.endpoint, AWS_ACCESS_KEY_ID="test",
                            AWS_SECRET_ACCESS_KEY="test", AWS_EC2_METADATA_DISABLED="true")
            with tempfile.TemporaryDirectory(prefix="trainrun_resume_") as tmp:
                uri = "s3://ckpt/runs/digits/step-00000100"
                p, _ = run([CONFIG, "--set", f"data.path={DATA}", "--set",
                            f"output.dir={tmp}/out", "--set", f"resume={uri}"], env=env)
                self.assert_one_error_line(p, 2, f"no committed checkpoint at {uri}")

    def test_aws_region_comes_from_the_profile_or_is_one_line(self):
        with tempfile.TemporaryDirectory(prefix="trainrun_home_") as home:
            env = clean_env(HOME=home, AWS_EC2_METADATA_DISABLED="true")
            for k in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE",
                      "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
                env.pop(k, None)
            args = [CONFIG, "--set", f"data.path={DATA}", "--set", f"output.dir={home}/out",
                    "--set", "checkpoint.uri=s3://trainrun-ckpt/runs"]
            p, _ = run(args, env=env)
            self.assert_one_error_line(p, 2, "no AWS region", "set AWS_REGION",
                                       f"{home}/.aws/config (AWS_PROFILE=default)")
            # A named profile's region in ~/.aws/config is enough to get past the check (the
            # run then fails on the missing credentials, in the ranks' storage probe).
            os.makedirs(f"{home}/.aws")
            with open(f"{home}/.aws/config", "w") as f:
                f.write("[default]\nregion = us-east-1\n[profile train]\nregion = eu-west-1\n")
            p, _ = run(args + ["--set", "train.steps=1"], env=dict(env, AWS_PROFILE="train"),
                       timeout=120)
            self.assertNotIn("no AWS region", p.stderr)

    def test_unreachable_rendezvous_is_one_line_naming_its_source(self):
        port = free_port()  # nothing listens there
        cases = [
            (["--nnodes", "2", "--node-rank", "1", "--rdzv-endpoint", f"127.0.0.1:{port}"],
             clean_env(), "(--rdzv-endpoint)"),
            # Kubeflow PyTorchJob (training-operator 1.7+): only the platform's variables.
            ([], clean_env(PET_NNODES="2", PET_NODE_RANK="1", PET_NPROC_PER_NODE="1",
                           MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)),
             "(MASTER_ADDR from kubeflow)"),
        ]
        for flags, env, source in cases:
            with self.subTest(source=source):
                p, took = run(flags + ["--rdzv-conf", "timeout=3", "--", "true"], env=env)
                line = self.assert_one_error_line(
                    p, 1, f"cannot reach the rendezvous at 127.0.0.1:{port} {source} within 3 s",
                    "--rdzv-endpoint HOST:PORT")
                self.assertNotIn("socket.cpp", p.stderr)
                self.assertLess(took, 30, line)

    def test_single_host_store_listens_on_loopback_only(self):
        port = free_port()
        proc = subprocess.Popen([TRAINRUN, "--nproc-per-node", "2", "--master-port", str(port),
                                 "--", "sh", "-c", "sleep 4"], cwd=REPO, env=clean_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            listening = []
            deadline = time.monotonic() + 15
            while not listening and time.monotonic() < deadline and proc.poll() is None:
                out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True,
                                     text=True, check=True).stdout
                listening = [line.split()[3] for line in out.splitlines() if line.strip()]
                time.sleep(0.1)
            self.assertEqual(listening, [f"127.0.0.1:{port}"], "the store listens elsewhere too")
        finally:
            out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, out + err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
