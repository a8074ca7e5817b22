#!/usr/bin/env bash
# A Chromium for the pages that need JavaScript, found the way the crawler finds it (crawler/browser.py):
# RENDER_BROWSER_PATH, Playwright's own build, or the system's. When none is there: Debian's `chromium`
# package if we are root with apt-get (CI and this project's machines), else `playwright install chromium`
# (a user's machine with internet). Exit status 1 when no Chromium could be had.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
found() { "$PY" -m crawler.browser >/dev/null 2>&1; }
if found; then "$PY" -m crawler.browser; exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium package (apt-get) ..." >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
    echo "installing Playwright's Chromium (playwright install chromium) ..." >&2
    .venv/bin/playwright install chromium
fi
"$PY" -m crawler.browser
