#!/usr/bin/env bash
# The image's build step: configure (no tests), build and install trainrun into PREFIX, then
# bundle the libraries it loads (docker/bundle_libs.sh).
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

docker/bundle_libs.sh "$prefix" "$site" "$with_cuda"
