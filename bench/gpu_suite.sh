#!/usr/bin/env bash
# The GPU suite (issue #17): BERT-base-shaped MLM ours vs the HF Trainer (tokens/s, MFU), ModernBERT-base-shaped MRPC
# wall time vs the seed's 4 min 29 s, the causal LM's steps/s, and a 1-GPU DDP smoke run; one JSON line each on
# stdout (logs go to stderr). Sized for < 8 minutes on one H100.
#   bash bench/gpu_suite.sh                 # on a GPU machine
#   bash bench/gpu_suite.sh --dry-run       # CPU, tiny shapes, a few steps: what tests/bench/test_gpu_suite_dry_run.py runs
#   bash bench/gpu_suite.sh mlm causal      # some parts only
# PYTHON picks the interpreter (default: the project's .venv, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" TOKENIZERS_PARALLELISM=false
exec "$PYTHON" bench/gpu_suite.py "$@"
