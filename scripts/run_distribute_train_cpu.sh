#!/usr/bin/env bash
# Data-parallel training on this machine's CPU: WORKER_NUM processes started by msrun.
# Further arguments go to train.py. Logs: OUTPUT_DIR/logs/worker_<rank>.log (OUTPUT_DIR: --output_dir, default ./output).
set -euo pipefail
USAGE="bash scripts/run_distribute_train_cpu.sh WORKER_NUM DATA_PATH [train.py options ...]"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ $# -ge 2 ] || usage_error "need WORKER_NUM and DATA_PATH"
workers="$1"; data_path="$(absolute "$2")"; shift 2
[[ "$workers" =~ ^[1-9][0-9]*$ ]] || usage_error "WORKER_NUM must be a positive integer, got '$workers'"
msrun_train "$workers" "$(output_dir_of "$@")" -- --device_target CPU --data_path "$data_path" "$@"
