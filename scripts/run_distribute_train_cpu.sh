#!/usr/bin/env bash
# Data-parallel training on this machine's CPU: WORKER_NUM processes started by msrun.
# Further arguments go to train.py. Logs: OUTPUT_DIR/logs/worker_<rank>.log (OUTPUT_DIR: --output_dir, default ./output).
set -euo pipefail
USAGE="bash scripts/run_distribute_train_cpu.sh WORKER_NUM DATA_PATH [train.py options ...]"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
local_distribute_train CPU WORKER_NUM "$@"
