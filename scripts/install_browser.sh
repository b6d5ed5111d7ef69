#!/usr/bin/env bash
# Install Debian's chromium for the browser test (tests/demo/test_browser.py) when it is missing.
# Idempotent: does nothing when /usr/bin/chromium (or $N2LDIFF_CHROMIUM) already exists.
# Playwright never downloads a browser of its own here; the test launches this one.
# Needs root (or sudo) and apt-get, i.e. Debian/Ubuntu.
set -euo pipefail

browser="${N2LDIFF_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$browser" ]; then
    echo "chromium present: $browser"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: $browser is missing and apt-get is not available; install chromium and set N2LDIFF_CHROMIUM," >&2
    echo "       or run the tests without the browser test: N2LDIFF_NO_BROWSER=1 bash scripts/test.sh" >&2
    exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    else
        echo "error: installing chromium needs root (or sudo); to run the tests without the browser test:" >&2
        echo "       N2LDIFF_NO_BROWSER=1 bash scripts/test.sh" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends chromium fonts-liberation
if [ ! -x "$browser" ]; then
    echo "error: chromium was installed but $browser does not exist; set N2LDIFF_CHROMIUM" >&2
    exit 1
fi
echo "chromium installed: $("$browser" --version 2>/dev/null || echo "$browser")"
