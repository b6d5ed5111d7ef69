#!/usr/bin/env bash
# Install everything the tests need and run the whole test suite. `.ci/run` calls exactly this.
#   - .venv: n2ldiff with the dev, demo, ray, onnx, openvino and browser-test extras (scripts/install.sh; no root);
#   - ~/.cache/n2ldiff/weights: the LPIPS and Inception weights (`n2ldiff fetch-weights`; no root);
#   - system-wide: Debian's chromium and fonts-liberation with apt-get, for the browser test, only when
#     /usr/bin/chromium (or $N2LDIFF_CHROMIUM) is missing (scripts/install_browser.sh; root or sudo).
# Without root: N2LDIFF_NO_BROWSER=1 bash scripts/test.sh installs no browser and skips the browser test.
# Extra arguments go to pytest (e.g. bash scripts/test.sh tests/models).
set -euo pipefail
cd "$(dirname "$0")/.."

EXTRAS=dev,demo,ray,onnx,openvino,browser-test bash scripts/install.sh
if [ "${N2LDIFF_NO_BROWSER:-0}" != 0 ]; then
    echo "N2LDIFF_NO_BROWSER is set: chromium is not installed and the browser test is skipped"
else
    bash scripts/install_browser.sh
fi
# CI=1 turns a missing browser into a failure (unless N2LDIFF_NO_BROWSER is set).
# pytest exits 5 when it collects nothing: any non-zero exit fails this script.
CI="${CI:-1}" .venv/bin/python -m pytest -q "$@"
