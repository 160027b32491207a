#!/usr/bin/env python3
"""Two-node jobs formed from nothing but a platform's own variables, on network-namespace
hosts (netns_hosts.py) with a default route and, per node, a hostname and /etc/hosts of their
own (`unshare --mount --uts`, the file bind-mounted over /etc/hosts), as containers have:

- AWS Batch multi-node parallel job: the main node is not told its own address and its
  hostname resolves to 127.0.1.1 (Debian's and Ubuntu's /etc/hosts); it must advertise its
  default-route interface's address, and its store listens there only (`ss -ltn`).
- Kubeflow PyTorchJob (training-operator 1.7+): PET_NNODES, PET_NODE_RANK,
  PET_NPROC_PER_NODE, MASTER_ADDR ("localhost" on the master, its service name on workers)
  and MASTER_PORT only.

Needs root: in CI (CI set) a missing capability fails the test instead of skipping it."""
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../support"))
import netns_hosts  # noqa: E402
from harness import CONFIG, DATA, REPO, TRAINRUN  # noqa: E402

# Runs the rest of the command line with this hostname and hosts file (a container's own).
IN_CONTAINER = 'hostname "$1" && mount --bind "$2" /etc/hosts && shift 2 && exec "$@"'


def job_args(out_dir):
    return [CONFIG, "--set", f"output.dir={out_dir}", "--set", f"data.path={DATA}", "--set",
            f"checkpoint.uri={out_dir}_ckpt", "--set", "train.steps=40", "--set",
            "dist.timeout_s=60"]


@unittest.skipUnless(netns_hosts.available() or os.environ.get("CI"),
                     "needs root for network namespaces (CI runs it)")
class PlatformNodes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hosts = netns_hosts.Hosts(2)
        for name in cls.hosts.names:  # a gateway that need not answer: nothing leaves
            netns_hosts.sh("ip", "netns", "exec", name, "ip", "route", "add", "default", "via",
                           "192.0.2.254", "dev", "eth0")
        cls.tmp = tempfile.TemporaryDirectory(prefix="trainrun_platform_")

    @classmethod
    def tearDownClass(cls):
        cls.hosts.close()
        cls.tmp.cleanup()

    def hosts_file(self, name, text):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def start(self, i, hostname, hosts_text, args, env):
        hosts = self.hosts_file(f"hosts-{hostname}", hosts_text)
        return self.hosts.popen(i, ["unshare", "--mount", "--uts", "sh", "-c", IN_CONTAINER, "sh",
                                    hostname, hosts, TRAINRUN] + args, env=env, cwd=REPO)

    def listening(self, i, port, procs):
        """The local addresses host i listens on at `port`, once something does."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and all(p.poll() is None for p in procs):
            out = netns_hosts.sh("ip", "netns", "exec", self.hosts.names[i], "ss", "-Hltn",
                                 f"sport = :{port}").stdout
            found = [line.split()[3] for line in out.splitlines() if line.strip()]
            if found:
                return found
            time.sleep(0.1)
        return []

    def finish(self, procs):
        results = []
        for p in procs:
            try:
                out, err = p.communicate(timeout=300)
            except subprocess.TimeoutExpired:
                for q in procs:
                    q.kill()
                raise
            results.append((p.returncode, out, err))
        for i, (code, out, err) in enumerate(results):
            self.assertEqual(code, 0, f"node {i} failed:\n{out}\n{err}")
        self.assertIn("world_size=2", results[0][1])
        return results

    def test_aws_batch_main_node_with_a_loopback_hostname(self):
        out = os.path.join(self.tmp.name, "batch")
        envs = []
        for i in range(2):
            env = dict(AWS_BATCH_JOB_ID=f"0f1e2d3c-batch#{i}", AWS_BATCH_JOB_ATTEMPT="1",
                       AWS_BATCH_JOB_NUM_NODES="2", AWS_BATCH_JOB_NODE_INDEX=str(i),
                       AWS_BATCH_JOB_MAIN_NODE_INDEX="0", AWS_BATCH_JQ_NAME="training",
                       AWS_BATCH_CE_NAME="spot")
            if i != 0:  # Batch tells the other nodes only
                env["AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS"] = "192.0.2.1"
            envs.append(netns_hosts.node_env(**env))
        procs = [self.start(i, f"ip-192-0-2-{i + 1}",
                            f"127.0.0.1 localhost\n127.0.1.1 ip-192-0-2-{i + 1}.ec2.internal "
                            f"ip-192-0-2-{i + 1}\n", job_args(out), envs[i]) for i in range(2)]
        listening = self.listening(0, 29500, procs)
        results = self.finish(procs)
        self.assertEqual(listening, ["192.0.2.1:29500"], results[0][2])
        for i, (_, _, err) in enumerate(results):
            self.assertIn(f"node {i} of 2 (aws-batch: node {i} of 2", err)
            self.assertIn("rendezvous 192.0.2.1:29500 run 0f1e2d3c-batch", err)
            self.assertNotIn("127.0.1.1", err)

    def test_kubeflow_pytorchjob_with_plain_master_addr(self):
        out = os.path.join(self.tmp.name, "kubeflow")
        master = "pytorch-digits-master-0"
        envs = [netns_hosts.node_env(PET_NNODES="2", PET_NODE_RANK=str(i), PET_NPROC_PER_NODE="1",
                                     MASTER_ADDR="localhost" if i == 0 else master,
                                     MASTER_PORT="23456") for i in range(2)]
        names = [master, "pytorch-digits-worker-0"]
        procs = [self.start(i, names[i],
                            f"127.0.0.1 localhost\n192.0.2.{i + 1} {names[i]}\n" +
                            (f"192.0.2.1 {master}\n" if i else ""), job_args(out), envs[i])
                 for i in range(2)]
        listening = self.listening(0, 23456, procs)
        results = self.finish(procs)
        self.assertEqual(listening, ["192.0.2.1:23456"], results[0][2])
        self.assertIn("node 0 of 2 (kubeflow: node 0 of 2, master localhost)", results[0][2])
        self.assertIn("rendezvous 192.0.2.1:23456", results[0][2])
        self.assertIn(f"node 1 of 2 (kubeflow: node 1 of 2, master {master})", results[1][2])
        self.assertIn(f"rendezvous {master}:23456", results[1][2])


if __name__ == "__main__":
    unittest.main(verbosity=2)
