"""What the Python tests, benchmarks and scripts share: the repository's paths, free ports,
a moto_server (S3 on loopback), the training log's step line, and the process tree under
/proc. Everything that imports it puts this folder on sys.path from its own location:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../support"))
    import harness  # noqa: E402

(benchmarks/ and scripts/ use "../tests/support"). Beside it, for the tests that need them:
netns_hosts.py (nodes as network namespaces), fault_proxy.py and fault_cycles.py (S3 faults),
tables.py (table fixtures), bad_location.py (storage that cannot work). None of them is a test."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

# --- Paths -----------------------------------------------------------------------------------
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The built binaries: ctest sets TRAINRUN_BIN_DIR to the build folder; by hand, REPO/build.
BIN_DIR = os.environ.get("TRAINRUN_BIN_DIR", os.path.join(REPO, "build"))
TRAINRUN = os.path.join(BIN_DIR, "trainrun")
WORKER = os.path.join(BIN_DIR, "trainrun-worker")
CONFIGS = os.path.join(REPO, "configs")
CONFIG = os.path.join(CONFIGS, "digits-mlp.yaml")  # the job most tests train
DATA = os.path.join(REPO, "data", "digits.csv.gz")


def config(name):
    """configs/<name>.yaml."""
    return os.path.join(CONFIGS, f"{name}.yaml")


# --- Ports -----------------------------------------------------------------------------------
def free_port(host="127.0.0.1"):
    """A TCP port nothing listens on at the moment (on `host`)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# --- The training log ------------------------------------------------------------------------
def step_line(rank=0):
    """A training step's log line from launch rank `rank` (None: any rank), matched from the
    line's start: `[rank R] step=S/T epoch=`. Group 1 (`step`) is the step; `steps`, the total,
    is absent from PyTorch-side lines that print `step=S epoch=`."""
    who = r"\d+" if rank is None else str(rank)
    return re.compile(rf"^\[rank {who}\] step=(?P<step>\d+)(?:/(?P<steps>\d+))? epoch=")


STEP_LINE = step_line(0)
# Rank 0's whole step line; plain decimals only: a value with an exponent (6e-05) must not match.
LOG_LINE = re.compile(r"^\[rank 0\] step=(\d+)/(\d+) epoch=(\d+) train_loss=([\d.]+) lr=([\d.]+) "
                      r"samples_per_sec=([\d.]+) step_ms=([\d.]+) eta_s=([\d.]+) ")
COMMITTED = re.compile(r"checkpoint step=(\d+) committed=")
RESUMED = re.compile(r"resumed=(\S+) step=(\d+) saved_world_size=(\d+)")
# An elastic recovery: generation, new world size, the step redone, the steps lost.
RECOVERED = re.compile(r"recovered_generation=(\d+) world_size=(\d+) step=(\d+) lost_steps=(\d+)")


def thin_steps(log, every=50):
    """`log` with its step lines thinned to one per `every` steps (and each line's prefix kept):
    a failure message that fits a CI log's window and still shows every other line."""
    step = re.compile(r"\[rank \d+\] step=(\d+)[/ ]")
    kept = [line for line in log.splitlines(keepends=True)
            if not (m := step.search(line)) or int(m.group(1)) % every == 0]
    return "".join(kept)


def run_trainrun(args, timeout=120, **kw):
    """`trainrun ARGS` from the repository's root, its output captured as text."""
    return subprocess.run([TRAINRUN] + args, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, **kw)


def run_until_first_commit(cmd, env=None):
    """Starts a job, and SIGTERMs the launcher (a spot preemption) once a checkpoint commits."""
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    step = None
    for line in proc.stdout:
        m = COMMITTED.search(line)
        if m:
            step = int(m.group(1))
            proc.send_signal(signal.SIGTERM)
            break
    out, err = proc.communicate(timeout=60)
    assert step is not None, f"no checkpoint was committed:\n{out}\n{err}"
    assert proc.returncode != 0, "the run finished before it could be preempted"
    return step


def params(out_dir):
    """The parameters of the model.pt a run wrote to `out_dir`/model."""
    import torch  # only the tests that compare parameters need it
    return torch.jit.load(os.path.join(out_dir, "model", "model.pt")).state_dict()


def max_rel_diff(a, b):
    """max over tensors of max|a - b| / max|a| (relative to each tensor's scale)."""
    return max(((a[k] - b[k]).abs().max() / a[k].abs().max()).item() for k in a)


# --- moto_server -----------------------------------------------------------------------------
def have_moto(aws=True):
    """moto_server (and the aws CLI) on PATH; scripts/setup.sh installs them."""
    return bool(shutil.which("moto_server") and (not aws or shutil.which("aws")))


class MotoServer:
    """moto_server on a free loopback port, accepting any signature unless `server_env` says
    otherwise (INITIAL_NO_AUTH_ACTION_COUNT). `env` is a client environment aimed at it
    (test credentials, us-east-1, no profile, no EC2 metadata); callers may change it."""

    def __init__(self, **server_env):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                        AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=self.endpoint,
                        AWS_EC2_METADATA_DISABLED="true")
        self.env.pop("AWS_PROFILE", None)
        self.proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     env=dict(self.env, **server_env),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:  # wait for the port without a request (moto may count requests)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("moto_server did not start")
                time.sleep(0.2)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def aws(self, *args, check=True):
        """The aws CLI aimed at this server, with self.env."""
        return subprocess.run(["aws", "--endpoint-url", self.endpoint, *args], env=self.env,
                              capture_output=True, text=True, check=check, timeout=60)

    def url(self, path):
        return f"{self.endpoint}/{path}"

    def create_bucket(self, bucket):
        """An unsigned PUT (moto accepts it): no aws CLI needed."""
        urllib.request.urlopen(urllib.request.Request(self.url(bucket), method="PUT"),
                               timeout=30).read()

    def keys(self, bucket, prefix):
        """Every key under `prefix`, read unsigned and straight from the server."""
        keys, token = [], None
        while True:
            query = {"list-type": "2", "prefix": prefix}
            if token:
                query["continuation-token"] = token
            body = urllib.request.urlopen(
                self.url(bucket) + "?" + urllib.parse.urlencode(query), timeout=30).read().decode()
            keys += re.findall(r"<Key>([^<]*)</Key>", body)
            m = re.search(r"<NextContinuationToken>([^<]*)</NextContinuationToken>", body)
            if "<IsTruncated>true</IsTruncated>" not in body or not m:
                return keys
            token = m.group(1)


class MotoCase(unittest.TestCase):
    """A moto_server for the test class (cls.moto), its client environment (cls.env, the same
    dict as cls.moto.env), cls.endpoint, a temporary folder (cls.tmp), and the aws CLI."""

    @classmethod
    def start_moto(cls, tmp_prefix, **server_env):
        cls.tmp = tempfile.mkdtemp(prefix=tmp_prefix)
        cls.moto = MotoServer(**server_env)
        cls.endpoint = cls.moto.endpoint
        cls.env = cls.moto.env

    @classmethod
    def tearDownClass(cls):
        cls.moto.stop()
        shutil.rmtree(cls.tmp)

    @classmethod
    def aws(cls, *args, check=True):
        return cls.moto.aws(*args, check=check)


# --- Process trees ---------------------------------------------------------------------------
def children(pid):
    """Pids of `pid`'s direct children (of every one of its threads)."""
    kids = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            kids += [int(x) for x in f.read().split()]
    return kids


def children_or_empty(pid):
    """children(pid), or [] once `pid` is gone (its /proc entry with it)."""
    try:
        return children(pid)
    except OSError:
        return []


def env_of(pid):
    """The environment `pid` started with."""
    with open(f"/proc/{pid}/environ", "rb") as f:
        pairs = [kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv]
    return {k.decode(): v.decode() for k, v in pairs}


def stat_fields(pid):
    """The fields of /proc/<pid>/stat after the command name (state first, then ppid, pgrp,
    ...), or None when `pid` is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def state(pid):
    """The process state letter (R, S, Z, ...) from /proc/<pid>/stat, or None when gone."""
    fields = stat_fields(pid)
    return fields[0] if fields else None


def alive(pid):
    """True if `pid` exists and is not a zombie (kill(pid, 0) succeeds on zombies)."""
    return state(pid) not in (None, "Z")


def in_group(pgid):
    """Pids of live (non-zombie) processes whose process group is `pgid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = stat_fields(entry)
        if fields and fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry))
    return found
