#!/usr/bin/env bash
# Training on one Ascend device. Further arguments go to train.py. Log: OUTPUT_DIR/logs/train.log.
set -euo pipefail
USAGE="bash scripts/run_standalone_train.sh DEVICE_ID DATA_PATH [train.py options ...]"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ $# -ge 2 ] || usage_error "need DEVICE_ID and DATA_PATH"
device_id="$1"; data_path="$(absolute "$2")"; shift 2
[[ "$device_id" =~ ^[0-9]+$ ]] || usage_error "DEVICE_ID must be a non-negative integer, got '$device_id'"
run_logged "$(output_dir_of "$@")/logs/train.log" "$PYTHON" train.py --device_target Ascend \
    --device_id "$device_id" --data_path "$data_path" "$@"
