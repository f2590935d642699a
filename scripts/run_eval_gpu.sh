#!/usr/bin/env bash
# Evaluate a checkpoint, or every checkpoint of a folder, on one GPU (default 0).
# Further arguments go to eval.py. Log: OUTPUT_DIR/logs/eval.log; results: OUTPUT_DIR/eval_results.csv.
set -euo pipefail
USAGE="bash scripts/run_eval_gpu.sh CHECKPOINT_PATH VAL_DATA_PATH [DEVICE_ID] [eval.py options ...]"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
evaluate GPU "$@"
