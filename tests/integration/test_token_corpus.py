#!/usr/bin/env python3
"""data.name=tokens end to end through the `trainrun` launcher: gpt-tiny learns from a glob of
llm.c shards on two ranks and evaluates on separate validation shards; a preempted run resumes
bit for bit at the same world size, within tolerance at another, and with another global batch
goes on along the same sample stream and says so (in-memory data refuses that instead); the run
is named by the shard manifest, and a changed shard set is a new run, or refused when the
checkpoint is named."""
import os
import re
import sys
import tempfile
import unittest

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../support"))
from harness import (CONFIG, DATA, LOG_LINE, RESUMED, TRAINRUN, MotoCase,  # noqa: E402
                     config, max_rel_diff, params, run_until_first_commit)
from harness import run_trainrun as run  # noqa: E402
from fault_proxy import FaultProxy  # noqa: E402
from token_shards import (markov_tokens, sample_batches, write_llmc_shard,  # noqa: E402
                          write_megatron_pair)

GPT = config("gpt-tiny")
VOCAB = 128


def write_corpus(root):
    os.makedirs(f"{root}/val", exist_ok=True)
    for s, n in enumerate((40000, 25000, 33000)):
        write_llmc_shard(f"{root}/train_{s:03d}.bin", markov_tokens(n, s + 1))
    write_llmc_shard(f"{root}/val/val_000.bin", markov_tokens(9000, 99))


def command(root, out, *sets, nproc=2, name="tokens-job"):
    args = ["--nproc-per-node", str(nproc), "--grace-period", "5", GPT]
    for s in ("data.name=tokens", f"data.path={root}/train_*.bin",
              f"data.validation_path={root}/val", f"model.vocab_size={VOCAB}",
              "model.block_size=32", "train.steps=60", "train.log_every=10",
              "checkpoint.every_steps=10", f"output.dir={out}", f"checkpoint.uri={out}_ckpt") + \
            ((f"run.name={name}",) if name else ()) + sets:
        args += ["--set", s]
    return args


def ok(p):
    if p.returncode != 0:
        raise AssertionError(f"trainrun failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


class TokenCorpus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="trainrun_tokens_")
        cls.root = os.path.join(cls.tmp.name, "corpus")
        write_corpus(cls.root)
        cls.ref_out = os.path.join(cls.tmp.name, "ref")
        cls.ref_samples = os.path.join(cls.tmp.name, "ref_samples")
        cls.ref = ok(run(command(cls.root, cls.ref_out), timeout=300,
                         env=dict(os.environ, TRAINRUN_SAMPLE_LOG=cls.ref_samples)))
        cls.ref_params = params(cls.ref_out)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def out(self, name):
        return os.path.join(self.tmp.name, name)

    def test_learns_from_shards_and_evaluates_on_validation_shards(self):
        out = self.ref.stdout
        # (tokens - 1) // 32 windows per shard: 1249 + 781 + 1031.
        self.assertRegex(out, r"data=tokens shards=3 tokens=98000 bytes=\d+ windows=3061 "
                              r"format=llm\.c eval_windows=281 eval_from=validation_shards")
        self.assertIn("train_samples=3061", out)
        loss = [float(m.group(4)) for m in map(LOG_LINE.match, out.splitlines()) if m]
        self.assertEqual(len(loss), 6, out)
        self.assertLess(loss[-1], 0.7 * loss[0], out)
        self.assertRegex(out, r"step=60/60 eval_loss=[\d.]+")

    def test_megatron_pairs_train_as_the_same_tokens_in_llmc_shards_do(self):
        mega = self.out("megatron")
        os.makedirs(mega)
        for s, n in enumerate((40000, 25000, 33000)):
            write_megatron_pair(f"{mega}/train_{s:03d}", markov_tokens(n, s + 1))
        out = self.out("megatron_run")
        env = dict(os.environ, TRAINRUN_SAMPLE_LOG=out + "_samples")
        p = ok(run(command(self.root, out, f"data.path={mega}/train_"), timeout=300, env=env))
        self.assertRegex(p.stdout, r"data=tokens shards=3 tokens=98000 bytes=196000 "
                                   r"windows=3061 format=megatron eval_windows=281")
        # The same tokens under the same keys: the same windows in the same order, and the
        # same losses (a wrong byte offset into the .bin would read other tokens).
        ref = sample_batches(self.ref_samples)
        got = sample_batches(out + "_samples")
        self.assertEqual(got, {k: ref[k] for k in got})

        def losses(text):
            return [m.group(4) for m in map(LOG_LINE.match, text.splitlines()) if m]
        self.assertEqual(losses(p.stdout), losses(self.ref.stdout), p.stdout)

    def preempt_and_resume(self, name, first, *resume_sets, nproc=2):
        out = self.out(name)
        env = dict(os.environ, TRAINRUN_SAMPLE_LOG=out + "_samples")
        step = run_until_first_commit([TRAINRUN] + command(self.root, out, nproc=first), env)
        p = ok(run(command(self.root, out, *resume_sets, nproc=nproc), timeout=300, env=env))
        m = RESUMED.search(p.stdout)
        self.assertIsNotNone(m, p.stdout)
        self.assertGreaterEqual(int(m.group(2)), step)
        return out, p

    def test_resume_at_the_same_world_size_is_bit_exact(self):
        out, _ = self.preempt_and_resume("same", 2)
        got = params(out)
        for k in self.ref_params:
            self.assertTrue(torch.equal(self.ref_params[k], got[k]), k)

    def test_resume_at_another_world_size_continues_the_stream(self):
        out, _ = self.preempt_and_resume("resharded", 2, nproc=1)
        # Every step trained on the reference's global batch, sample for sample...
        self.assertEqual(sample_batches(out + "_samples"), sample_batches(self.ref_samples))
        # ...so only the order of float sums differs (one rank's mean against two means).
        self.assertLessEqual(max_rel_diff(self.ref_params, params(out)), 1e-3)

    def test_another_global_batch_goes_on_along_the_same_stream_and_says_so(self):
        _, p = self.preempt_and_resume("rebatched", 2, "train.global_batch_size=32")
        m = re.search(r"resuming at sample (\d+) of the same sample stream, now grouped into "
                      r"global batches of 32 \(checkpoint: 16\)", p.stdout)
        self.assertIsNotNone(m, p.stdout)
        resumed = RESUMED.search(p.stdout)
        self.assertEqual(int(m.group(1)), int(resumed.group(2)) * 16)
        self.assertRegex(p.stdout, rf"samples={int(m.group(1))}\b")
        # The same sample sequence as the reference's, grouped into batches of 32.
        got = sample_batches(self.out("rebatched") + "_samples")
        ref = sample_batches(self.ref_samples)
        seq = [i for s in sorted(got) for i in got[s]]
        self.assertGreater(len(seq), 60 * 16)
        ref_seq = [i for s in sorted(ref) for i in ref[s]]
        self.assertEqual(seq[:len(ref_seq)], ref_seq)
        self.assertEqual([len(got[s]) for s in sorted(got) if s >= int(resumed.group(2))],
                         [32] * (60 - int(resumed.group(2))))

    def test_in_memory_data_refuses_another_global_batch(self):
        out = self.out("digits")
        base = [CONFIG, "--set", f"output.dir={out}", "--set", f"checkpoint.uri={out}_ckpt",
                "--set", f"data.path={DATA}", "--set", "train.steps=20", "--set",
                "checkpoint.every_steps=10", "--set", "run.name=digits-batch"]
        ok(run(["--nproc-per-node", "1"] + base))
        p = run(["--nproc-per-node", "1"] + base +
                ["--set", "train.global_batch_size=32", "--set", "train.steps=30"])
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("was saved with train.global_batch_size 64 but this config has 32: "
                      "data.name=digits cuts each epoch into batches of one size", p.stderr)

    def test_the_manifest_names_the_run_and_a_changed_shard_is_a_new_run(self):
        root = self.out("changing")
        write_corpus(root)
        out = self.out("changing_run")
        first = ok(run(command(root, out, "train.steps=10", nproc=1, name=None), timeout=300))
        name = re.search(r"run=(\S+)", first.stdout).group(1)
        self.assertRegex(name, r"^gpt-tiny-[0-9a-f]{8}$")
        # The same shards again: the same run (its checkpoint is found)...
        again = ok(run(command(root, out, "train.steps=20", nproc=1, name=None), timeout=300))
        self.assertIn(f"run={name} ", again.stdout)
        self.assertIn("resumed=", again.stdout)
        # ...one shard rewritten: the name changes with the manifest, nothing is hashed.
        write_llmc_shard(f"{root}/train_001.bin", markov_tokens(25001, 2))
        changed = ok(run(command(root, out, "train.steps=20", nproc=1, name=None), timeout=300))
        self.assertNotIn(f"run={name} ", changed.stdout)
        self.assertNotIn("resumed=", changed.stdout)

    def test_a_changed_shard_set_is_named_when_the_same_run_resumes(self):
        root = self.out("named")
        write_corpus(root)
        out = self.out("named_run")
        ok(run(command(root, out, "train.steps=10", nproc=1, name="named"), timeout=300))
        write_llmc_shard(f"{root}/train_001.bin", markov_tokens(25001, 2))
        os.remove(f"{root}/train_002.bin")
        fresh = ok(run(command(root, out, "train.steps=10", nproc=1, name="named"), timeout=300))
        self.assertRegex(fresh.stdout, r"starting fresh as run named-data-[0-9a-f]{8}; the old "
                                       r"run's checkpoints stay; 2 shards changed: resized "
                                       r"'train_001.bin' \(\d+ -> \d+ bytes\); removed "
                                       r"'train_002.bin'")
        named = run(command(root, out, "train.steps=10", f"resume={out}_ckpt/named/step-00000010",
                            nproc=1, name="named"), timeout=300)
        self.assertEqual(named.returncode, 2, named.stdout + named.stderr)
        self.assertRegex(named.stderr, r"was trained on other data .*; 2 shards changed: resized "
                                       r"'train_001.bin'")

class BadShards(unittest.TestCase):
    """Bad shards end the run before step 1: exit code 2 and one line naming the shard."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="trainrun_bad_tokens_")
        self.addCleanup(self.tmp.cleanup)
        self.root = os.path.join(self.tmp.name, "corpus")
        write_corpus(self.root)

    def refused(self, *sets, path=None, by_launcher=True):
        out = os.path.join(self.tmp.name, "out")
        p = run(command(self.root, out, "train.steps=5", *sets, nproc=2) +
                (["--set", f"data.path={path}"] if path else []), timeout=120)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertNotRegex(p.stdout, r"step=1/", p.stdout)
        if by_launcher:  # local shards' headers: checked once, before any rank starts
            self.assertEqual(p.stderr.count("error:"), 1, p.stderr)
            self.assertNotIn("[rank", p.stderr)
        return p.stderr

    def test_a_truncated_shard_is_named_with_its_size(self):
        with open(f"{self.root}/train_001.bin", "r+b") as f:
            f.truncate(30000)
        self.assertRegex(self.refused(), r"token shard '[^']*train_001\.bin'.*truncated")

    def test_a_token_id_at_or_above_the_vocabulary_is_named_where_it_is_read(self):
        tokens = markov_tokens(9000, 99)
        tokens[123] = 200  # the model's vocabulary is 128; evaluation reads it before step 1
        write_llmc_shard(f"{self.root}/val/val_000.bin", tokens)
        self.assertRegex(self.refused(by_launcher=False),
                         r"val_000\.bin': token id 200 at token offset 123 is "
                                         r">= the vocabulary size 128")

    def test_a_prefix_that_matches_nothing_names_data_path(self):
        err = self.refused(path=f"{self.root}/nothing_here_")
        self.assertIn("nothing_here_", err)
        self.assertIn("data.path", err)

    def test_a_shard_shorter_than_one_window_is_named(self):
        write_llmc_shard(f"{self.root}/train_003.bin", markov_tokens(20, 3))
        self.assertRegex(self.refused(), r"train_003\.bin.*fewer than")

    def test_uint16_declared_over_uint32_shards_is_refused(self):
        self.assertRegex(self.refused("data.token_dtype=uint32"), r"train_000\.bin.*uint")


class TokenCorpusFromS3(MotoCase):
    @classmethod
    def setUpClass(cls):
        cls.start_moto("trainrun_tokens_s3_")
        cls.env["TRAINRUN_CACHE_DIR"] = f"{cls.tmp}/cache"

    def test_s3_shards_stream_through_the_node_cache_and_train_as_local_ones(self):
        local = f"{self.tmp}/corpus"
        write_corpus(local)
        self.aws("s3", "mb", "s3://tokens")
        self.aws("s3", "cp", "--recursive", local, "s3://tokens/corpus")
        runs = {}
        for where, train, val in (("s3", "s3://tokens/corpus/train_", "s3://tokens/corpus/val/"),
                                  ("local", f"{local}/train_*.bin", f"{local}/val")):
            out = f"{self.tmp}/{where}"
            env = dict(self.env, TRAINRUN_SAMPLE_LOG=out + "_samples")
            p = ok(run(command(local, out, f"data.path={train}", f"data.validation_path={val}",
                               "train.steps=30"), timeout=300, env=env))
            self.assertRegex(p.stdout, r"data=tokens shards=3 tokens=98000 bytes=\d+ "
                                       r"windows=3061 format=llm\.c eval_windows=281 "
                                       r"eval_from=validation_shards")
            runs[where] = out
        # Fetched once into the node's cache (both ranks map the same files)...
        cached = [os.path.join(d, f) for d, _, fs in os.walk(f"{self.tmp}/cache/s3/tokens")
                  for f in fs if f.endswith(".bin")]
        self.assertEqual(len(cached), 4, cached)
        # ...and the same shards, keyed alike, give the same sample stream and the same model.
        self.assertEqual(sample_batches(runs["s3"] + "_samples"),
                         sample_batches(runs["local"] + "_samples"))
        a, b = params(runs["s3"]), params(runs["local"])
        for k in a:
            self.assertTrue(torch.equal(a[k], b[k]), k)

    def test_a_node_lists_its_shards_once_for_all_its_ranks(self):
        local = f"{self.tmp}/corpus_once"
        write_corpus(local)
        self.aws("s3", "mb", "s3://tokens-once")
        self.aws("s3", "cp", "--recursive", local, "s3://tokens-once/corpus")
        proxy = FaultProxy(int(self.endpoint.rsplit(":", 1)[1])).start()
        self.addCleanup(proxy.stop)
        env = dict(self.env, AWS_ENDPOINT_URL=proxy.url, TRAINRUN_CACHE_DIR=f"{self.tmp}/cache1")
        out = f"{self.tmp}/once"
        ok(run(command(local, out, "data.path=s3://tokens-once/corpus/train_",
                       "data.validation_path=s3://tokens-once/corpus/val/", "train.steps=3"),
               timeout=300, env=env))
        # The launcher lists each path once (one page each, and train_'s folder's index key)
        # and the two ranks read its listing.
        self.assertEqual(proxy.stats().get("listings"), 3, proxy.stats())

    def test_an_indexed_folder_lists_without_header_reads_and_trains_alike(self):
        local = f"{self.tmp}/corpus_index"
        write_corpus(local)
        self.aws("s3", "mb", "s3://tokens-index")
        self.aws("s3", "cp", "--recursive", local, "s3://tokens-index/corpus")
        for folder, shards in (("corpus/train_", 4), ("corpus/val/", 1)):
            p = ok(run(["index", f"s3://tokens-index/{folder}"], env=self.env))
            self.assertRegex(p.stdout, rf"^trainrun index: {shards} shards \(0\.00 GiB, \d+ "
                                       rf"tokens\) indexed in s3://tokens-index/"
                                       rf"{folder.rsplit('/', 1)[0]}/\.trainrun-index\n$")
        proxy = FaultProxy(int(self.endpoint.rsplit(":", 1)[1])).start()
        self.addCleanup(proxy.stop)
        env = dict(self.env, AWS_ENDPOINT_URL=proxy.url, TRAINRUN_CACHE_DIR=f"{self.tmp}/cache2")
        out = f"{self.tmp}/indexed"
        p = ok(run(command(local, out, "data.path=s3://tokens-index/corpus/train_",
                           "data.validation_path=s3://tokens-index/corpus/val/",
                           "train.steps=3"), timeout=300, env=dict(env, TRAINRUN_SAMPLE_LOG=out)))
        self.assertRegex(p.stdout, r"data=tokens shards=3 tokens=98000 bytes=\d+ windows=3061 "
                                   r"format=llm\.c eval_windows=281")
        # The launcher lists train_, its folder's index key and val/ (whose listing holds its
        # index); the header reads it spares are counted in tests/data (s3_shard_source_test).
        stats = proxy.stats()
        self.assertEqual(stats.get("listings"), 3, stats)
        self.assertEqual(stats.get("method:HEAD", 0), 0, stats)
        # The command itself: an s3:// folder only, in one line.
        p = run(["index", local])
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("trainrun index: give an s3:// folder of token shards", p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
