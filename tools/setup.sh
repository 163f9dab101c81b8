#!/usr/bin/env bash
# Idempotent setup: apt packages when absent, .venv, torch==2.13.0 first (the CPU
# wheel; an unpinned torch pulls gigabytes of CUDA), then the package with its extras.
# Re-running is fast: a stamp file records the pyproject.toml that was installed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
APT_PACKAGES=(espeak-ng sox libsndfile1)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "[setup] installing apt packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  python3 -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
STAMP="$VENV/.duplexsim-installed"
if [ -f "$STAMP" ] && cmp -s "$STAMP" pyproject.toml; then
  exit 0
fi
$PIP install -q --upgrade pip
if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  echo "[setup] installing torch==2.13.0 (CPU)"
  $PIP install -q torch==2.13.0
fi
echo "[setup] installing duplexsim[dev]"
$PIP install -q -e ".[dev]"
cp pyproject.toml "$STAMP"
echo "[setup] done"
