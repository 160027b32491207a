#!/usr/bin/python3
"""Checkpoints end to end through `trainrun`: preempted runs resume bit for bit (same world
size, also through train.cuda_graph's step) or within 1e-5 (another world size); S3 checkpoints interoperate with the `aws` CLI;
an unreachable S3 endpoint or an unknown access key fails clearly and leaves the previous
checkpoint intact; broken checkpoints on S3 are skipped with the reason; a location that
cannot work (a folder that cannot be created, a missing bucket, wrong credentials, an invalid
bucket name) ends the run before step 1, in one line, with exit code 2."""
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../support"))
from bad_location import BadLocationCase, run_bad_location  # noqa: E402
from harness import (CONFIG, DATA, REPO, RESUMED, TRAINRUN, MotoCase,  # noqa: E402
                     free_port, have_moto, max_rel_diff, params, run_until_first_commit)

# A model big enough that steps take milliseconds, so a run can be stopped mid-way.
JOB = ["train.steps=100", "train.log_every=10", "train.eval_every=0", "model.hidden=[1024,1024]",
       "checkpoint.every_steps=10", f"data.path={DATA}", "run.name=ckpt-job"]


def command(nproc, out_dir, ckpt_uri, *sets):
    cmd = [TRAINRUN, "--nproc-per-node", str(nproc), "--grace-period", "5", CONFIG]
    for s in JOB + [f"output.dir={out_dir}", f"checkpoint.uri={ckpt_uri}"] + list(sets):
        cmd += ["--set", s]
    return cmd


def run(cmd, env=None, timeout=180):
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


class GraphedStepResume(unittest.TestCase):
    """train.cuda_graph's path through the Trainer, on CPU (TRAINRUN_GRAPHED_STEP_ON_CPU: the
    step runs eagerly with its learning rate and AdamW's counts on the device): it trains as the
    ordinary step does (the learning rate as fp32 instead of double is the only difference),
    and a preempted run resumes bit for bit, so checkpoints hold the counts from the device."""
    SETS = ["train.cuda_graph=true", "optimizer.name=adamw", "optimizer.lr=0.001"]

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="trainrun_graphed_")
        cls.env = dict(os.environ, TRAINRUN_GRAPHED_STEP_ON_CPU="1")
        run(command(1, f"{cls.tmp}/ref", f"{cls.tmp}/ref_ckpt", *cls.SETS), env=cls.env)
        cls.ref = params(f"{cls.tmp}/ref")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_trains_as_the_ordinary_step(self):
        out = f"{self.tmp}/ordinary"
        run(command(1, out, f"{out}_ckpt", *self.SETS[1:]))
        self.assertLessEqual(max_rel_diff(self.ref, params(out)), 1e-4)

    def test_a_preempted_run_resumes_bit_for_bit(self):
        out, ckpt = f"{self.tmp}/preempted", f"{self.tmp}/preempted_ckpt"
        run_until_first_commit(command(1, out, ckpt, *self.SETS), env=self.env)
        p = run(command(1, out, ckpt, *self.SETS), env=self.env)
        self.assertIsNotNone(RESUMED.search(p.stdout), p.stdout)
        got = params(out)
        for k in self.ref:
            self.assertTrue(torch.equal(self.ref[k], got[k]), k)


class LocalResume(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="trainrun_ckpt_")
        # The uninterrupted reference run.
        run(command(2, f"{cls.tmp}/ref", f"{cls.tmp}/ref_ckpt"))
        cls.ref = params(f"{cls.tmp}/ref")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def preempt_and_resume(self, name, nproc_first, nproc_resume):
        out, ckpt = f"{self.tmp}/{name}", f"{self.tmp}/{name}_ckpt"
        step = run_until_first_commit(command(nproc_first, out, ckpt))
        self.assertFalse(os.path.exists(f"{out}/metrics.json"))
        p = run(command(nproc_resume, out, ckpt))  # the same command again: resume: auto
        m = RESUMED.search(p.stdout)
        self.assertIsNotNone(m, p.stdout)
        self.assertGreaterEqual(int(m.group(2)), step)
        self.assertLess(int(m.group(2)), 100)
        self.assertEqual(int(m.group(3)), nproc_first)
        return params(out)

    def test_resume_at_same_world_size_is_bit_exact(self):
        got = self.preempt_and_resume("same", 2, 2)
        for k in self.ref:
            self.assertTrue(torch.equal(self.ref[k], got[k]), k)

    def test_resume_at_another_world_size_is_within_1e_5(self):
        got = self.preempt_and_resume("resharded", 2, 1)
        self.assertLessEqual(max_rel_diff(self.ref, got), 1e-5)

    def test_retention_keeps_keep_last(self):
        ckpt = f"{self.tmp}/ref_ckpt/ckpt-job"
        steps = sorted(d for d in os.listdir(ckpt) if d.startswith("step-"))
        self.assertEqual(steps, ["step-00000090", "step-00000100"])  # keep_last: 2
        for d in steps:
            self.assertTrue(os.path.exists(f"{ckpt}/{d}/manifest.pb"))


class LocalBadLocations(BadLocationCase):
    """Local folders that cannot work end the run before step 1, in one line, with exit 2."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="trainrun_badloc_")
        self.addCleanup(shutil.rmtree, self.tmp)
        with open(f"{self.tmp}/file", "w") as f:
            f.write("a file where a folder must go\n")

    def test_checkpoint_folder_that_cannot_be_created(self):
        out, ckpt = f"{self.tmp}/out", f"{self.tmp}/file/ckpt"
        p, seconds, errors = run_bad_location(command(2, out, ckpt))
        self.assert_fails_at_start(p, seconds, errors, f"checkpoint.uri {ckpt}: cannot write a "
                                   f"probe object: cannot create folder {ckpt}/ckpt-job",
                                   "(choose a folder this user can create and write")
        self.assertFalse(os.path.exists(out))  # nothing written, not even the output folder

    def test_output_folder_that_cannot_be_created(self):
        out, ckpt = f"{self.tmp}/file/out", f"{self.tmp}/ckpt"
        p, seconds, errors = run_bad_location(command(2, out, ckpt))
        self.assert_fails_at_start(p, seconds, errors, f"output.dir {out}: cannot write a probe "
                                   "object: cannot create folder")
        self.assertEqual(os.listdir(ckpt), [])  # the checkpoint probe cleaned up after itself

    def test_invalid_bucket_name_is_refused_by_the_launcher(self):
        p, seconds, errors = run_bad_location(command(2, f"{self.tmp}/out", "s3://Ckpt_Bucket/x"))
        self.assert_fails_at_start(p, seconds, errors, "checkpoint.uri 's3://Ckpt_Bucket/x': "
                                   "bucket name 'Ckpt_Bucket' contains 'C'")
        self.assertNotIn("[rank", p.stdout + p.stderr)  # before any rank started
        self.assertFalse(os.path.exists(f"{self.tmp}/out"))


# Skipped only outside CI: scripts/setup.sh installs the tools, and CI must run these.
@unittest.skipUnless(have_moto() or os.environ.get("CI"),
                     "needs moto_server, aws (scripts/setup.sh installs them)")
class S3Checkpoints(MotoCase, BadLocationCase):
    @classmethod
    def setUpClass(cls):
        cls.start_moto("trainrun_s3_")
        cls.aws("s3", "mb", "s3://ckpt")

    def test_aws_cli_reads_what_trainrun_wrote_and_the_reverse(self):
        short = ["train.steps=20"]
        run(command(2, f"{self.tmp}/s3_out", "s3://ckpt/jobs", *short), env=self.env)
        run(command(2, f"{self.tmp}/local_out", f"{self.tmp}/local", *short), env=self.env)
        listing = self.aws("s3", "ls", "--recursive", "s3://ckpt/jobs/").stdout
        self.assertIn("ckpt-job/step-00000020/manifest.pb", listing)
        self.assertIn("ckpt-job/step-00000020/shard-00001-of-00002.bin", listing)
        self.aws("s3", "cp", "--recursive", "s3://ckpt/jobs/ckpt-job", f"{self.tmp}/down")
        # Training is deterministic, so shards match the same run's local checkpoint byte for
        # byte (the manifests differ only in their timestamps).
        for shard in ("shard-00000-of-00002.bin", "shard-00001-of-00002.bin"):
            self.assertTrue(filecmp.cmp(f"{self.tmp}/down/step-00000020/{shard}",
                                        f"{self.tmp}/local/ckpt-job/step-00000020/{shard}",
                                        shallow=False), shard)
        # A local checkpoint uploaded with the aws CLI resumes from S3.
        self.aws("s3", "cp", "--recursive", f"{self.tmp}/local/ckpt-job", "s3://ckpt/copied/ckpt-job")
        p = run(command(1, f"{self.tmp}/from_copy", "s3://ckpt/copied", "train.steps=30"),
                env=self.env)
        self.assertIn("resumed=s3://ckpt/copied/ckpt-job/step-00000020 step=20", p.stdout)

    def test_resume_skips_broken_s3_checkpoints_and_says_why(self):
        uri, prefix = "s3://ckpt/broken", "s3://ckpt/broken/ckpt-job"
        run(command(2, f"{self.tmp}/broken", uri, "train.steps=40", "checkpoint.keep_last=4"),
            env=self.env)
        self.aws("s3", "rm", f"{prefix}/step-00000040/manifest.pb")  # never committed
        shard = "shard-00000-of-00002.bin"
        local = f"{self.tmp}/{shard}"
        self.aws("s3", "cp", f"{prefix}/step-00000030/{shard}", local)
        with open(local, "r+b") as f:  # flip bits in the middle
            f.seek(100)
            byte = f.read(1)
            f.seek(100)
            f.write(bytes([byte[0] ^ 0x5A]))
        self.aws("s3", "cp", local, f"{prefix}/step-00000030/{shard}")
        with open(local, "r+b") as f:
            f.truncate(64)
        self.aws("s3", "cp", local, f"{prefix}/step-00000020/{shard}")
        p = run(command(2, f"{self.tmp}/broken", uri, "train.steps=50", "checkpoint.keep_last=4"),
                env=self.env)
        log = p.stdout + p.stderr
        self.assertIn(f"resumed={prefix}/step-00000010 step=10", log)
        self.assertRegex(log, rf"step-00000030: {shard} fails its CRC-32 check")
        self.assertRegex(log, rf"step-00000020: {shard} is 64 bytes")

    def test_nonexistent_bucket_fails_before_step_1(self):
        p, seconds, errors = run_bad_location(
            command(2, f"{self.tmp}/nobucket", "s3://no-such-bucket-here/runs"), env=self.env)
        self.assert_fails_at_start(p, seconds, errors, "checkpoint.uri s3://no-such-bucket-here/"
                                   "runs: cannot list the folder of a probe object",
                                   "404 NoSuchBucket", "(does bucket no-such-bucket-here exist?)")
        self.assertFalse(os.path.exists(f"{self.tmp}/nobucket"))
        self.assertNotIn("no-such-bucket-here", self.aws("s3", "ls").stdout)

    def test_unreachable_endpoint_fails_clearly_and_keeps_the_previous_checkpoint(self):
        run(command(1, f"{self.tmp}/first", "s3://ckpt/down", "train.steps=10"), env=self.env)
        before = self.aws("s3", "ls", "--recursive", "s3://ckpt/down/").stdout
        dead = dict(self.env, AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
        start = time.monotonic()
        p = subprocess.run(command(1, f"{self.tmp}/second", "s3://ckpt/down", "train.steps=20"),
                           cwd=REPO, capture_output=True, text=True, env=dead, timeout=120)
        self.assertLess(time.monotonic() - start, 60)
        self.assertNotEqual(p.returncode, 0)
        errors = [l for l in p.stderr.splitlines() if "error" in l]
        self.assertTrue(errors, p.stderr)
        self.assertIn("127.0.0.1", errors[0])
        self.assertNotIn("testing", p.stderr)  # the secret key never shows
        self.assertEqual(self.aws("s3", "ls", "--recursive", "s3://ckpt/down/").stdout, before)
        p = run(command(1, f"{self.tmp}/third", "s3://ckpt/down", "train.steps=20"), env=self.env)
        self.assertIn("step=10", RESUMED.search(p.stdout).group(0))


# Skipped only outside CI: scripts/setup.sh installs the tools, and CI must run these.
@unittest.skipUnless(have_moto() or os.environ.get("CI"),
                     "needs moto_server, aws (scripts/setup.sh installs them)")
class S3WrongCredentials(MotoCase, BadLocationCase):
    """moto_server checking every signature: the first four IAM calls create a user with an
    S3 policy and its key; from then on a request needs that key."""

    @classmethod
    def setUpClass(cls):
        cls.start_moto("trainrun_s3auth_", INITIAL_NO_AUTH_ACTION_COUNT="4")
        policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*",' \
                 '"Resource":"*"}]}'
        cls.aws("iam", "create-user", "--user-name", "trainer")
        key = json.loads(cls.aws("iam", "create-access-key", "--user-name", "trainer").stdout)
        arn = json.loads(cls.aws("iam", "create-policy", "--policy-name", "s3-all",
                                 "--policy-document", policy).stdout)["Policy"]["Arn"]
        cls.aws("iam", "attach-user-policy", "--user-name", "trainer", "--policy-arn", arn)
        cls.env["AWS_ACCESS_KEY_ID"] = key["AccessKey"]["AccessKeyId"]
        cls.env["AWS_SECRET_ACCESS_KEY"] = key["AccessKey"]["SecretAccessKey"]
        cls.aws("s3", "mb", "s3://ckpt")

    def test_unknown_access_key_fails_at_once_and_keeps_the_checkpoint(self):
        run(command(1, f"{self.tmp}/first", f"{self.tmp}/local", "train.steps=10"))
        self.aws("s3", "cp", "--recursive", f"{self.tmp}/local", "s3://ckpt/")
        before = self.aws("s3", "ls", "--recursive", "s3://ckpt").stdout
        self.assertIn("ckpt-job/step-00000010/manifest.pb", before)
        wrong = dict(self.env, AWS_ACCESS_KEY_ID="AKIANOTAKEY0000000000")
        start = time.monotonic()
        p = subprocess.run(command(1, f"{self.tmp}/second", "s3://ckpt", "train.steps=20"),
                           cwd=REPO, capture_output=True, text=True, env=wrong, timeout=120)
        self.assertLess(time.monotonic() - start, 30)  # a 403 is not retried
        self.assertNotEqual(p.returncode, 0)
        errors = [l for l in p.stdout.splitlines() + p.stderr.splitlines() if "error:" in l]
        self.assertEqual(len(errors), 1, p.stdout + p.stderr)
        self.assertIn("403 InvalidAccessKeyId", errors[0])
        self.assertIn("check AWS credentials", errors[0])
        self.assertNotIn(self.env["AWS_SECRET_ACCESS_KEY"], p.stdout + p.stderr)
        self.assertFalse(os.path.exists(f"{self.tmp}/second/metrics.json"))
        self.assertEqual(self.aws("s3", "ls", "--recursive", "s3://ckpt").stdout, before)

    def test_wrong_credentials_fail_before_step_1_on_every_rank(self):
        before = self.aws("s3", "ls", "--recursive", "s3://ckpt").stdout
        wrong = dict(self.env, AWS_ACCESS_KEY_ID="AKIANOTAKEY0000000002",
                     AWS_SECRET_ACCESS_KEY="not-the-secret-0000000000000000000000000")
        p, seconds, errors = run_bad_location(
            command(2, f"{self.tmp}/wrong", "s3://ckpt/wrong"), env=wrong)
        self.assert_fails_at_start(p, seconds, errors, "checkpoint.uri s3://ckpt/wrong: cannot "
                                   "list the folder of a probe object", "403 InvalidAccessKeyId",
                                   "(check AWS credentials from the environment)")
        self.assertNotIn("not-the-secret", p.stdout + p.stderr)
        self.assertFalse(os.path.exists(f"{self.tmp}/wrong"))
        self.assertEqual(self.aws("s3", "ls", "--recursive", "s3://ckpt").stdout, before)


if __name__ == "__main__":
    unittest.main(verbosity=2)
