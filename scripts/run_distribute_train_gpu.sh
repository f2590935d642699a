#!/usr/bin/env bash
# Data-parallel training on DEVICE_NUM GPUs of this machine (NCCL), started by msrun. Across machines, run it on
# each with NNODES, NODE_RANK (0 on MASTER_ADDR's machine, 1, 2, ...), MASTER_ADDR and MASTER_PORT set.
# Further arguments go to train.py. Logs: OUTPUT_DIR/logs/worker_<rank>.log (OUTPUT_DIR: --output_dir, default ./output).
set -euo pipefail
USAGE="bash scripts/run_distribute_train_gpu.sh DEVICE_NUM DATA_PATH [train.py options ...]"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
local_distribute_train GPU DEVICE_NUM "$@"
