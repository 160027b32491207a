#!/usr/bin/env python3
"""GPU acceptance in one call: build against the host's torch wheel, check the binaries load the
CUDA runtime and NCCL that torch loads, run the GPU tests, short fp16/fp32 GPT runs with their
artifact, device selection, the microbenchmarks behind the GPT step (benchmarks/gpu_micro.py)
and the level GPT step-time benchmark (trainrun with the fused loss vs eager vs torch.compile,
benchmarks/gpt_step_time.py); one JSON summary, each benchmark's JSON beside it.

A GPU host here has torch and nothing installable, so the Debian packages the build needs travel
as .deb files in .devdeps/ (`--fetch-deps` downloads them on a Debian 12 machine) and are
unpacked into a private prefix; only the libraries the host lacks are put on the library path.

usage:
  python3 scripts/gpu_acceptance.py --fetch-deps            # on the dev machine, once
  python3 scripts/gpu_acceptance.py [--out DIR]             # on the GPU host ($OUT by default)
  python3 scripts/gpu_acceptance.py --dry-run --build-dir build   # CI: every step without a GPU

--dry-run fetches and unpacks the packages and configures a build from that prefix alone (so
the carried set cannot rot), then checks the dev build in --build-dir: the loader resolves the
CUDA runtime and NCCL into the torch wheel, `ctest -L gpu` runs (and skips), and a short CPU
GPT run passes the same output checks the GPU runs get, and both benchmarks run on CPU at toy
sizes (a smoke test of the scripts). Exit code 0 only if every step passed.
"""
import argparse
import glob
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../tests/support"))
from harness import REPO, config  # noqa: E402

DEBS = os.path.join(REPO, ".devdeps")
# Build dependencies (headers, static test libraries, protoc) and the shared libraries they
# bring, with libcurl's own dependencies: a CUDA image often has none of them.
PACKAGES = """
libprotobuf-dev libprotobuf32 libprotoc32 protobuf-compiler libyaml-cpp-dev libyaml-cpp0.7
nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev libgloo-dev zlib1g-dev zlib1g
libcurl4-openssl-dev libcurl4 libldap-2.5-0 libsasl2-2 libsasl2-modules-db libdb5.3 libidn2-0
libunistring2 libnghttp2-14 librtmp1 libgnutls30 libhogweed6 libnettle8 libgmp10 libp11-kit0
libtasn1-6 libffi8 libssh2-1 libpsl5 libbrotli1 libgssapi-krb5-2 libkrb5-3 libk5crypto3
libkrb5support0 libkeyutils1 libcom-err2 libzstd1 libssl3
""".split()
GPU_TARGETS = ["trainrun", "trainrun_worker", "kernels_cuda_test", "amp_cuda_test",
               "nccl_communicator_gpu_test", "data_gpu_test", "fused_loss_gpu_test",
               "graphed_step_gpu_test"]


def declared_gpu_tests():
    """The gpu-labelled gtest binaries tests/ declares (trainrun_add_gpu_gtest), and NCCL's."""
    names = set()
    for root, _, files in os.walk(os.path.join(REPO, "tests")):
        for f in files:
            if f == "CMakeLists.txt":
                text = open(os.path.join(root, f)).read()
                names |= set(re.findall(r"^\s*trainrun_add_gpu_gtest\((\w+)", text, re.M))
    return names


class Acceptance:
    def __init__(self, args):
        self.args = args
        self.out = args.out
        self.steps = []
        os.makedirs(self.out, exist_ok=True)
        self.log_path = os.path.join(self.out, "acceptance.log")
        self.log = open(self.log_path, "w")
        self.env = dict(os.environ)

    def say(self, text):
        print(text, flush=True)
        self.log.write(text + "\n")
        self.log.flush()

    def run(self, cmd, timeout=600, env=None, cwd=REPO, check=True):
        """Runs cmd, logs its output, returns (code, stdout, stderr)."""
        self.log.write("$ " + " ".join(cmd) + "\n")
        self.log.flush()
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env=env or self.env, cwd=cwd)
        self.log.write(p.stdout[-20000:] + p.stderr[-20000:] + f"[exit {p.returncode}]\n")
        self.log.flush()
        if check and p.returncode != 0:
            raise RuntimeError(f"{cmd[0]} exited {p.returncode}: {(p.stderr or p.stdout)[-600:]}")
        return p.returncode, p.stdout, p.stderr

    def step(self, name, fn, needs_gpu=False):
        if needs_gpu and self.args.dry_run:
            self.steps.append({"step": name, "status": "skipped (dry run: needs a GPU)"})
            self.say(f"[skip] {name}")
            return None
        start = time.time()
        try:
            detail = fn()
            status = "passed"
        except Exception as e:  # one failing step must not hide the others' results
            detail, status = str(e).replace("\n", " ")[:2000], "failed"
        self.steps.append({"step": name, "status": status, "seconds": round(time.time() - start, 1),
                           "detail": detail})
        self.say(f"[{status}] {name} ({time.time() - start:.1f} s): {json.dumps(detail)[:600]}")
        return detail if status == "passed" else None

    def summary(self):
        ok = all(s["status"] != "failed" for s in self.steps)
        with open(os.path.join(self.out, "summary.json"), "w") as f:
            json.dump({"passed": ok, "dry_run": self.args.dry_run, "steps": self.steps}, f,
                      indent=2)
        self.say(f"acceptance {'PASSED' if ok else 'FAILED'}: {self.out}/summary.json")
        return 0 if ok else 1


def fetch_deps():
    os.makedirs(DEBS, exist_ok=True)
    subprocess.run(["apt-get", "download", *PACKAGES], cwd=DEBS, check=True)
    print(f"{len(glob.glob(os.path.join(DEBS, '*.deb')))} packages in {DEBS}")


def system_sonames():
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines()[1:] if line.strip()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fetch-deps", action="store_true")
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--out", default=os.environ.get("OUT") or os.path.join(REPO, "build-gpu", "out"))
    ap.add_argument("--build-dir", help="dry run: the dev build to check (default build/)")
    ap.add_argument("--bench-trials", type=int, default=2)
    args = ap.parse_args()
    if args.fetch_deps:
        return fetch_deps()
    a = Acceptance(args)
    python = sys.executable
    # A dry run (a ctest, perhaps of several checkouts at once) works in fresh folders.
    scratch = tempfile.mkdtemp(prefix="trainrun-acceptance-") if args.dry_run else None
    prefix = os.path.join(scratch or tempfile.gettempdir(), "trainrun-devroot")
    libdir = os.path.join(prefix, "usr", "lib", "x86_64-linux-gnu")
    extra_libs = os.path.join(prefix, "missing-libs")
    gpu_build = os.path.join(scratch or REPO, "build-gpu", "tree")
    build = args.build_dir or os.path.join(REPO, "build") if args.dry_run else gpu_build

    def unpack():
        if not glob.glob(os.path.join(DEBS, "*.deb")):
            if not args.dry_run:
                raise RuntimeError(".devdeps/ is empty: run --fetch-deps first and carry it")
            fetch_deps()
        shutil.rmtree(prefix, ignore_errors=True)
        for deb in sorted(glob.glob(os.path.join(DEBS, "*.deb"))):
            subprocess.run(["dpkg", "-x", deb, prefix], check=True)
        # Only what the host lacks goes on the library path: its own libssl, libz, ... win.
        have = system_sonames()
        os.makedirs(extra_libs, exist_ok=True)
        added = []
        for path in glob.glob(os.path.join(libdir, "*.so.*")):
            name = os.path.basename(path)
            if re.fullmatch(r".*\.so\.\d+", name) and name not in have:
                os.symlink(path, os.path.join(extra_libs, name))
                added.append(name)
        a.env["LD_LIBRARY_PATH"] = extra_libs + ":" + a.env.get("LD_LIBRARY_PATH", "")
        a.env["PATH"] = os.path.join(prefix, "usr", "bin") + ":" + a.env["PATH"]
        return {"debs": len(glob.glob(os.path.join(DEBS, "*.deb"))), "libs_added": sorted(added)}

    def configure():
        cmd = ["cmake", "-S", REPO, "-B", gpu_build, "-DCMAKE_BUILD_TYPE=Release",
               f"-DTRAINRUN_PYTHON={python}", f"-DCMAKE_PREFIX_PATH={prefix}/usr",
               f"-DProtobuf_PROTOC_EXECUTABLE={prefix}/usr/bin/protoc",
               f"-DProtobuf_INCLUDE_DIR={prefix}/usr/include",
               f"-DProtobuf_LIBRARY={libdir}/libprotobuf.so",
               f"-DCURL_INCLUDE_DIR={prefix}/usr/include/x86_64-linux-gnu",
               f"-DCURL_LIBRARY={libdir}/libcurl.so", f"-DZLIB_INCLUDE_DIR={prefix}/usr/include",
               # zlib1g lives in /lib: the -dev package's libz.so link dangles in the prefix.
               "-DZLIB_LIBRARY=" + sorted(glob.glob(f"{prefix}/lib/x86_64-linux-gnu/libz.so.1*"))[-1],
               f"-DGTest_DIR={libdir}/cmake/GTest",
               f"-DCMAKE_BUILD_RPATH={libdir}", "-DTORCH_CUDA_ARCH_LIST=9.0"]
        if shutil.which("ninja"):
            cmd += ["-G", "Ninja"]
        _, out, _ = a.run(cmd, timeout=300)
        cache = open(os.path.join(gpu_build, "CMakeCache.txt")).read()
        outside = []
        for key in ["Protobuf_LIBRARY", "Protobuf_PROTOC_EXECUTABLE", "yaml-cpp_DIR",
                    "nlohmann_json_DIR", "CLI11_DIR", "GTest_DIR", "CURL_LIBRARY",
                    "ZLIB_LIBRARY"]:
            m = re.search(rf"^{re.escape(key)}:\w+=(.*)$", cache, re.M)
            if not m or not os.path.realpath(m.group(1)).startswith(prefix):
                outside.append(f"{key}={m.group(1) if m else '?'}")
        if outside:
            raise RuntimeError("found outside the carried prefix: " + ", ".join(outside))
        line = next((l for l in out.splitlines() if l.startswith("-- trainrun:")), "")
        if "TRAINRUN_WITH_CUDA=ON" not in line:
            raise RuntimeError(f"not a CUDA build: {line!r}")
        return line[3:]

    def compile_():
        jobs = str(os.cpu_count() or 4)
        a.run(["cmake", "--build", gpu_build, "-j", jobs, "--target", *GPU_TARGETS], timeout=900)
        return {"targets": GPU_TARGETS}

    def loader():
        """ldd: libcudart/libnccl resolve into the torch wheel; start-up line versions = torch's."""
        import torch
        site = os.path.dirname(os.path.dirname(torch.__file__))
        worker = os.path.join(build, "trainrun-worker")
        _, out, _ = a.run(["ldd", worker])
        found = {}
        for lib in ["libcudart.so", "libnccl.so", "libtorch_cuda.so", "libc10_cuda.so"]:
            m = re.search(rf"^\s*{re.escape(lib)}\S*\s+=>\s+(\S+)", out, re.M)
            if not m or not os.path.realpath(m.group(1)).startswith(os.path.realpath(site)):
                raise RuntimeError(f"{lib} resolves to {m.group(1) if m else 'nothing'}, "
                                   f"not into {site}")
            found[lib] = m.group(1)
        # The launcher links LibTorch's CPU half only (it loads for the rendezvous store).
        _, needed, _ = a.run(["readelf", "-d", os.path.join(build, "trainrun")])
        cuda_libs = re.findall(r"\[(lib(?:torch_cuda|c10_cuda|cudart|nccl)[^\]]*)\]", needed)
        if cuda_libs:
            raise RuntimeError(f"the launcher links CUDA libraries: {cuda_libs}")
        return found

    def gpu_tests():
        # A gpu test binary the build step does not build would never run (ctest only knows
        # the tests of built binaries): the dry run catches the list falling behind.
        unbuilt = declared_gpu_tests() - set(GPU_TARGETS)
        if unbuilt:
            raise RuntimeError(f"GPU_TARGETS lacks the gpu test binaries {sorted(unbuilt)}")
        code, out, err = a.run(["ctest", "--test-dir", build, "-L", "gpu", "--output-on-failure",
                                "--timeout", "300"], timeout=900, check=False)
        # "100% tests passed out of 11", or "..., 2 tests failed out of 11"
        m = re.search(r"(\d+)% tests passed(?:, (\d+) tests? failed)? out of (\d+)", out)
        skipped = len(re.findall(r"\*\*\*Skipped", out))
        if code != 0 or not m:
            raise RuntimeError(f"ctest -L gpu exited {code}: {out[-1500:]}")
        return {"total": int(m.group(3)), "failed": int(m.group(2) or 0), "skipped": skipped}

    def gpt_run(name, precision, steps, sets=()):
        """A gpt-tiny run through the launcher (`sets`: more --set KEY=VALUE); checks exit,
        loss, stderr; returns its numbers."""
        out_dir = os.path.join(scratch or a.out, name)
        cmd = [os.path.join(build, "trainrun"), "--nproc-per-node", "1",
               config("gpt-tiny"), "--set", f"precision={precision}",
               "--set", f"train.steps={steps}", "--set", f"train.log_every={max(1, steps // 5)}", "--set",
               "checkpoint.uri=", "--set", "resume=never", "--set", f"output.dir={out_dir}",
               "--set", "run.name=" + name]
        for kv in sets:
            cmd += ["--set", kv]
        code, out, err = a.run(cmd, timeout=300, check=False)
        if code != 0:
            raise RuntimeError(f"exit {code}: {(err or out)[-800:]}")
        if "deprecated" in err.lower():
            raise RuntimeError("'deprecated' on stderr: " + err[-400:])
        losses = [float(x) for x in re.findall(r" train_loss=([-\d.naif]+)", out)]
        if not losses or not all(math.isfinite(x) for x in losses) or not losses[-1] < losses[0]:
            raise RuntimeError(f"loss not finite and falling: {losses}")
        metrics = json.load(open(os.path.join(out_dir, "metrics.json")))
        device = re.search(r" device=(\S+)", out)
        return {"losses": losses, "eval_loss": metrics["loss"], "device": device and device.group(1),
                "model": os.path.join(out_dir, "model", "model.pt"),
                "startup": next((l for l in out.splitlines() if "device_name=" in l), "")}

    def fp16_run():
        import torch
        precision = "fp32" if args.dry_run else "fp16"
        r = gpt_run("gpt-tiny-" + precision, precision, 10 if args.dry_run else 50)
        # The artifact loads on the CPU and gives the same logits as on the GPU it trained on.
        m = torch.jit.load(r["model"], map_location="cpu")
        idx = torch.randint(0, 64, (2, 16))
        cpu_logits = m(idx)
        if torch.cuda.is_available():
            gpu_logits = torch.jit.load(r["model"], map_location="cuda")(idx.cuda()).cpu()
            r["max_abs_logit_diff_cpu_vs_gpu"] = (cpu_logits - gpu_logits).abs().max().item()
            if r["max_abs_logit_diff_cpu_vs_gpu"] > 1e-3:
                raise RuntimeError(f"CPU and GPU logits differ: {r}")
            # Start-up line versions are torch's own.
            want = {"cuda": torch.version.cuda,
                    "nccl": ".".join(map(str, torch.cuda.nccl.version()))}
            for key, value in want.items():
                if f" {key}={value} " not in r["startup"] + " ":
                    raise RuntimeError(f"start-up line has no {key}={value}: {r['startup']}")
        r["artifact_cpu_logits_shape"] = list(cpu_logits.shape)
        return r

    def visible_device():
        env = dict(a.env, CUDA_VISIBLE_DEVICES="0", LOCAL_RANK="1")
        worker = os.path.join(build, "trainrun-worker")
        out_dir = os.path.join(a.out, "visible")
        cmd = [worker, config("gpt-tiny"), "--set", "train.steps=5",
               "--set", "checkpoint.uri=", "--set", "resume=never", "--set",
               f"output.dir={out_dir}"]
        code, out, err = a.run(cmd, timeout=300, env=env, check=False)
        if code != 0:
            raise RuntimeError(f"exit {code}: {(err or out)[-600:]}")
        if "device=cuda:0" not in out:
            raise RuntimeError("not on cuda:0: " + out[-400:])
        return "LOCAL_RANK=1 with one visible GPU ran on cuda:0"

    def fp16_vs_fp32():
        r16 = gpt_run("cmp-fp16", "fp16", 200)
        r32 = gpt_run("cmp-fp32", "fp32", 200)
        rel = abs(r16["eval_loss"] - r32["eval_loss"]) / r32["eval_loss"]
        if rel > 0.05:
            raise RuntimeError(f"fp16 eval loss {r16['eval_loss']} vs fp32 {r32['eval_loss']}")
        return {"fp16_eval_loss": r16["eval_loss"], "fp32_eval_loss": r32["eval_loss"],
                "relative_difference": rel, "tolerance": 0.05}

    def fused_vs_unfused():
        # Issue 26's numerics goal: with the fused loss and norm, and with the step captured as
        # a CUDA graph, gpt-tiny's eval loss after 200 bf16 steps is within 1% of the unfused
        # path's. The dry run compares the fused paths alone, fp32 on CPU, 20 steps.
        precision, steps = ("fp32", 20) if args.dry_run else ("bf16", 200)
        fused = ["model.fused_loss=true", "model.fused_norm=true"]
        variants = {"unfused": [], "fused": fused}
        if not args.dry_run:
            variants["fused + cuda_graph"] = fused + ["train.cuda_graph=true"]
        losses = {name: gpt_run("cmp-" + name.replace(" ", "").replace("+", "-"), precision,
                                steps, sets)["eval_loss"]
                  for name, sets in variants.items()}
        result = {"precision": precision, "steps": steps, "eval_loss": losses, "tolerance": 0.01}
        for name, loss in losses.items():
            rel = abs(loss - losses["unfused"]) / losses["unfused"]
            result[f"relative_difference {name}"] = rel
            if rel > 0.01:
                raise RuntimeError(f"{name} eval loss {loss} vs unfused {losses['unfused']}")
        return result

    def benchmark():
        # The fair benchmark (issue 26): bf16, batch 32, windows synced on every side, trainrun
        # with the fused loss against eager and torch.compile. The dry run smokes it on CPU.
        bench = os.path.join(REPO, "benchmarks", "gpt_step_time.py")
        out_json = os.path.join(a.out, "gpt_step_time.json")
        # Variants: the fused add + LayerNorm on top of the fused loss; that with the step
        # captured as a CUDA graph, in bf16 and fp16 (the goal: fp16 within 3% of bf16). The
        # graph needs a GPU: not in the dry run.
        if args.dry_run:
            cmd = [python, bench, "--preset", "gpt-tiny", "--precision", "fp32", "--batch", "16",
                   "--steps", "20", "--trials", "1", "--no-compile",
                   "--trainrun-variant", "norm:model.fused_norm=true"]
        else:
            cmd = [python, bench, "--preset", "gpt2-124m", "--precision", "bf16", "--batch", "32",
                   "--steps", "60", "--trials", str(args.bench_trials),
                   "--trainrun-variant", "norm:model.fused_norm=true",
                   "--trainrun-variant", "graph:model.fused_norm=true,train.cuda_graph=true",
                   "--trainrun-variant",
                   "graph fp16:model.fused_norm=true,train.cuda_graph=true,precision=fp16"]
        # A variant that hangs (a capture that never ends) costs 180 s, not the device call.
        _, out, _ = a.run(cmd + ["--trainrun-set", "model.fused_loss=true", "--kernel-tables",
                                 "--run-timeout", "180",
                                 "--bin-dir", build, "--json", out_json], timeout=900)
        a.say(out)
        return json.load(open(out_json))

    def micro():
        # Head GEMMs at 50257 vs 50304 and SDPA's backends (time, difference from fp32 math):
        # what the padded head and the attention choice rest on. A dry run smokes it on CPU.
        out_json = os.path.join(a.out, "gpu_micro.json")
        _, out, _ = a.run([python, os.path.join(REPO, "benchmarks", "gpu_micro.py"), "--json",
                           out_json], timeout=300)
        a.say(out)
        return json.load(open(out_json))

    a.step("unpack carried packages", unpack)
    a.step("configure from the carried prefix", configure)
    a.step("build", compile_, needs_gpu=True)  # a dry run checks the dev build instead
    a.step("loader resolves cudart and NCCL into the torch wheel", loader)
    a.step("ctest -L gpu", gpu_tests)
    a.step("gpt-tiny 50 steps fp16, artifact on CPU", fp16_run)
    a.step("CUDA_VISIBLE_DEVICES=0 LOCAL_RANK=1 runs on GPU 0", visible_device, needs_gpu=True)
    a.step("gpt-tiny 200 steps fp16 vs fp32", fp16_vs_fp32, needs_gpu=True)
    a.step("gpt-tiny 200 steps bf16: fused paths and cuda_graph vs unfused", fused_vs_unfused)
    a.step("microbenchmarks: head GEMMs 50257 vs 50304, SDPA backends", micro)
    a.step("benchmark gpt2-124m bf16 b32: trainrun vs eager vs torch.compile", benchmark)
    if scratch:
        shutil.rmtree(scratch, ignore_errors=True)
    return a.summary()


if __name__ == "__main__":
    sys.exit(main())
