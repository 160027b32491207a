#!/usr/bin/env python3
"""Multi-node step time of trainrun vs PyTorch DDP (torchrun, Gloo) over network namespaces.

Each node is a Linux network namespace (tests/support/netns_hosts.py): its own eth0 on a
shared bridge, addresses 192.0.2.1..N, egress shaped with `tc tbf` to --rates. Both sides run
one launcher per node, as users run one per machine: `trainrun --nnodes N --node-rank i
--rdzv-endpoint 192.0.2.1:PORT` and `python -m torch.distributed.run --nnodes N --node-rank i
--master-addr 192.0.2.1` running ddp_step_time.py's PyTorch DDP worker (imported, not copied).
Weak scaling: 1 rank per node, a fixed per-rank batch (global batch = per-rank batch x ranks),
the same MLP, synthetic data, SGD + momentum, 25 MB buckets, Gloo and 1 thread per rank on
both sides. Step time is rank 0's median step over all steps (as in ddp_step_time.py); the
reported value is the median over trials, which alternate sides. Efficiency is a side's
1-node step time over its N-node step time (1.0 = perfect weak scaling).

The namespaces share one machine's CPUs, so N nodes compete for its cores: this measures
protocol and compute/communication overlap under a rate limit, not a real cluster.

Needs root (network namespaces, tc). usage:
  .venv/bin/python3 benchmarks/multinode_step_time.py [--nodes 1,2,4] [--rates 10gbit,1gbit]
      [--steps 150] [--trials 3] [--json out.json]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tests/support"))
import ddp_step_time as base  # noqa: E402  (shapes and the PyTorch DDP worker)
import netns_hosts  # noqa: E402
from harness import BIN_DIR, CONFIG, REPO  # noqa: E402

MASTER = "192.0.2.1"
IFNAME = "eth0"  # every node's interface in netns_hosts


def clean_env(**extra):
    """A node's environment (netns_hosts.node_env): one thread per rank, Gloo on eth0."""
    return netns_hosts.node_env(OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME=IFNAME, **extra)


def scaled_shape(shape_name, per_rank_batch, ranks):
    """ddp_step_time's shape with the global batch of `ranks` ranks at `per_rank_batch` each."""
    name, features, hidden, classes, _ = next(s for s in base.SHAPES if s[0] == shape_name)
    return (name, features, hidden, classes, per_rank_batch * ranks)


def run_nodes(hosts, nodes, per_node_cmd, env, timeout):
    """Runs per_node_cmd(i) on nodes 0..nodes-1 at once; raises with the first failure's output."""
    procs = [hosts.popen(i, per_node_cmd(i), env=env, cwd=REPO) for i in range(nodes)]
    results = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            results.append((p.returncode, out, err))
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"a {nodes}-node run took over {timeout} s: {per_node_cmd(0)}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for i, (code, out, err) in enumerate(results):
        if code != 0:
            tail = "\n".join((out + err).strip().splitlines()[-15:])
            raise RuntimeError(f"node {i} of {nodes} exited {code}: {per_node_cmd(i)}\n{tail}")
    return results


def trainrun_step_ms(hosts, args, shape, nodes, port):
    name, features, hidden, classes, batch = shape
    with tempfile.TemporaryDirectory(prefix="trainrun_mnbench_") as tmp:
        # Same job as ddp_step_time.trainrun_step_ms, one output folder per node.
        def sets(i):
            return {"train.steps": args.steps, "train.global_batch_size": batch,
                    "train.log_every": args.steps, "train.eval_every": 0,
                    "data.name": "synthetic", "data.synthetic_features": features,
                    "data.synthetic_classes": classes,
                    "data.synthetic_samples": max(16384, batch * 8), "data.eval_fraction": 0.05,
                    "model.hidden": "[" + ",".join(map(str, hidden)) + "]",
                    "output.dir": os.path.join(tmp, f"node{i}"), "run.name": "bench",
                    "checkpoint.uri": "", "resume": "never",
                    "dist.backend": args.trainrun_backend,
                    "dist.bucket_cap_mb": 25, "dist.timeout_s": args.timeout}

        def cmd(i):
            c = [os.path.join(args.bin_dir, "trainrun"), "--nnodes", str(nodes),
                 "--nproc-per-node", str(args.nproc_per_node), "--node-rank", str(i),
                 "--rdzv-endpoint",
                 f"{MASTER}:{port}", "--rdzv-id", f"mnbench{port}", "--rdzv-conf",
                 f"timeout={args.timeout}", CONFIG]
            for k, v in sets(i).items():
                c += ["--set", f"{k}={v}"]
            return c

        run_nodes(hosts, nodes, cmd, clean_env(), args.timeout)
        with open(os.path.join(tmp, "node0", "metrics.json")) as f:
            return json.load(f)["step_time_ms_median"]


def pytorch_step_ms(hosts, args, shape, nodes, port):
    with tempfile.TemporaryDirectory(prefix="torch_mnbench_") as tmp:
        result = os.path.join(tmp, "result.json")

        def cmd(i):
            return [sys.executable, "-m", "torch.distributed.run", "--nnodes", str(nodes),
                    "--nproc-per-node", str(args.nproc_per_node), "--node-rank", str(i),
                    "--master-addr", MASTER,
                    "--master-port", str(port), os.path.abspath(__file__), "--torch-worker",
                    shape[0], "--batch-per-rank", str(args.batch_per_rank), "--steps",
                    str(args.steps), "--json", result]

        run_nodes(hosts, nodes, cmd, clean_env(), args.timeout)
        with open(result) as f:
            return json.load(f)


def torch_worker(shape_name, per_rank_batch, steps, result_path):
    """One rank under torchrun: ddp_step_time's PyTorch DDP worker at this job's world size."""
    world = int(os.environ["WORLD_SIZE"])
    shape = scaled_shape(shape_name, per_rank_batch, world)
    # The imported worker splits its shape's global batch over base.NPROC ranks.
    base.NPROC = world
    base.SHAPES = [shape]
    return base.torch_worker(shape_name, steps, result_path)


def fail(msg):
    print(f"multinode_step_time: {msg}", file=sys.stderr)
    return 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", default="1,2,4", help="node counts (default 1,2,4)")
    ap.add_argument("--nproc-per-node", type=int, default=1,
                    help="ranks per node on both sides (default 1)")
    ap.add_argument("--trainrun-backend", default="gloo",
                    help="trainrun's dist.backend (default gloo, PyTorch's; auto picks shm on "
                         "one node and times gloo vs hierarchical across nodes)")
    ap.add_argument("--rates", default="10gbit,1gbit",
                    help="tc tbf egress rate of every node's link (default 10gbit,1gbit)")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--shape", default="mlp-1k", choices=[s[0] for s in base.SHAPES])
    ap.add_argument("--batch-per-rank", type=int, default=128,
                    help="fixed per-rank batch (default 128: ddp_step_time's mlp-1k per rank)")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per run before giving up")
    ap.add_argument("--bin-dir", default=BIN_DIR)
    ap.add_argument("--json", help="also write every trial and the medians here")
    ap.add_argument("--torch-worker", metavar="SHAPE", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_worker:
        return torch_worker(args.torch_worker, args.batch_per_rank, args.steps, args.json)

    node_counts = sorted({int(n) for n in args.nodes.split(",")})
    rates = [r for r in args.rates.split(",") if r]
    if not node_counts or node_counts[0] < 1 or not rates:
        return fail("--nodes needs counts >= 1 and --rates at least one rate")
    trainrun = os.path.join(args.bin_dir, "trainrun")
    if not os.access(trainrun, os.X_OK):
        return fail(f"no trainrun at {trainrun} (build it or pass --bin-dir)")
    if os.geteuid() != 0:
        return fail("needs root to create network namespaces and tc qdiscs (run with sudo)")
    if not netns_hosts.available():
        return fail("cannot create network namespaces here (`ip netns add` failed: missing "
                    "iproute2 or CAP_SYS_ADMIN, e.g. an unprivileged container)")

    multi = [n for n in node_counts if n > 1]
    trials = []  # {"trial", "side", "nodes", "rate", "step_ms"}
    port = 29600
    for trial in range(args.trials):
        # A rate's Hosts live for one pass over its layouts; 1 node sends nothing over its
        # link, so it runs once per trial (under the first rate's shaping) and is every
        # rate's baseline.
        for ri, rate in enumerate(rates):
            layouts = ([1] if 1 in node_counts and ri == 0 else []) + multi
            if not layouts:
                continue
            try:
                hosts = netns_hosts.Hosts(max(layouts), rate=rate)
            except subprocess.CalledProcessError as e:
                return fail(f"setting up {max(layouts)} namespaces at {rate} failed: "
                            f"{' '.join(e.cmd)}: {(e.stderr or '').strip()}")
            try:
                for nodes in layouts:
                    shape = scaled_shape(args.shape, args.batch_per_rank,
                                         nodes * args.nproc_per_node)
                    for side, fn in (("trainrun", trainrun_step_ms),
                                     ("pytorch", pytorch_step_ms)):
                        port += 1
                        ms = fn(hosts, args, shape, nodes, port)
                        trials.append({"trial": trial, "side": side, "nodes": nodes,
                                       "rate": rate if nodes > 1 else None, "step_ms": ms})
                        print(f"trial {trial + 1}/{args.trials} {nodes} node(s) "
                              f"{rate if nodes > 1 else '-'} {side}: {ms:.3f} ms/step",
                              file=sys.stderr, flush=True)
            except RuntimeError as e:
                print(f"multinode_step_time: {e}", file=sys.stderr)
                return 1
            finally:
                hosts.close()

    def med(side, nodes, rate):
        v = [t["step_ms"] for t in trials
             if t["side"] == side and t["nodes"] == nodes and t["rate"] == rate]
        return statistics.median(v) if v else None

    rows = []
    keys = ([(1, None)] if 1 in node_counts else []) + [(n, r) for r in rates for n in multi]
    for nodes, rate in keys:
        a, b = med("trainrun", nodes, rate), med("pytorch", nodes, rate)
        a1, b1 = med("trainrun", 1, None), med("pytorch", 1, None)
        rows.append({"nodes": nodes, "ranks": nodes * args.nproc_per_node, "rate": rate,
                     "global_batch": args.batch_per_rank * nodes * args.nproc_per_node, "trainrun_ms": a,
                     "pytorch_ms": b, "ratio": a / b,
                     "trainrun_efficiency": a1 / a if a1 else None,
                     "pytorch_efficiency": b1 / b if b1 else None})

    name, features, hidden, classes, _ = scaled_shape(args.shape, args.batch_per_rank, 1)
    widths = "-".join(map(str, [features] + hidden + [classes]))
    print(f"# {args.shape} ({widths}), {args.batch_per_rank} samples/rank, "
          f"{args.nproc_per_node} rank(s)/node, 1 thread/rank, {args.steps} steps, median of "
          f"{args.trials} trials (each rank 0's median step); trainrun dist.backend="
          f"{args.trainrun_backend}, PyTorch Gloo; nodes are network namespaces on one machine")
    print(f"{'nodes':>5} {'rate':>8} {'batch':>7} {'trainrun':>9} {'pytorch':>9} {'ratio':>6} "
          f"{'trainrun':>8} {'pytorch':>8}")
    print(f"{'':>5} {'tc tbf':>8} {'global':>7} {'':>9} {'':>9} {'tr/pt':>6} {'eff':>8} "
          f"{'eff':>8}")
    print(f"{'count':>5} {'':>8} {'samples':>7} {'ms/step':>9} {'ms/step':>9} {'x':>6} "
          f"{'t1/tN':>8} {'t1/tN':>8}")
    for r in rows:
        eff = [f"{e:>8.2f}" if e is not None else f"{'-':>8}"
               for e in (r["trainrun_efficiency"], r["pytorch_efficiency"])]
        print(f"{r['nodes']:>5} {r['rate'] or '-':>8} {r['global_batch']:>7} "
              f"{r['trainrun_ms']:>9.3f} {r['pytorch_ms']:>9.3f} {r['ratio']:>6.2f} "
              f"{eff[0]} {eff[1]}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "multinode_step_time", "shape": args.shape,
                       "widths": [features] + hidden + [classes],
                       "batch_per_rank": args.batch_per_rank, "steps": args.steps,
                       "trials_per_point": args.trials, "nodes": node_counts, "rates": rates,
                       "cpus": os.cpu_count(), "trials": trials, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
