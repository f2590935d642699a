#!/usr/bin/env bash
# Evaluate a checkpoint, or every checkpoint of a folder, on one GPU.
# Further arguments go to eval.py. Log: OUTPUT_DIR/logs/eval.log; results: OUTPUT_DIR/eval_results.csv.
set -euo pipefail
USAGE="bash scripts/run_eval_gpu.sh CHECKPOINT_PATH VAL_DATA_PATH [DEVICE_ID] [eval.py options ...]"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ $# -ge 2 ] || usage_error "need CHECKPOINT_PATH and VAL_DATA_PATH"
checkpoint_path="$(absolute "$1")"; data_path="$(absolute "$2")"; shift 2
device_id=0
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then device_id="$1"; shift; fi
[[ "$device_id" =~ ^[0-9]+$ ]] || usage_error "DEVICE_ID must be a non-negative integer, got '$device_id'"
run_logged "$(output_dir_of "$@")/logs/eval.log" "$PYTHON" eval.py --device_target GPU --device_id "$device_id" \
    --checkpoint_path "$checkpoint_path" --val_data_path "$data_path" "$@"
