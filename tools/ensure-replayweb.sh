#!/bin/sh
# ReplayWeb.page's ui.js and sw.js for the browsing replay (`scrapy replay`), from the npm registry, pinned by
# version and by the registry's integrity hash (checked here as well as by npm): a changed tarball fails.
# Idempotent: nothing is fetched when DEST already holds this version.
set -eu
VERSION=2.5.3
INTEGRITY=sha512-nCj2PSON3BxeSJKE8AsYPyULv0XPZKJWfy4l9PyQre9SqwLZ+WKZVs/sfLqPOQ4GrH+0YkjbwOhr8cSTH08gsQ==
DEST=${1:-.replayweb}
PYTHON=${PYTHON:-python3}

if [ -f "$DEST/.version" ] && [ "$(cat "$DEST/.version")" = "$VERSION $INTEGRITY" ]; then
    exit 0
fi
command -v npm >/dev/null || { echo "ensure-replayweb: npm is needed to fetch replaywebpage@$VERSION" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "replaywebpage@$VERSION" >/dev/null)
tarball="$tmp/replaywebpage-$VERSION.tgz"
actual=$("$PYTHON" -c 'import base64, hashlib, sys
print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tarball")
if [ "$actual" != "$INTEGRITY" ]; then
    echo "ensure-replayweb: replaywebpage-$VERSION.tgz has integrity $actual, expected $INTEGRITY" >&2
    exit 1
fi
tar -xzf "$tarball" -C "$tmp" package/ui.js package/sw.js package/LICENSE
mkdir -p "$DEST"
cp "$tmp/package/ui.js" "$tmp/package/sw.js" "$DEST/"
cp "$tmp/package/LICENSE" "$DEST/LICENSE-replaywebpage"  # AGPL-3.0: served unmodified, with its licence
echo "$VERSION $INTEGRITY" > "$DEST/.version"
echo "ReplayWeb.page $VERSION in $DEST"
