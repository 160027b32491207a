#!/usr/bin/env bash
# The image's build step: configure (no tests), build and install trainrun into PREFIX, then copy
# beside it every library it loads from the wheels and list the Debian packages of the rest.
#   docker/install.sh WITH_CUDA(ON|OFF) GIT_REVISION PREFIX      (run in the build stage, /src)
set -euo pipefail
with_cuda=$1 revision=$2 prefix=$3
venv=/opt/venv
site=$("$venv/bin/python3" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cuda=$site/nvidia/cu13

# LibTorch's CMake wants a CUDA toolkit even for the CPU half: the CUDA wheels' nvidia/cu13 is
# one, but for the names FindCUDA and nvcc look for (lib64, unversioned library links).
[ -e "$cuda/lib64" ] || ln -s lib "$cuda/lib64"
for lib in "$cuda"/lib/lib*.so.*; do
  [ -e "${lib%%.so.*}.so" ] || ln -s "$(basename "$lib")" "${lib%%.so.*}.so"
done
cmake -S . -B /tmp/build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
  -DTRAINRUN_PYTHON="$venv/bin/python3" -DTorch_DIR="$site/torch/share/cmake/Torch" \
  -DCMAKE_CUDA_COMPILER="$cuda/bin/nvcc" -DCUDA_TOOLKIT_ROOT_DIR="$cuda" \
  -DCUDAToolkit_ROOT="$cuda" \
  -DTRAINRUN_WITH_CUDA="$with_cuda" -DTRAINRUN_GIT_REVISION="$revision" \
  -DCMAKE_INSTALL_PREFIX="$prefix" | grep -E "^-- (trainrun|Apache Arrow)"
cmake --build /tmp/build -j"$(nproc)"
cmake --install /tmp/build --strip >/dev/null
rm -rf /tmp/build

# The wheels' libraries the binaries need (ldd resolves them through the wheels' folders),
# copied into PREFIX/lib, where the binaries' RPATH ($ORIGIN/../lib) finds them.
wheel_dirs="$site/torch/lib:$cuda/lib:$site/nvidia/nccl/lib:$site/nvidia/cudnn/lib"
wheel_dirs+=":$site/nvidia/cusparselt/lib:$site/nvidia/nvshmem/lib:$site/pyarrow"
mkdir -p "$prefix/lib" "$prefix/share"
closure() { LD_LIBRARY_PATH=$wheel_dirs ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// {print $3}'; }
closure "$prefix"/bin/* | sort -u | grep "^$site/" | xargs -r cp -L -t "$prefix/lib"
if [ "$with_cuda" = ON ]; then
  # Loaded with dlopen, so ldd cannot see them: cuDNN's engines, NVRTC's builtins (LibTorch's
  # JIT and cuDNN's runtime fusion), cuBLASLt's and cuSPARSE's JIT linker.
  for lib in "$site"/nvidia/cudnn/lib/libcudnn*.so.* "$cuda"/lib/libnvrtc*.so.* \
             "$cuda"/lib/libnvJitLink.so.* "$site"/torch/lib/libcaffe2_nvrtc.so; do
    [ -e "$lib" ] && cp -L -t "$prefix/lib" "$lib"
  done
  closure "$prefix"/lib/*.so* | sort -u | grep "^$site/" | xargs -r cp -L -n -t "$prefix/lib"
fi
chmod 0644 "$prefix"/lib/*

# The rest is the system's: the Debian packages that hold it, for the runtime stage to install.
# dpkg records a file under the path its package ships (/lib or /usr/lib: merged /usr).
owner() {
  local real; real=$(readlink -f "$1")
  for p in "$1" "$real" "${real#/usr}" "/usr$real"; do
    dpkg -S "$p" 2>/dev/null | head -n1 | cut -d: -f1 && return 0
  done
  echo "install.sh: no Debian package holds $1" >&2
  return 1
}
closure "$prefix"/bin/* "$prefix"/lib/*.so* | sort -u | grep -v "^$prefix/" |
  while read -r lib; do owner "$lib"; done | sort -u >"$prefix/share/runtime-packages.txt"
# Nothing may resolve outside PREFIX and the system now.
if LD_LIBRARY_PATH= ldd "$prefix"/bin/* | grep "not found"; then
  echo "install.sh: libraries above are missing from $prefix/lib" >&2
  exit 1
fi
echo "install.sh: $(ls "$prefix/lib" | wc -l) libraries bundled ($(du -sh "$prefix/lib" | cut -f1));" \
  "runtime packages: $(tr '\n' ' ' <"$prefix/share/runtime-packages.txt")"
