#!/usr/bin/env bash
# Idempotent setup: apt packages when absent, .venv, torch==2.13.0 first (the CPU
# wheel; an unpinned torch pulls gigabytes of CUDA), then the package with the extras in
# $EXTRAS ("dev", the default: tests, RL, ASR, VAD, ray; "" for the package alone, what
# `make demo` needs). Re-running is fast: a stamp file per extras records the
# interpreter and the pyproject.toml that were installed; the "dev" install also satisfies
# a plain one.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
APT_PACKAGES=(espeak-ng sox libsndfile1)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  # "... ok installed" (install or hold), not only known to dpkg: a package removed with
  # its config files kept is "deinstall ok config-files", and dpkg -s succeeded for it
  [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == *" ok installed" ]] \
    || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "[setup] installing apt packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  if ! command -v apt-get >/dev/null || { [ -n "$SUDO" ] && ! command -v sudo >/dev/null; }; then
    echo "[setup] cannot install them here (no apt-get, or not root and no sudo): install" \
         "${missing[*]} yourself, then run this again" >&2
    exit 1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A venv whose python or pip does not run (python3-venv was missing when it was made, or
# the interpreter it was made from has gone) is made anew rather than trusted.
if [ -e "$VENV" ] && ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
  echo "[setup] $VENV has no working python with pip: making it anew"
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  if ! python3 -m venv "$VENV"; then
    rm -rf "$VENV"
    echo "[setup] python3 -m venv failed: install python3-venv (Debian/Ubuntu), then run this" \
         "again" >&2
    exit 1
  fi
fi
PIP="$VENV/bin/python -m pip"
EXTRAS=${EXTRAS-dev}
STAMP="$VENV/.duplexsim-installed${EXTRAS:+-$EXTRAS}"
# the stamp: what was installed, from which pyproject.toml, for which interpreter
WANT=$( "$VENV/bin/python" -c 'import sys; print(sys.version)'; cat pyproject.toml )
for installed in "$STAMP" "$VENV/.duplexsim-installed-dev"; do
  if [ -f "$installed" ] && [ "$(cat "$installed")" = "$WANT" ]; then
    exit 0
  fi
done
$PIP install -q --upgrade pip
if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  # TORCH_INDEX_URL: where the CPU wheel is, when pip's configured index has only the
  # CUDA build (plain PyPI on Linux): e.g. https://download.pytorch.org/whl/cpu
  echo "[setup] installing torch==2.13.0 (CPU)${TORCH_INDEX_URL:+ from $TORCH_INDEX_URL}"
  $PIP install -q torch==2.13.0 ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
fi
echo "[setup] installing duplexsim${EXTRAS:+[$EXTRAS]}"
$PIP install -q -e ".${EXTRAS:+[$EXTRAS]}"
printf '%s\n' "$WANT" > "$STAMP"
echo "[setup] done"
