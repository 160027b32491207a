"""Containers of a buildah image, run the way `docker run` runs them, for the image tests.

`buildah run` runs a command inside the image but cannot make the root read-only or the command
PID 1; so a container here is `buildah from` + `buildah mount` (its root filesystem) and each
command runs in new mount and PID namespaces (unshare): the root bind-mounted read-only, /proc
and /dev, a fresh tmpfs on /tmp, volumes bound in, then chroot with the user asked for and the
image's own environment, working directory and entrypoint. The command is the namespace's PID 1,
so signals reach it as the platform sends them."""
import json
import os
import shlex
import subprocess

DRIVER = os.environ.get("STORAGE_DRIVER", "vfs")


def buildah(*args, check=True):
    p = subprocess.run(["buildah", "--storage-driver", DRIVER, *args], capture_output=True,
                       text=True, timeout=600)
    if check and p.returncode != 0:
        raise RuntimeError(f"buildah {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout.strip()


def image_config(image):
    """The image's OCI/Docker config: Env, WorkingDir, Entrypoint, Cmd, Labels."""
    doc = json.loads(buildah("inspect", "--type", "image", image))
    return doc["Docker"]["config"] if doc.get("Docker", {}).get("config") else doc["OCIv1"]["config"]


class Container:
    def __init__(self, image):
        self.image = image
        self.config = image_config(image)
        self.name = buildah("from", "--pull-never", image)
        self.root = buildah("mount", self.name)

    def close(self):
        buildah("umount", self.name, check=False)
        buildah("rm", self.name, check=False)

    def buildah_run(self, *cmd):
        """`buildah run` in the container (chroot isolation), for plain checks."""
        return subprocess.run(["buildah", "--storage-driver", DRIVER, "run", "--isolation",
                               "chroot", self.name, "--", *cmd], capture_output=True, text=True,
                              timeout=300)

    def start(self, args=None, volumes=(), user=None, env=None, read_only=True, **popen):
        """Like `docker run [--read-only] [--user U] [-v SRC:DST]... [-e K=V]... IMAGE args`."""
        mounts = []
        for src, dst in volumes:
            os.makedirs(self.root + dst, exist_ok=True)  # the mount point, as docker makes it
            mounts.append(f'mount --bind {shlex.quote(src)} "$r"{shlex.quote(dst)}')
        environ = [e for e in self.config.get("Env") or [] if not e.startswith("HOME=")]
        environ += ["HOME=/tmp"] + [f"{k}={v}" for k, v in (env or {}).items()]
        argv = list(self.config.get("Entrypoint") or [])
        argv += list(self.config.get("Cmd") or []) if args is None else list(args)
        userspec = f"--userspec={user}:{user}" if user is not None else ""
        script = "\n".join([
            "set -e",
            "mount --make-rprivate /",
            f"r={shlex.quote(self.root)}",
            'mount --bind "$r" "$r"',
            'mount -o remount,bind,ro "$r"' if read_only else ":",
            'mount -t proc proc "$r/proc"',
            'mount --rbind /dev "$r/dev"',
            'mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"',
            *mounts,
            f'exec chroot {userspec} "$r" /usr/bin/env -i -C '
            f'{shlex.quote(self.config.get("WorkingDir") or "/")} '
            + " ".join(shlex.quote(x) for x in environ + argv),
        ])
        return subprocess.Popen(["unshare", "--mount", "--pid", "--fork", "--kill-child",
                                 "sh", "-c", script], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, **popen)

    def run(self, args=None, timeout=300, **kw):
        p = self.start(args, **kw)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            raise AssertionError(f"timed out after {timeout} s:\n{out}\n{err}")
        return subprocess.CompletedProcess(p.args, p.returncode, out, err)
