#!/usr/bin/env bash
# Data-parallel training on the Ascend devices of an HCCL rank table (one process per device), started by msrun.
# With a table of several servers, run it on each server: each starts its own devices (the server whose
# server_id is one of its addresses, or NODE_RANK = its position in server_list), ranked as in the table;
# MASTER_ADDR defaults to the first server, MASTER_PORT to 8118.
# Further arguments go to train.py. Logs: OUTPUT_DIR/logs/worker_<rank>.log (OUTPUT_DIR: --output_dir, default ./output).
set -euo pipefail
USAGE="bash scripts/run_distribute_train.sh RANK_TABLE_FILE DATA_PATH [train.py options ...]"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ $# -ge 2 ] || usage_error "need RANK_TABLE_FILE and DATA_PATH"
rank_table="$(absolute "$1")"; data_path="$(absolute "$2")"; shift 2
[ -f "$rank_table" ] || usage_error "rank table $rank_table does not exist"
data_parallel_train Ascend --rank_table "$rank_table" "$data_path" "$@"
