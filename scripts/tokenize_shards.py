#!/usr/bin/env python3
"""Writes llm.c-format token shards from text, with a tokenizer library the user brings.

trainrun reads llm.c's `.bin` shards natively (csrc/data/token_shard_format.h): a header of 256
little-endian int32 (magic, version, token count), then the tokens: magic 20240520 version 1
with uint16 ids (vocabularies up to 65,536, e.g. GPT-2's 50,257), magic 20240801 version 7 with
uint32 ids (larger ones, e.g. Llama 3's 128,256). The runtime needs no tokenizer; this script is
where one is used:

    python3 scripts/tokenize_shards.py corpus/*.txt --out data/shards --name mycorpus \\
        --tokenizer gpt2 --shard-tokens 100000000 --val-tokens 1000000

writes data/shards/mycorpus_val_000000.bin (the first --val-tokens tokens, for
data.validation_path) and mycorpus_train_000000.bin, ... (for data.path, e.g.
`data/shards/mycorpus_train_` or `data/shards/mycorpus_train_*.bin`).

Tokenizers:
  - a tiktoken encoding name (gpt2, cl100k_base, o200k_base, ...) when `tiktoken` is importable;
    each document starts with the encoding's end-of-text token, as llm.c's fineweb.py does;
  - `hf:PATH`: a Hugging Face `tokenizers` tokenizer.json file (local, no network);
  - `bytes`: every UTF-8 byte is a token (vocabulary 256, no document separator), the fallback
    that needs no library and matches data.name=text;
  - `auto` (the default): gpt2 through tiktoken if it is importable, else bytes.
Each input file is one document; with --jsonl, each line of each file is a JSON object whose
--field (default "text") is one document. `-` reads standard input. Shards are written under a
temporary name and renamed, so a reader never sees a partial shard. Standard library only, plus
the tokenizer the user chose.
"""
import argparse
import array
import json
import os
import sys

LLMC_HEADER_INTS = 256
LLMC_UINT16 = (20240520, 1)  # (magic, version): GPT-2 style, uint16 ids
LLMC_UINT32 = (20240801, 7)  # Llama 3 style, uint32 ids
LLMC_MAX_TOKENS = 2**31 - 1  # header[2] is an int32


class Tokenizer:
    """encode(text) -> list of ids; vocab_size; eot (an id prepended to each document, or None)."""

    def __init__(self, spec):
        if spec == "auto":
            try:
                import tiktoken  # noqa: F401
                spec = "gpt2"
            except ImportError:
                spec = "bytes"
        self.name = spec
        if spec == "bytes":
            self.vocab_size, self.eot = 256, None
            self.encode = lambda text: list(text.encode("utf-8"))
        elif spec.startswith("hf:"):
            try:
                from tokenizers import Tokenizer as HfTokenizer
            except ImportError:
                sys.exit("tokenize_shards: --tokenizer hf:... needs the `tokenizers` package "
                         "(pip install tokenizers)")
            tok = HfTokenizer.from_file(spec[3:])
            self.vocab_size, self.eot = tok.get_vocab_size(with_added_tokens=True), None
            self.encode = lambda text: tok.encode(text, add_special_tokens=False).ids
        else:
            try:
                import tiktoken
            except ImportError:
                sys.exit(f"tokenize_shards: --tokenizer {spec} needs the `tiktoken` package "
                         "(pip install tiktoken), or use --tokenizer bytes")
            enc = tiktoken.get_encoding(spec)
            self.vocab_size, self.eot = enc.n_vocab, enc.eot_token
            self.encode = enc.encode_ordinary


def documents(paths, jsonl, field):
    for path in paths:
        f = sys.stdin if path == "-" else open(path, encoding="utf-8")
        with f:
            if not jsonl:
                yield f.read()
                continue
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield json.loads(line)[field]
                    except (ValueError, KeyError, TypeError):
                        sys.exit(f"tokenize_shards: {path}:{n}: not a JSON object with a "
                                 f"'{field}' string (check --field)")


def llmc_shard_bytes(tokens, dtype):
    """The bytes of an llm.c shard holding `tokens` (ints) as `dtype`."""
    magic, version = LLMC_UINT16 if dtype == "uint16" else LLMC_UINT32
    header = array.array("i", [0] * LLMC_HEADER_INTS)
    header[0], header[1], header[2] = magic, version, len(tokens)
    body = array.array("H" if dtype == "uint16" else "I", tokens)
    if body.itemsize != (2 if dtype == "uint16" else 4) or header.itemsize != 4:
        sys.exit("tokenize_shards: this platform's array sizes do not fit llm.c's format")
    if sys.byteorder == "big":  # the format is little-endian
        header.byteswap()
        body.byteswap()
    return header.tobytes() + body.tobytes()


def write_atomic(path, data):
    tmp = f"{path}.tmp-{os.getpid()}-0"  # ".tmp-": trainrun's listings skip these names
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class ShardWriter:
    """Cuts the token stream into shards: the validation shard first, then training shards."""

    def __init__(self, out, name, dtype, shard_tokens, val_tokens):
        self.out, self.name, self.dtype = out, name, dtype
        self.shard_tokens, self.val_left = shard_tokens, val_tokens
        # 4 bytes a token (a list of ints would take ~8x that for a 1e8-token shard).
        self.buffer, self.counts, self.written = array.array("I"), {"val": 0, "train": 0}, []

    def add(self, tokens):
        self.buffer.extend(tokens)
        while self.val_left > 0 and len(self.buffer) >= self.val_left:
            self._flush("val", self.val_left)
            self.val_left = 0
        while self.val_left == 0 and len(self.buffer) >= self.shard_tokens:
            self._flush("train", self.shard_tokens)

    def close(self):
        if self.buffer:
            self._flush("val" if self.val_left > 0 else "train", len(self.buffer))

    def _flush(self, split, n):
        tokens = self.buffer[:n]
        del self.buffer[:n]
        path = os.path.join(self.out, f"{self.name}_{split}_{self.counts[split]:06d}.bin")
        self.counts[split] += 1
        write_atomic(path, llmc_shard_bytes(tokens, self.dtype))
        self.written.append((path, len(tokens)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("inputs", nargs="+", help="text files (one document each), or - for stdin")
    p.add_argument("--out", required=True, help="folder for the shards (created)")
    p.add_argument("--name", default="corpus", help="shard name prefix (default: corpus)")
    p.add_argument("--tokenizer", default="auto",
                   help="auto, bytes, a tiktoken encoding (gpt2, cl100k_base, ...) or hf:FILE")
    p.add_argument("--dtype", choices=["auto", "uint16", "uint32"], default="auto",
                   help="token width (auto: uint16 when the vocabulary fits, else uint32)")
    p.add_argument("--shard-tokens", type=int, default=100_000_000,
                   help="tokens per training shard (default 1e8, llm.c's fineweb size)")
    p.add_argument("--val-tokens", type=int, default=0,
                   help="tokens of the first shard, written as NAME_val_000000.bin (default 0)")
    p.add_argument("--jsonl", action="store_true", help="inputs are JSON lines")
    p.add_argument("--field", default="text", help="the JSON field holding a document")
    args = p.parse_args(argv)
    if not 1 <= args.shard_tokens <= LLMC_MAX_TOKENS or not 0 <= args.val_tokens <= LLMC_MAX_TOKENS:
        sys.exit(f"tokenize_shards: --shard-tokens must be 1..{LLMC_MAX_TOKENS} and "
                 f"--val-tokens 0..{LLMC_MAX_TOKENS} (llm.c's header holds an int32 count)")
    tok = Tokenizer(args.tokenizer)
    dtype = args.dtype if args.dtype != "auto" else (
        "uint16" if tok.vocab_size <= 2**16 else "uint32")
    if dtype == "uint16" and tok.vocab_size > 2**16:
        sys.exit(f"tokenize_shards: the {tok.name} vocabulary ({tok.vocab_size}) does not fit "
                 "uint16: use --dtype uint32 (or auto)")
    os.makedirs(args.out, exist_ok=True)
    writer = ShardWriter(args.out, args.name, dtype, args.shard_tokens, args.val_tokens)
    for doc in documents(args.inputs, args.jsonl, args.field):
        writer.add(([tok.eot] if tok.eot is not None else []) + tok.encode(doc))
    writer.close()
    if not writer.written:
        sys.exit("tokenize_shards: the inputs hold no text: no shard written")
    total = sum(n for _, n in writer.written)
    print(f"tokenize_shards: {total} tokens ({tok.name}, vocabulary {tok.vocab_size}, {dtype}) "
          f"in {len(writer.written)} shards under {args.out}")
    for path, n in writer.written:
        print(f"  {path}: {n} tokens")


if __name__ == "__main__":
    main()
