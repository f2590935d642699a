# Shared by the scripts in this folder (sourced, not run).
# REPO: the repository root, whatever the caller's working directory.
# PYTHON: $PYTHON if set, else the repository's .venv, else python3; its folder goes first on PATH so that
# launchers which start `python` themselves (msrun, mpirun) start the same interpreter.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi
PYTHON="$(command -v "$PYTHON")" || { echo "error: Python interpreter ${PYTHON} not found" >&2; exit 2; }
export PATH="$(dirname "$PYTHON"):$PATH"

# usage_error MESSAGE: print the script's usage line and MESSAGE, exit 2.
usage_error() {
    echo "usage: $USAGE" >&2
    echo "error: $1" >&2
    exit 2
}

# absolute PATH: an argument path made absolute against the caller's directory.
absolute() {
    case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac
}

# output_dir_of ARGS...: the --output_dir among train.py arguments (absolute), else ./output.
output_dir_of() {
    local dir=./output
    while [ $# -gt 0 ]; do
        case "$1" in
            --output_dir=*) dir="${1#--output_dir=}" ;;
            --output_dir) dir="${2:-$dir}"; shift ;;
        esac
        shift
    done
    absolute "$dir"
}

# msrun_train WORKERS OUTPUT_DIR [msrun options] -- [train.py arguments]: data-parallel training through msrun,
# MindSpore's launcher. It waits for every worker; when one fails it stops the rest and exits non-zero.
# Worker logs: OUTPUT_DIR/logs/worker_<rank>.log.
msrun_train() {
    local workers="$1" output_dir="$2"; shift 2
    local msrun_options=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do msrun_options+=("$1"); shift; done
    shift
    echo "[train] $workers workers, logs in $output_dir/logs"
    cd "$REPO"
    "$PYTHON" -c 'import sys; from mindspore.parallel.cluster.run import main; sys.exit(main())' \
        --worker_num="$workers" --local_worker_num="$workers" --master_port="${MASTER_PORT:-$((10000 + RANDOM % 20000))}" \
        --log_dir="$output_dir/logs" --join=True "${msrun_options[@]}" \
        train.py --run_distribute true "$@"
}

# run_logged LOG_FILE COMMAND...: run COMMAND in the repository, its output shown and kept in LOG_FILE;
# the exit status is COMMAND's.
run_logged() {
    local log="$1"; shift
    mkdir -p "$(dirname "$log")"
    echo "[run] $* (log: $log)"
    (cd "$REPO" && "$@") 2>&1 | tee "$log"
}
