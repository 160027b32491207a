#!/usr/bin/env python3
"""The scaling report: `trainrun bench scaling` on 1, 2 and 4 "nodes" (network namespaces from
tests/support/netns_hosts.py, every node's egress shaped by `tc tbf` to --rate), for each
config, weak and strong scaling, gradient compression none vs fp16 (--sweep), with the
predictor's line beside the measured one. The link model comes from a two-node
`trainrun bench allreduce --json` over the same links. Writes per config: scaling-<name>.png,
scaling-<name>.json and the table (stdout) under --out.

The namespaces share this machine's cores, so every rank runs one thread (OMP_NUM_THREADS=1):
a node here is one core's share, not a real machine.

Needs root. usage:
  .venv/bin/python3 benchmarks/scaling_report.py [--rate 100mbit] [--configs digits-mlp,gpt-tiny]
      [--steps 30] [--out bench-out/scaling]
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tests/support"))
import netns_hosts  # noqa: E402
from harness import BIN_DIR, DATA, REPO, config  # noqa: E402


def env():
    return netns_hosts.node_env(OMP_NUM_THREADS="1")


def fit_link(hosts, trainrun, path):
    procs = [hosts.popen(i, [trainrun, "bench", "allreduce", "--nnodes", "2", "--node-rank",
                             str(i), "--rdzv-endpoint", "192.0.2.1:29710", "--rdzv-id", "link",
                             "--backend", "gloo", "-b", "64K", "-e", "8M", "-w", "2", "-n", "5",
                             "--json", path], env=env(), cwd=REPO) for i in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=600)
        if p.returncode != 0:
            sys.exit(f"the link benchmark failed:\n{out}\n{err}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", default="100mbit")
    ap.add_argument("--configs", default="digits-mlp,gpt-tiny")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--nodes", default="1,2,4")
    ap.add_argument("--out", default=os.path.join(REPO, "bench-out", "scaling"))
    ap.add_argument("--bin-dir", default=BIN_DIR)
    args = ap.parse_args()
    trainrun = os.path.join(args.bin_dir, "trainrun")
    os.makedirs(args.out, exist_ok=True)
    nodes = max(int(n) for n in args.nodes.split(","))
    hosts = netns_hosts.Hosts(nodes, rate=args.rate, burst="64kb")
    try:
        link = os.path.join(args.out, f"allreduce-{args.rate}.json")
        fit_link(hosts, trainrun, link)
        for name in args.configs.split(","):
            cmd = [trainrun, "bench", "scaling", config(name),
                   "--nodes", args.nodes, "--mode", "both", "--steps", str(args.steps),
                   "--hosts", ",".join(hosts.addrs),
                   "--remote", f"ip netns exec {hosts.names[0][:-1]}{{node}}",
                   "--port", "29720", "--link", link,
                   "--sweep", "dist.compression=none,fp16", "--set", "dist.timeout_s=120",
                   "--out", os.path.join(args.out, f"runs-{name}"),
                   "--json", os.path.join(args.out, f"scaling-{name}.json"),
                   "--plot", os.path.join(args.out, f"scaling-{name}.png")]
            if name.startswith("digits"):
                cmd += ["--set", f"data.path={DATA}"]
            p = subprocess.run(cmd, env=env(), cwd=REPO, text=True, capture_output=True)
            print(p.stdout, end="")
            if p.returncode != 0:
                sys.exit(f"{name}: {p.stderr}")
    finally:
        hosts.close()


if __name__ == "__main__":
    main()
