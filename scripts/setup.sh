#!/usr/bin/env bash
# Idempotent set-up on Debian 12: install build/runtime packages, fetch the digits data, build.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config
  libtorch-dev libgloo-dev libopenblas0-pthread   # LibTorch (CPU) + c10d Gloo; fast BLAS
  libprotobuf-dev protobuf-compiler libyaml-cpp-dev zlib1g-dev libcurl4-openssl-dev
  nlohmann-json3-dev
  libgtest-dev python3-torch                       # tests; PyTorch peer for parity/benchmarks
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The digits dataset ships inside python3-sklearn; unpack just that file from the package.
if [ ! -s data/digits.csv.gz ]; then
  mkdir -p data .deps
  (cd .deps && apt-get download python3-sklearn >/dev/null)
  dpkg-deb --fsys-tarfile .deps/python3-sklearn_*.deb |
    tar -xO ./usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz > data/digits.csv.gz.tmp
  mv data/digits.csv.gz.tmp data/digits.csv.gz
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
