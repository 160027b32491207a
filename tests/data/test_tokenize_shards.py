#!/usr/bin/env python3
"""scripts/tokenize_shards.py: llm.c's shard layout byte for byte, the val/train split, uint32
shards, JSON lines, and its errors. No network: the byte-level tokenizer, plus tiktoken's gpt2
only where tiktoken and its cached encoding are already present."""
import os
import struct
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "scripts", "tokenize_shards.py")


def run(*args, ok=True):
    p = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)
    if ok and p.returncode != 0:
        raise AssertionError(f"tokenize_shards failed: {p.stderr}")
    return p


def read_shard(path):
    """(magic, version, tokens) of an llm.c shard, checking its size against the header."""
    with open(path, "rb") as f:
        data = f.read()
    header = struct.unpack("<256i", data[:1024])
    magic, version, count = header[:3]
    assert all(v == 0 for v in header[3:]), "header words 3..255 must be zero"
    width = {20240520: 2, 20240801: 4}[magic]
    assert len(data) == 1024 + width * count, (len(data), count)
    fmt = "<%d%s" % (count, "H" if width == 2 else "I")
    return magic, version, list(struct.unpack(fmt, data[1024:]))


class TokenizeShards(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.a = os.path.join(self.dir, "a.txt")
        self.b = os.path.join(self.dir, "b.txt")
        with open(self.a, "w", encoding="utf-8") as f:
            f.write("hello shards\n")
        with open(self.b, "w", encoding="utf-8") as f:
            f.write("naïve ünïcode, twice as long as the first document\n")

    def tearDown(self):
        self.tmp.cleanup()

    def shards(self, out):
        return sorted(os.listdir(out))

    def test_byte_tokens_split_into_val_and_train_shards_in_llmc_format(self):
        out = os.path.join(self.dir, "out")
        p = run(self.a, self.b, "--out", out, "--name", "c", "--tokenizer", "bytes",
                "--shard-tokens", "16", "--val-tokens", "10")
        self.assertIn("bytes, vocabulary 256, uint16", p.stdout)
        names = self.shards(out)
        self.assertEqual(names[-1], "c_val_000000.bin")
        self.assertEqual(names[0], "c_train_000000.bin")
        expect = (open(self.a, "rb").read() + open(self.b, "rb").read())
        val = read_shard(os.path.join(out, "c_val_000000.bin"))
        self.assertEqual(val[:2], (20240520, 1))
        self.assertEqual(bytes(val[2]), expect[:10])
        train = []
        for name in names[:-1]:
            magic, version, tokens = read_shard(os.path.join(out, name))
            self.assertEqual((magic, version), (20240520, 1))
            self.assertLessEqual(len(tokens), 16)
            train += tokens
        self.assertEqual(bytes(train), expect[10:])
        self.assertEqual(len(names) - 1, -(-(len(expect) - 10) // 16))
        self.assertFalse([n for n in names if ".tmp-" in n])

    def test_uint32_shards_use_llama3s_magic_and_version(self):
        out = os.path.join(self.dir, "out32")
        run(self.a, "--out", out, "--tokenizer", "bytes", "--dtype", "uint32")
        magic, version, tokens = read_shard(os.path.join(out, "corpus_train_000000.bin"))
        self.assertEqual((magic, version), (20240801, 7))
        self.assertEqual(bytes(tokens), open(self.a, "rb").read())

    def test_json_lines_each_line_a_document(self):
        src = os.path.join(self.dir, "docs.jsonl")
        with open(src, "w") as f:
            f.write('{"text": "ab"}\n\n{"text": "cd", "id": 2}\n')
        out = os.path.join(self.dir, "outj")
        run(src, "--jsonl", "--out", out, "--tokenizer", "bytes")
        self.assertEqual(bytes(read_shard(os.path.join(out, "corpus_train_000000.bin"))[2]),
                         b"abcd")
        with open(src, "a") as f:
            f.write('{"body": "x"}\n')
        p = run(src, "--jsonl", "--out", out, "--tokenizer", "bytes", ok=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("docs.jsonl:4: not a JSON object with a 'text' string", p.stderr)

    def test_errors_are_one_line(self):
        empty = os.path.join(self.dir, "empty.txt")
        open(empty, "w").close()
        p = run(empty, "--out", os.path.join(self.dir, "o"), "--tokenizer", "bytes", ok=False)
        self.assertIn("the inputs hold no text", p.stderr)
        p = run(self.a, "--out", self.dir, "--shard-tokens", "0", ok=False)
        self.assertIn("--shard-tokens must be", p.stderr)

    def test_tiktoken_gpt2_when_present(self):
        try:
            import tiktoken
            enc = tiktoken.get_encoding("gpt2")  # from its cache; fails without network
        except Exception as e:  # noqa: BLE001 (ImportError, or no cached encoding)
            self.skipTest(f"tiktoken's gpt2 encoding is not available here: {e}")
        out = os.path.join(self.dir, "outg")
        run(self.a, "--out", out, "--tokenizer", "gpt2")
        _, _, tokens = read_shard(os.path.join(out, "corpus_train_000000.bin"))
        self.assertEqual(tokens, [enc.eot_token] + enc.encode_ordinary("hello shards\n"))


if __name__ == "__main__":
    unittest.main()
