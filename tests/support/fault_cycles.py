#!/usr/bin/python3
"""Save + kill + resume cycles of a 2-rank `trainrun` job whose S3 traffic goes through a
FaultProxy in front of moto_server; shared by tests/integration/test_storage_faults.py and
benchmarks/checkpoint_fault_soak.py.

One cycle: start the job (resume: auto), wait until it commits a checkpoint, SIGTERM it a
random moment later (as a spot preemption would), then check what the next start resumes
from against the storage itself, read straight from moto_server without faults."""
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time

from fault_proxy import KINDS, FaultProxy
from harness import COMMITTED, CONFIG, DATA, REPO, RESUMED, TRAINRUN, MotoServer

# Every verdict that a checkpoint is broken, and the give-up after them.
VERDICT = re.compile(r"skipping checkpoint|no valid checkpoint")
SAVE_WARNING = "CHECKPOINT NOT SAVED"

# The client abandons a transfer that stalls this long; the proxy's stalls last longer.
CLIENT_STALL_S = 1
PROXY_STALL_S = 2.5
# Retry policy of the runs under faults: at 30% a request fails all of 10 tries once in 170k.
FAULT_ENV = {"AWS_MAX_ATTEMPTS": "10", "TRAINRUN_S3_RETRY_BASE_MS": "20",
             "TRAINRUN_S3_STALL_TIMEOUT_S": str(CLIENT_STALL_S)}
# The job: steps take milliseconds ([1024, 1024] MLP), 4.5 MB shards on 2 ranks.
JOB = ["train.log_every=10", "train.eval_every=0", "model.hidden=[1024,1024]",
       "checkpoint.every_steps=10", "checkpoint.keep_last=3", f"data.path={DATA}",
       "run.name=fault-job"]


def job_command(nproc, out_dir, ckpt_uri, steps, *sets):
    cmd = [TRAINRUN, "--nproc-per-node", str(nproc), "--grace-period", "5", CONFIG]
    for s in JOB + [f"train.steps={steps}", f"output.dir={out_dir}",
                    f"checkpoint.uri={ckpt_uri}"] + list(sets):
        cmd += ["--set", s]
    return cmd


class Moto(MotoServer):
    """harness.MotoServer (any signature accepted, unsigned reads that bypass every proxy) and
    the checkpoints committed in its buckets."""

    def committed_steps(self, bucket, run_prefix):
        """Steps whose manifest.pb exists under <run_prefix>/step-XXXXXXXX/."""
        steps = []
        for key in self.keys(bucket, run_prefix + "/"):
            m = re.fullmatch(re.escape(run_prefix) + r"/step-(\d{8})/manifest\.pb", key)
            if m:
                steps.append(int(m.group(1)))
        return sorted(steps)


def run_cycles(moto, bucket, prefix, out_dir, *, rate, kinds=KINDS, seed=0, kills=4, steps=100,
               kill_delay_s=0.2, timeout_s=240, extra_env=None):
    """Runs the job through a FaultProxy until it finishes, SIGTERMing it after each of the
    first `kills` commits it logs. Returns the counts (and the logs of failed runs)."""
    proxy = FaultProxy(moto.port, rate, kinds, seed, stall_seconds=PROXY_STALL_S).start()
    env = dict(moto.env, AWS_ENDPOINT_URL=proxy.url, **FAULT_ENV, **(extra_env or {}))
    rng = random.Random(seed)
    uri, run_prefix = f"s3://{bucket}/{prefix}", f"{prefix}/fault-job"
    r = {"runs": 0, "kills": 0, "resumes": 0, "resumed_newest": 0, "fallbacks": 0,
         "corrupt_verdicts": 0, "failed_runs": 0, "save_warnings": 0, "finished": False,
         "seconds": 0.0, "failures": []}
    start = time.monotonic()
    try:
        while not r["finished"]:  # each run is killed (at most `kills`), fails (at most 3) or ends
            committed = moto.committed_steps(bucket, run_prefix)
            newest = committed[-1] if committed else None
            proc = subprocess.Popen(job_command(2, out_dir, uri, steps), cwd=REPO, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            r["runs"] += 1
            lines, killed = [], False
            deadline = time.monotonic() + timeout_s
            for line in proc.stdout:
                lines.append(line)
                m = COMMITTED.search(line)
                # Not after the final step's commit: the ranks are done, and the run ends 0
                # (a SIGTERM then is no preemption), which would leave a cycle without a resume.
                if not killed and r["kills"] < kills and m and int(m.group(1)) < steps:
                    time.sleep(rng.uniform(0, kill_delay_s))
                    proc.send_signal(signal.SIGTERM)
                    killed = True
                if time.monotonic() > deadline:
                    proc.kill()
            proc.wait(timeout=60)
            proc.stdout.close()
            log = "".join(lines)
            m = RESUMED.search(log)
            if newest is not None:
                r["resumes"] += 1
                got = int(m.group(2)) if m else None
                if got == newest:
                    r["resumed_newest"] += 1
                elif got is not None and got < newest:
                    r["fallbacks"] += 1
            r["corrupt_verdicts"] += len(VERDICT.findall(log))
            r["save_warnings"] += log.count(SAVE_WARNING)
            if killed and proc.returncode != 0:  # preempted (a run that finished first was not)
                r["kills"] += 1
            if proc.returncode == 0:
                r["finished"] = True
                break
            if not killed:
                r["failed_runs"] += 1
                r["failures"].append(f"run {r['runs']} (newest committed: {newest}) exited "
                                     f"{proc.returncode}:\n{log}")
                if r["failed_runs"] >= 3:
                    break
    finally:
        r["seconds"] = time.monotonic() - start
        r["proxy"] = proxy.stats()
        proxy.stop()
    return r


def read_faults(stats):
    """Faults injected into the read path (GET: LIST, manifests, shards; HEAD)."""
    return sum(v for k, v in stats.items()
               if k.startswith("fault:") and k.count(":") == 2 and k.endswith((":GET", ":HEAD")))


def temp_dir(prefix):
    path = tempfile.mkdtemp(prefix=prefix)
    return path, lambda: shutil.rmtree(path, ignore_errors=True)
