#!/usr/bin/env bash
# Data-parallel training on the Ascend devices of an HCCL rank table (one process per device), started by msrun.
# Further arguments go to train.py. Logs: OUTPUT_DIR/logs/worker_<rank>.log (OUTPUT_DIR: --output_dir, default ./output).
set -euo pipefail
USAGE="bash scripts/run_distribute_train.sh RANK_TABLE_FILE DATA_PATH [train.py options ...]"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ $# -ge 2 ] || usage_error "need RANK_TABLE_FILE and DATA_PATH"
rank_table="$(absolute "$1")"; data_path="$(absolute "$2")"; shift 2
[ -f "$rank_table" ] || usage_error "rank table $rank_table does not exist"
devices="$("$PYTHON" -c 'import json, sys
table = json.load(open(sys.argv[1]))
print(sum(len(server["device"]) for server in table["server_list"]))' "$rank_table" 2>/dev/null)" \
    || usage_error "$rank_table is not an HCCL rank table (JSON with server_list[].device[])"
msrun_train "$devices" "$(output_dir_of "$@")" --rank_table_file="$rank_table" -- \
    --device_target Ascend --data_path "$data_path" "$@"
