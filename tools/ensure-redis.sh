#!/usr/bin/env bash
# A redis-server binary for the distributed-mode tests (they start their own on a free loopback port, with
# `--save ''`, and stop it by its PID; nothing here starts a server). Debian's package when run as root with
# apt-get (CI and this project's machines); otherwise say how to get one. Exit status 1 when none is found.
set -uo pipefail
found() { command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; }
if found; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's redis-server package (apt-get) ..." >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    # Without systemd the package does not leave a server running; if an init did start one, stop it: the tests
    # run their own on free ports.
    if command -v service >/dev/null 2>&1; then service redis-server stop >/dev/null 2>&1 || true; fi
fi
if found; then exit 0; fi
echo "no redis-server: install it (apt-get install redis-server, brew install redis, ...) for the distributed tests" >&2
exit 1
