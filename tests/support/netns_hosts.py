"""Test hosts as Linux network namespaces: one per node, joined by veth pairs to a bridge that
lives in a namespace of its own (the machine's own network is never touched), addresses
192.0.2.1.. (TEST-NET-1), optional tc tbf rate limits. Needs root; torn down on exit."""
import os
import subprocess


def sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


class Hosts:
    def __init__(self, n, rate=None, burst="256kb"):
        tag = f"tr{os.getpid() % 100000}"
        self.switch = f"{tag}sw"
        self.names = [f"{tag}n{i}" for i in range(n)]
        self.addrs = [f"192.0.2.{i + 1}" for i in range(n)]
        try:
            sh("ip", "netns", "add", self.switch)
            sh("ip", "netns", "exec", self.switch, "ip", "link", "add", "br0", "type", "bridge")
            sh("ip", "netns", "exec", self.switch, "ip", "link", "set", "br0", "up")
            for i, name in enumerate(self.names):
                sh("ip", "netns", "add", name)
                sh("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
                # The pair is born inside the node, so no interface ever appears on the machine.
                sh("ip", "netns", "exec", name, "ip", "link", "add", "eth0", "type", "veth",
                   "peer", "name", f"p{i}", "netns", self.switch)
                sh("ip", "netns", "exec", name, "ip", "addr", "add", f"{self.addrs[i]}/24",
                   "dev", "eth0")
                sh("ip", "netns", "exec", name, "ip", "link", "set", "eth0", "up")
                sh("ip", "netns", "exec", self.switch, "ip", "link", "set", f"p{i}", "master",
                   "br0")
                sh("ip", "netns", "exec", self.switch, "ip", "link", "set", f"p{i}", "up")
                if rate:
                    sh("ip", "netns", "exec", name, "tc", "qdisc", "add", "dev", "eth0", "root",
                       "tbf", "rate", rate, "burst", burst, "latency", "50ms")
        except BaseException:
            self.close()
            raise

    def popen(self, i, args, env=None, **kw):
        """Runs args on host i (its own network namespace; same filesystem)."""
        return subprocess.Popen(["ip", "netns", "exec", self.names[i]] + list(args), env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)

    def close(self):
        for name in self.names + [self.switch]:
            sh("ip", "netns", "del", name, check=False)


def node_env(**extra):
    """This environment without the launcher and scheduler variables (torchrun's, Slurm's,
    Batch's, Kubeflow's) that would steer a node's launcher, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "PET_", "AWS_BATCH_", "TORCHELASTIC_")) and
           k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK",
                     "LOCAL_WORLD_SIZE", "GROUP_RANK")}
    env.update(extra)
    return env


def available():
    """True if this process may create network namespaces (root with ip(8))."""
    if os.geteuid() != 0:
        return False
    probe = f"trprobe{os.getpid() % 100000}"
    ok = sh("ip", "netns", "add", probe, check=False).returncode == 0
    sh("ip", "netns", "del", probe, check=False)
    return ok
