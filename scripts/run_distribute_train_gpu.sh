#!/usr/bin/env bash
# Data-parallel training on DEVICE_NUM GPUs of this machine (NCCL), started by msrun.
# Further arguments go to train.py. Logs: OUTPUT_DIR/logs/worker_<rank>.log (OUTPUT_DIR: --output_dir, default ./output).
set -euo pipefail
USAGE="bash scripts/run_distribute_train_gpu.sh DEVICE_NUM DATA_PATH [train.py options ...]"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ $# -ge 2 ] || usage_error "need DEVICE_NUM and DATA_PATH"
devices="$1"; data_path="$(absolute "$2")"; shift 2
[[ "$devices" =~ ^[1-9][0-9]*$ ]] || usage_error "DEVICE_NUM must be a positive integer, got '$devices'"
msrun_train "$devices" "$(output_dir_of "$@")" -- --device_target GPU --data_path "$data_path" "$@"
