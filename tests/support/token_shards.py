"""Token shards for tests and benchmarks: llm.c shards of a learnable stream, and the sample
log (TRAINRUN_SAMPLE_LOG, train/sample_log.h) read back as each step's global batch."""
import os

import numpy as np

LLMC_MAGIC, LLMC_VERSION = 20240520, 1  # llm.c's uint16 shards: 256 x int32 header


def write_llmc_shard(path, tokens):
    header = np.zeros(256, dtype=np.int32)
    header[:3] = [LLMC_MAGIC, LLMC_VERSION, len(tokens)]
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(np.asarray(tokens, dtype=np.uint16).tobytes())


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
