"""Token shards for tests and benchmarks: llm.c shards and Megatron .bin/.idx pairs of a
learnable stream, and the sample log (TRAINRUN_SAMPLE_LOG, train/sample_log.h) read back as
each step's global batch."""
import os

import numpy as np

LLMC_MAGIC, LLMC_VERSION = 20240520, 1  # llm.c's uint16 shards: 256 x int32 header


def write_llmc_shard(path, tokens):
    header = np.zeros(256, dtype=np.int32)
    header[:3] = [LLMC_MAGIC, LLMC_VERSION, len(tokens)]
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(np.asarray(tokens, dtype=np.uint16).tobytes())


def write_megatron_pair(stem, tokens, doc_tokens=1000):
    """Megatron-LM's indexed dataset (megatron/core/datasets/indexed_dataset.py, _IndexWriter):
    STEM.bin holds the uint16 tokens, STEM.idx the magic b"MMIDIDX\\0\\0", version 1 (<Q), the
    dtype code 8 (uint16, <B), the sequence and document counts (<Q), then the int32 lengths,
    int64 byte pointers and int64 document indices. Written here from that layout, apart from
    the C++ encoder, so each checks the other; one sequence per document of doc_tokens."""
    tokens = np.asarray(tokens, dtype=np.uint16)
    lengths = np.array([min(doc_tokens, len(tokens) - i)
                        for i in range(0, len(tokens), doc_tokens)], dtype=np.int32)
    pointers = np.concatenate([[0], np.cumsum(lengths[:-1], dtype=np.int64) * 2]).astype(np.int64)
    documents = np.arange(len(lengths) + 1, dtype=np.int64)
    with open(stem + ".bin", "wb") as f:
        f.write(tokens.tobytes())
    with open(stem + ".idx", "wb") as f:
        f.write(b"MMIDIDX\x00\x00")
        f.write(np.array([1], dtype="<u8").tobytes())
        f.write(np.array([8], dtype="<u1").tobytes())
        f.write(np.array([len(lengths), len(documents)], dtype="<u8").tobytes())
        f.write(lengths.astype("<i4").tobytes())
        f.write(pointers.astype("<i8").tobytes())
        f.write(documents.astype("<i8").tobytes())


def markov_tokens(count, seed, vocab=128):
    """A learnable stream: each token a fixed successor of the one before, 1 in 10 random."""
    rng = np.random.default_rng(seed)
    successor = np.random.default_rng(0).permutation(vocab)
    noise = rng.random(count) < 0.1
    random = rng.integers(0, vocab, count)
    out = np.empty(count, dtype=np.int64)
    out[0] = 0
    for i in range(1, count):
        out[i] = random[i] if noise[i] else successor[out[i - 1]]
    return out


def sample_batches(log_dir):
    """{step: the global batch's window ids, in order} from every rank's sample log: a step's
    micro-batches in order, each the ranks' slices in rank order. Where a step was trained more
    than once (a stopped run, then its resume), the shape written last wins."""
    lines = {}
    for name in sorted(os.listdir(log_dir)):
        path = os.path.join(log_dir, name)
        with open(path) as f:
            for n, line in enumerate(f):
                step, micro, rank, world, ids = line.split()
                lines[(int(step), int(micro), int(rank), int(world))] = (
                    os.path.getmtime(path), n, [int(i) for i in ids.split(",")])
    out = {}
    for step in sorted({k[0] for k in lines}):
        keys = [k for k in lines if k[0] == step]
        world = max(keys, key=lambda k: lines[k][:2])[3]
        parts = sorted((k for k in keys if k[3] == world), key=lambda k: (k[1], k[2]))
        out[step] = [i for k in parts for i in lines[k][2]]
    return out
