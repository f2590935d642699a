#!/usr/bin/env bash
# Set up everything the repository needs on a Debian machine, idempotently:
#   Debian packages (demo data, C++ inference app toolchain, `ip` for msrun across machines) and a Python
#   virtual environment ($VENV, default .venv in the repository) with requirements.txt (and requirements-test.txt
#   with --test).
# Usage: bash scripts/setup_env.sh [--test]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
venv="${VENV:-$repo/.venv}"
debian_packages=(dataset-fashion-mnist libopencv-dev cmake g++ make iproute2)

missing=()
for package in "${debian_packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "[setup] installing Debian packages: ${missing[*]}"
    sudo_cmd=()
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { echo "[setup] error: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
        sudo_cmd=(sudo)
    fi
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "[setup] creating the virtual environment $venv"
    "$python" -m venv "$venv"
fi
requirements=(-r "$repo/requirements.txt")
[ "${1:-}" = --test ] && requirements+=(-r "$repo/requirements-test.txt")
echo "[setup] installing Python packages (${requirements[*]})"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "${requirements[@]}"
