#!/usr/bin/env bash
# Install everything the tests need (dev, demo, ray and browser extras, Debian chromium, metric
# weights) and run the whole test suite. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

EXTRAS=dev,demo,ray,browser-test bash scripts/install.sh
bash scripts/install_browser.sh
# pytest exits 5 when it collects nothing: any non-zero exit fails this script.
CI="${CI:-1}" .venv/bin/python -m pytest -q "$@"
