#!/usr/bin/env bash
# Copies beside installed trainrun binaries (PREFIX/lib, their RPATH $ORIGIN/../lib) every
# library they load from the Python wheels in SITE, and lists in PREFIX/share/runtime-packages.txt
# the Debian packages that hold the rest; fails if anything is left unresolved.
#   docker/bundle_libs.sh PREFIX SITE WITH_CUDA(ON|OFF)
set -euo pipefail
prefix=$1 site=$2 with_cuda=$3
cuda=$site/nvidia/cu13
wheel_dirs="$site/torch/lib:$cuda/lib:$site/nvidia/nccl/lib:$site/nvidia/cudnn/lib"
wheel_dirs+=":$site/nvidia/cusparselt/lib:$site/nvidia/nvshmem/lib:$site/pyarrow"
# The libraries FILES load, as paths: through the wheels' folders, or (none) as installed.
closure() {
  local dirs=$1; shift
  LD_LIBRARY_PATH=$dirs ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort |
    awk -F/ '!seen[$NF]++'  # one path per library name
}
mkdir -p "$prefix/lib" "$prefix/share"
closure "$wheel_dirs" "$prefix"/bin/* | { grep "^$site/" || true; } | xargs -r cp -L -t "$prefix/lib"
if [ "$with_cuda" = ON ]; then
  # Loaded with dlopen, so ldd cannot see them: cuDNN's engines, NVRTC's builtins (LibTorch's
  # JIT and cuDNN's runtime fusion), the JIT linker, LibTorch's NVRTC stub.
  for lib in "$site"/nvidia/cudnn/lib/libcudnn*.so.* "$cuda"/lib/libnvrtc*.so.* \
             "$cuda"/lib/libnvJitLink.so.* "$site"/torch/lib/libcaffe2_nvrtc.so; do
    if [ -e "$lib" ]; then cp -L -t "$prefix/lib" "$lib"; fi
  done
  closure "$wheel_dirs" "$prefix"/lib/*.so* | { grep "^$site/" || true; } |
    xargs -r cp -L -n -t "$prefix/lib"
fi
chmod 0644 "$prefix"/lib/*

# Everything now resolves inside PREFIX or from the system, but the driver's own libraries,
# which the NVIDIA container toolkit mounts from the host.
if LD_LIBRARY_PATH= ldd "$prefix"/bin/* "$prefix"/lib/*.so* | grep "not found" |
  grep -v -E "^\s*(libcuda\.so\.1|libnvidia-ml\.so\.1) "; then
  echo "bundle_libs.sh: the libraries above are missing from $prefix/lib" >&2
  exit 1
fi
# dpkg records a file under the path its package ships (/lib or /usr/lib: merged /usr).
owner() {
  local real p
  real=$(readlink -f "$1")
  for p in "$1" "$real" "${real#/usr}" "/usr$real"; do
    if dpkg -S "$p" >/dev/null 2>&1; then
      dpkg -S "$p" | head -n1 | cut -d: -f1
      return 0
    fi
  done
  echo "bundle_libs.sh: no Debian package holds $1" >&2
  return 1
}
closure "" "$prefix"/bin/* "$prefix"/lib/*.so* | { grep -v "^$prefix/" || true; } |
  while read -r lib; do owner "$lib"; done | sort -u >"$prefix/share/runtime-packages.txt"
echo "bundle_libs.sh: $(find "$prefix/lib" -type f | wc -l) libraries bundled" \
  "($(du -sh "$prefix/lib" | cut -f1)); runtime packages:" \
  "$(tr '\n' ' ' <"$prefix/share/runtime-packages.txt")"
