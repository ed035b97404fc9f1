#!/usr/bin/env sh
# Make sure Debian's Chromium is there for the browser tests (pytest -m browser).
# Quiet and tolerant: if it cannot be installed, the browser tests skip with a reason.
# Playwright's own browser downloads are not used; the tests drive /usr/bin/chromium.
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "setup_browser: chromium is missing and apt-get needs root; browser tests will skip" >&2
        exit 0
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_browser: no apt-get here; install Chromium yourself to run the browser tests" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
{ $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends chromium; } \
    >/dev/null 2>&1 \
    || echo "setup_browser: could not install chromium; browser tests will skip" >&2
exit 0
