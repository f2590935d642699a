# Shared by the scripts in this folder (sourced, not run).
# REPO: the repository root, whatever the caller's working directory. The scripts run the entry points from the
# caller's folder as "$PYTHON" "$REPO/eval.py" (which puts the repository first on their module path), so that a
# relative path means the caller's folder to the script and to the entry point alike.
# PYTHON: $PYTHON if set, else the virtual environment scripts/setup_env.sh makes ($VENV, default .venv),
# else python3; its folder goes first on PATH so that launchers which start `python` themselves (msrun,
# mpirun) start the same interpreter.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
    venv="${VENV:-$REPO/.venv}"
    if [ -x "$venv/bin/python" ]; then PYTHON="$venv/bin/python"; else PYTHON=python3; fi
fi
PYTHON="$(command -v "$PYTHON")" || { echo "error: Python interpreter ${PYTHON} not found" >&2; exit 2; }
export PATH="$(dirname "$PYTHON"):$PATH"

# usage_error MESSAGE: print the script's usage line and MESSAGE, exit 2.
usage_error() {
    echo "usage: $USAGE" >&2
    echo "error: $1" >&2
    exit 2
}

# fail MESSAGE: the one line "SCRIPT: error: MESSAGE" for input that does not fit (the arguments themselves do), exit 2.
fail() {
    echo "$(basename "$0"): error: $1" >&2
    exit 2
}

# make_folder WHAT DIR: DIR created with its parents, or a usage error naming WHAT when that fails or DIR cannot
# be written (a file in the way, a read-only folder or disk).
make_folder() {
    { mkdir -p "$2" 2>/dev/null && [ -w "$2" ]; } ||
        usage_error "cannot write into $1 $2 (a file is in the way, or it is read-only); choose another folder"
}

# absolute PATH: an argument path made absolute against the caller's directory.
absolute() {
    case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac
}

# output_dir_of ARGS...: the --output_dir the command given ARGS writes to (absolute): the option's, else the one
# its --config recipe names, else ./output (also when ARGS are wrong: the command says why, in that folder's log).
output_dir_of() {
    local dir
    dir="$("$PYTHON" -c 'import sys; sys.path.insert(0, sys.argv.pop(1)); from src.config import output_dir_of
print(output_dir_of(sys.argv[1:]))' "$REPO" "$@" 2>/dev/null)" || dir=output
    absolute "$dir"
}

# data_parallel_train TARGET (--workers N | --rank_table FILE) DATA_PATH [train.py options]: this machine's part
# of a data-parallel run, started through msrun by src/launch/, which reads the machines of the run from NNODES,
# NODE_RANK, MASTER_ADDR, MASTER_PORT and CLUSTER_TIMEOUT and checks everything before any process starts.
# It waits for every worker; when one fails, it stops the rest and exits non-zero with the error first.
# Logs: OUTPUT_DIR/logs/worker_<rank>.log.
data_parallel_train() {
    local target="$1" count_option="$2" count="$3" data_path="$4"; shift 4
    # From the caller's folder, where relative paths among the options point; the repository first on the path.
    # exec: the launcher is the script's own process, so a signal or SIGKILL sent to the script's pid reaches it.
    exec "$PYTHON" -c 'import sys; sys.path.insert(0, sys.argv.pop(1)); from src.launch.command import main; sys.exit(main())' \
        "$REPO" --prog "$(basename "$0")" --device_target "$target" "$count_option" "$count" -- \
        --data_path "$data_path" "$@"
}

# run_logged LOG_FILE COMMAND...: run COMMAND in the caller's folder, its output shown and kept in LOG_FILE;
# the exit status is COMMAND's.
run_logged() {
    local log="$1"; shift
    make_folder 'the log folder' "$(dirname "$log")"
    echo "[run] $* (log: $log)"
    "$@" 2>&1 | tee "$log"
}

# standalone_train TARGET DEVICE_ID DATA_PATH [train.py options]: training on one device of TARGET, logged to
# OUTPUT_DIR/logs/train.log.
standalone_train() {
    local target="$1"; shift
    [ $# -ge 2 ] || usage_error "need DEVICE_ID and DATA_PATH"
    local device_id="$1" data_path
    data_path="$(absolute "$2")"; shift 2
    [[ "$device_id" =~ ^[0-9]+$ ]] || usage_error "DEVICE_ID must be a non-negative integer, got '$device_id'"
    run_logged "$(output_dir_of "$@")/logs/train.log" "$PYTHON" "$REPO/train.py" --device_target "$target" \
        --device_id "$device_id" --data_path "$data_path" "$@"
}

# local_distribute_train TARGET COUNT_NAME COUNT DATA_PATH [train.py options]: data-parallel training with COUNT
# processes on this machine (COUNT_NAME names COUNT in messages), and as many on each of the other NNODES - 1.
local_distribute_train() {
    local target="$1" count_name="$2"; shift 2
    [ $# -ge 2 ] || usage_error "need $count_name and DATA_PATH"
    local count="$1" data_path
    data_path="$(absolute "$2")"; shift 2
    [[ "$count" =~ ^[1-9][0-9]*$ ]] || usage_error "$count_name must be a positive integer, got '$count'"
    data_parallel_train "$target" --workers "$count" "$data_path" "$@"
}

# evaluate TARGET CHECKPOINT_PATH VAL_DATA_PATH [DEVICE_ID] [eval.py options]: eval.py on one device of TARGET,
# logged to OUTPUT_DIR/logs/eval.log.
evaluate() {
    local target="$1"; shift
    [ $# -ge 2 ] || usage_error "need CHECKPOINT_PATH and VAL_DATA_PATH"
    local checkpoint_path data_path device_id=0
    checkpoint_path="$(absolute "$1")"; data_path="$(absolute "$2")"; shift 2
    if [ $# -gt 0 ] && [[ "$1" != --* ]]; then device_id="$1"; shift; fi
    [[ "$device_id" =~ ^[0-9]+$ ]] || usage_error "DEVICE_ID must be a non-negative integer, got '$device_id'"
    run_logged "$(output_dir_of "$@")/logs/eval.log" "$PYTHON" "$REPO/eval.py" --device_target "$target" \
        --device_id "$device_id" --checkpoint_path "$checkpoint_path" --val_data_path "$data_path" "$@"
}
