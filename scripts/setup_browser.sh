#!/bin/sh
# Installs the browser of tests/test_web.py: Debian's chromium and chromium-driver (a browser
# cannot come from PyPI, and test tools' own browser downloads are not reachable here). The
# README's test command and .ci/run call this first; it does nothing when both are installed.
#
# Without apt-get, or without root (and no password-less sudo), it says what to install and
# exits 0: the browser test then fails under CI=true and is skipped elsewhere, naming this
# script. KB_CHROMIUM and KB_CHROMEDRIVER point the test at a browser installed another way.
set -eu

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_browser: no apt-get here: install Chromium and its ChromeDriver for the" \
         "browser test (or set KB_CHROMIUM and KB_CHROMEDRIVER)" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "setup_browser: not root: run 'apt-get install chromium chromium-driver' as" \
             "root for the browser test" >&2
        exit 0
    fi
fi
echo "setup_browser: installing Debian's chromium and chromium-driver for tests/test_web.py" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
    >/dev/null
