#!/usr/bin/env python3
"""A rendezvous that survives node 0 (--rdzv-backend etcd), over network namespaces
(netns_hosts.py): etcd runs on a host of its own, three nodes run `trainrun --nnodes 2:3
--rdzv-backend etcd`; kill -9 of node 0's whole process tree mid-run: another node takes the
leader lease, the job goes on with 2 nodes, finishes with the parameters of a 1-rank run within
1e-5, and no process is left behind. Also: an etcd endpoint where nothing listens is one error
line naming it, in seconds; etcd over TLS with client certificates (loopback) trains, and
without the client certificate is one line; a run id that ran before is refused in one line. Needs root and etcd: in CI (CI set) a missing one
fails the test."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../support"))
import netns_hosts  # noqa: E402
from harness import (CONFIG, DATA, RECOVERED, REPO, TRAINRUN, alive, children,  # noqa: E402
                     free_port, max_rel_diff, params, step_line, thin_steps)

# As in test_elastic_nodes.py: few steps (runs of different world sizes drift apart beyond 1e-5
# over many hundreds of steps), links shaped so each step takes ~0.1 s. A log line per step
# times the recovery to the step.
STEPS = 300
RATE = "30mbit"
JOB = ["--set", f"data.path={DATA}", "--set", f"train.steps={STEPS}", "--set",
       "train.log_every=1", "--set", "train.eval_every=0", "--set", "dist.timeout_s=60",
       "--set", "checkpoint.every_steps=50"]
ETCD_HOST = 3  # the fourth namespace holds etcd; nodes run on the first three
ETCD = "192.0.2.4:2379"
STEP = step_line(rank=None)  # the prefix keeps the launch rank


def tree(pid):
    """`pid` and all its descendants."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            todo += children(p)
        except FileNotFoundError:
            pass
    return pids


@unittest.skipUnless((netns_hosts.available() and shutil.which("etcd")) or os.environ.get("CI"),
                     "needs root for network namespaces and etcd (CI has both)")
class EtcdNodes(unittest.TestCase):
    def setUp(self):
        self.hosts = netns_hosts.Hosts(4, rate=RATE)
        self.addCleanup(self.hosts.close)
        self.tmp = tempfile.TemporaryDirectory(prefix="trainrun_etcd_nodes_")
        self.addCleanup(self.tmp.cleanup)
        self.lines = []  # (node slot, arrival time, line) of every launcher
        self.lock = threading.Lock()
        self.start_etcd()

    def start_etcd(self):
        peer = "http://127.0.0.1:2380"  # the etcd namespace's own loopback
        self.etcd = self.hosts.popen(ETCD_HOST, [
            "etcd", "--name", "rdzv", "--data-dir", os.path.join(self.tmp.name, "etcd"),
            "--listen-client-urls", f"http://{ETCD}", "--advertise-client-urls",
            f"http://{ETCD}", "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"rdzv={peer}"])
        self.etcd.stdout.close()
        threading.Thread(target=self.etcd.stderr.read, daemon=True).start()  # never blocks

        def stop():
            self.etcd.kill()
            self.etcd.wait()
        self.addCleanup(stop)
        deadline = time.monotonic() + 30
        while self.etcdctl("endpoint", "health").returncode != 0:
            self.assertIsNone(self.etcd.poll(), "etcd exited")
            self.assertLess(time.monotonic(), deadline, "etcd did not come up in 30 s")
            time.sleep(0.2)

    def start(self, host, out):
        env = netns_hosts.node_env(OMP_NUM_THREADS="1")  # the namespaces share this machine's cores
        args = [TRAINRUN, "--nnodes", "2:3", "--nproc-per-node", "1", "--rdzv-backend", "etcd",
                "--rdzv-endpoint", ETCD, "--rdzv-id", "etcd-nodes", "--rdzv-conf",
                "last_call_timeout=5", "--grace-period", "2", CONFIG, "--set",
                f"output.dir={out}", "--set", f"checkpoint.uri={out}_ckpt"] + JOB
        p = self.hosts.popen(host, args, env=env, cwd=REPO)

        def pump(stream):
            for line in stream:
                with self.lock:
                    self.lines.append((host, time.monotonic(), line))
        for stream in (p.stdout, p.stderr):
            threading.Thread(target=pump, args=(stream,), daemon=True).start()
        return p

    def wait_for(self, pattern, within):
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with self.lock:
                for _, _, line in self.lines:
                    m = re.search(pattern, line)
                    if m:
                        return m
            time.sleep(0.1)
        self.fail(f"no '{pattern}' within {within} s:\n{self.log(every=25)}")

    def etcdctl(self, *args):
        return subprocess.run(["ip", "netns", "exec", self.hosts.names[0], "etcdctl",
                               f"--endpoints=http://{ETCD}"] + list(args), capture_output=True,
                              text=True, env=dict(os.environ, ETCDCTL_API="3"))

    def wait_for_arrival(self):
        """Until the first node has taken its id (the counter's key, under the secret prefix)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            keys = self.etcdctl("get", "--prefix", "rdzv/etcd-nodes/", "--keys-only").stdout
            if any(k.endswith("/arrivals") for k in keys.split()):
                return
            time.sleep(0.1)
        self.fail(f"no node arrived in 30 s:\n{self.log(every=25)}")

    def log(self, every=1):
        """Every launcher's output, prefixed by its node slot; every=N keeps one step line in N."""
        with self.lock:
            log = "".join(f"node{slot}: {line}" for slot, _, line in self.lines)
        return log if every == 1 else thin_steps(log, every)

    def test_killing_node_0_leaves_the_job_going(self):
        ref = os.path.join(self.tmp.name, "ref")
        p = subprocess.run([TRAINRUN, "--nproc-per-node", "1", CONFIG, "--set", f"output.dir={ref}",
                            "--set", f"checkpoint.uri={ref}_ckpt"] + JOB, cwd=REPO,
                           capture_output=True, text=True, timeout=300, env=netns_hosts.node_env())
        self.assertEqual(p.returncode, 0, p.stderr)
        out = os.path.join(self.tmp.name, "job")
        procs = [self.start(0, out)]
        self.wait_for_arrival()  # the first to arrive is node 0
        procs += [self.start(i, out) for i in (1, 2)]
        self.wait_for(r"starting with 3 node\(s\)", 60)
        self.wait_for(r"^\[rank 0\] step=60/", 120)
        with self.lock:
            first = [line for slot, _, line in self.lines if slot == 0 and "node 0 of 3" in line]
        self.assertTrue(first, self.log(every=25))  # the launcher on host 0 is node 0
        victims = tree(procs[0].pid)
        survivors = [tree(p.pid) for p in procs[1:]]
        self.assertGreaterEqual(len(victims), 2, "node 0 runs its launcher and a rank")
        killed_at = time.monotonic()
        for pid in victims:  # the whole node at once: launcher and ranks
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        procs[0].wait(timeout=30)
        self.wait_for(r"node 0 lost; the job goes on with 2 node\(s\), world_size=2", 30)
        self.wait_for(r"node [12] leads the job's membership now", 5)
        for proc in procs[1:]:
            proc.wait(timeout=240)
        log = self.log()
        brief = self.log(every=25)  # what a failure message shows
        for proc in procs[1:]:
            self.assertEqual(proc.returncode, 0, brief)
        rec = [m for m in RECOVERED.finditer(log) if m.group(2) == "2"]
        self.assertTrue(rec, brief)
        for m in RECOVERED.finditer(log):
            self.assertLessEqual(int(m.group(4)), 1, brief)
        # Recovery: from the kill to the first step completed after the group re-formed.
        with self.lock:
            lines = list(self.lines)
        redone_from = int(rec[0].group(3))  # the step the re-formed group went on from
        resumed_at = min((t for _, t, line in lines if STEP.match(line) and t > killed_at and
                          int(STEP.match(line).group(1)) > redone_from), default=None)
        self.assertIsNotNone(resumed_at, brief)
        print(f"etcd rendezvous: node 0 killed -> first completed step after it: "
              f"{resumed_at - killed_at:.1f} s ({rec[0].group(0)})", flush=True)
        self.assertLessEqual(max_rel_diff(params(ref), params(out)), 1e-5)
        time.sleep(0.5)
        left = [pid for pid in victims + sum(survivors, []) if alive(pid)]
        self.assertEqual(left, [], "processes left behind")


class EtcdEndpoint(unittest.TestCase):
    def test_nothing_listening_is_one_line_naming_the_endpoint(self):
        port = free_port()  # a port nothing listens on
        start = time.monotonic()
        p = subprocess.run([TRAINRUN, "--nnodes", "2", "--rdzv-backend", "etcd", "--rdzv-endpoint",
                            f"127.0.0.1:{port}", "--rdzv-id", "nowhere", CONFIG],
                           cwd=REPO, capture_output=True, text=True, timeout=60, env=netns_hosts.node_env())
        took = time.monotonic() - start
        self.assertNotEqual(p.returncode, 0)
        lines = [line for line in p.stderr.splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertIn(f"etcd at 127.0.0.1:{port}", lines[0])
        self.assertLess(took, 10, p.stderr)

    def loopback_etcd(self, certs=None):
        """etcd on loopback (over TLS trusting only client certificates that test_certs.sh's CA
        signed, when `certs` names its folder); returns its port. Stopped at the test's end."""
        data = tempfile.TemporaryDirectory(prefix="trainrun_etcd_")
        self.addCleanup(data.cleanup)
        port, peer = free_port(), f"http://127.0.0.1:{free_port()}"
        url = f"{'https' if certs else 'http'}://127.0.0.1:{port}"
        tls = ["--cert-file", f"{certs}/server.pem", "--key-file", f"{certs}/server.key",
               "--client-cert-auth", "--trusted-ca-file", f"{certs}/ca.pem"] if certs else []
        etcd = subprocess.Popen([
            "etcd", "--name", "lo", "--data-dir", data.name, "--listen-client-urls", url,
            "--advertise-client-urls", url, "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer, "--initial-cluster", f"lo={peer}"] + tls,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def stop():
            etcd.kill()
            etcd.wait()
        self.addCleanup(stop)
        return port

    def run_one_node(self, port, rdzv_id, conf=""):
        """A 1:2-node job of 2 ranks: elastic, so even one node forms it through etcd (a fixed
        single node needs no rendezvous); it starts after last_call_timeout. Retried while
        etcd is still starting (it serves about a second after it starts)."""
        out = os.path.join(self.tmp.name, rdzv_id)
        args = [TRAINRUN, "--nnodes", "1:2", "--nproc-per-node", "2", "--rdzv-backend", "etcd",
                "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", rdzv_id, "--rdzv-conf",
                conf + "last_call_timeout=1", CONFIG, "--set", f"data.path={DATA}", "--set",
                "train.steps=20", "--set", "train.eval_every=0", "--set", f"output.dir={out}",
                "--set", f"checkpoint.uri={out}_ckpt"]
        deadline = time.monotonic() + 30
        while True:
            p = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=120,
                               env=netns_hosts.node_env())
            if "cannot reach" not in p.stderr or time.monotonic() > deadline:
                return p
            time.sleep(0.5)

    def one_line(self, p):
        lines = [line for line in p.stderr.splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, p.stderr)
        return lines[0]

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="trainrun_etcd_endpoint_")
        self.addCleanup(self.tmp.cleanup)

    @unittest.skipUnless(shutil.which("etcd") or os.environ.get("CI"), "needs etcd (CI has it)")
    def test_tls_with_a_client_certificate_reaches_the_ranks_too(self):
        # The launcher's --rdzv-conf keys (torchrun's names) reach its ranks, whose store is etcd
        # too (an elastic job's ranks join its generations there).
        certs = os.path.join(self.tmp.name, "certs")
        os.mkdir(certs)
        subprocess.run(["sh", os.path.join(REPO, "tests/support/test_certs.sh"), certs,
                        "127.0.0.1"], check=True, capture_output=True)
        port = self.loopback_etcd(certs)
        tls = f"protocol=https,ca_cert={certs}/ca.pem,"
        client = f"ssl_cert={certs}/client.pem,ssl_cert_key={certs}/client.key,"
        p = self.run_one_node(port, "tls", tls + client)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("world_size=2", p.stdout)
        # Without the client certificate etcd refuses the handshake: one line saying what to fix.
        p = self.run_one_node(port, "tls-no-client-cert", tls)
        self.assertNotEqual(p.returncode, 0, p.stderr)
        line = self.one_line(p)
        self.assertIn("TLS failed", line)
        self.assertIn("ssl_cert and ssl_cert_key", line)

    @unittest.skipUnless(shutil.which("etcd") or os.environ.get("CI"), "needs etcd (CI has it)")
    def test_a_run_id_that_ran_before_is_refused_in_one_line(self):
        # etcd keeps a run's keys: a second launch under the same id would join what the first
        # left (its generations, its rank 0's job). A new id runs.
        port = self.loopback_etcd()
        p = self.run_one_node(port, "again")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.run_one_node(port, "again")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("run 'again' on etcd at", self.one_line(p))
        self.assertIn("ran before, and it ended", p.stderr)
        self.assertIn("etcdctl del --prefix rdzv/again/", p.stderr)
        self.assertEqual(self.run_one_node(port, "again-2").returncode, 0)

if __name__ == "__main__":
    unittest.main(verbosity=2)
