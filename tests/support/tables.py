"""Small tables for the data.name=table tests (tests/integration/test_table.py, test_pipeline.py,
tests/image/test_image.py): three features on very different scales and a label, written as
Parquet, CSV and gzip CSV, and read back as tensors."""
import csv
import gzip
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

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
