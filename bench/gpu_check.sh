#!/usr/bin/env bash
# GPU check: train the BANKING77 intent model on a GPU and print bench/intent_banking77.py's
# JSON line (which includes bert_examples_per_second), with the GPU's name added.
#
#   bash bench/gpu_check.sh            # from the repository root
#
# Without a usable GPU (no nvidia-smi, or torch does not see CUDA) it prints
# {"skipped": "no GPU"} and exits 0. In a fresh copy without .venv it creates one with
# `python3 -m venv .venv && .venv/bin/pip install -e .` (torch as pinned in pyproject.toml).
# Precision (bf16 where the GPU has it, fp16 otherwise) is the trainer's own detection.
# Progress goes to stderr; stdout is one JSON line. Extra arguments go to the bench script.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "[gpu_check] $*" >&2; }
skip() { say "$1"; echo '{"skipped": "no GPU"}'; exit 0; }

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    skip "nvidia-smi is missing or sees no GPU"
fi
say "$(nvidia-smi -L | head -n 1)"

if [ ! -x .venv/bin/python ]; then
    say "creating .venv and installing the project (a few minutes)"
    python3 -m venv .venv >&2
    .venv/bin/pip install --quiet --upgrade pip >&2
    .venv/bin/pip install --quiet -e . >&2
fi

if ! .venv/bin/python -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    skip "torch in .venv does not see CUDA ($(.venv/bin/python -c 'import torch; print(torch.__version__)' 2>&1 | tail -n 1))"
fi

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
gpu_name="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)"
say "training BANKING77 on ${gpu_name}"
# Batch 64 at the same per-example schedule; epochs and lr are the bench defaults unless
# given as arguments (later arguments win).
json="$(.venv/bin/python bench/intent_banking77.py --batch-size 64 --max-minutes 8 "$@")"
GPU_NAME="$gpu_name" .venv/bin/python -c '
import json, os, sys
figures = json.loads(sys.argv[1])
figures["gpu"] = os.environ["GPU_NAME"]
print(json.dumps(figures))
' "$json"
