#!/usr/bin/env bash
# Training on one Ascend device. Further arguments go to train.py. Log: OUTPUT_DIR/logs/train.log.
set -euo pipefail
USAGE="bash scripts/run_standalone_train.sh DEVICE_ID DATA_PATH [train.py options ...]"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
standalone_train Ascend "$@"
