#!/usr/bin/env bash
# Installs what xtaldiff needs to build and test on Debian 12, and nothing
# that is already there. Safe to run again. Needs root or sudo.
#   scripts/install_deps.sh          what the build, the command and the Python module need
#   scripts/install_deps.sh --tests  also what the tests need (pytest, venv, and pymatgen / ASE,
#                                    which the Python module's tests convert to and compare with)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev libopenblas0-openmp   # LibTorch 1.13 (CPU); OpenBLAS makes matmuls ~25x faster than reference BLAS
  libgloo-dev                        # headers of Gloo, which c10d's CPU process group (src/dist) includes
  libsymspg-dev                      # spglib: space groups, standard cells
  libcli11-dev nlohmann-json3-dev libfmt-dev zlib1g-dev
  libgtest-dev libbenchmark-dev
  libgoogle-perftools-dev            # tcmalloc: ~20 % faster training than glibc malloc (CMakeLists.txt)
  python3-dev pybind11-dev python3-numpy   # the Python module (python/)
)
if [ "${1:-}" = "--tests" ]; then
  packages+=(python3-pytest python3-pymatgen python3-ase python3-venv)  # venv: the install test
  packages+=(chromium)  # report.html opened in a real (headless) browser: ctest ReportInBrowser
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo_cmd=(sudo); else
    echo "install_deps: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "install_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
