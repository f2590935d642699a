#!/usr/bin/env bash
# Set up (scripts/setup_env.sh --test), then run the whole test suite; extra arguments go to pytest.
# Exit status: pytest's, except that "no tests collected" (5) is not a failure.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/scripts/setup_env.sh" --test
cd "$repo"
python="${VENV:-$repo/.venv}/bin/python"
# Two pytest-xdist processes, one per core: most tests wait on one single-threaded MindSpore graph compilation.
# Each test file runs in one of them (its module fixtures are made once); a later -n (-n 0: none) overrides.
workers=(--numprocesses "${TEST_PROCESSES:-2}" --dist loadfile)
echo "[tests] $python -m pytest ${workers[*]} $*"
status=0
"$python" -m pytest "${workers[@]}" "$@" || status=$?
if [ "$status" = 5 ]; then
    echo "[tests] no tests collected"
    exit 0
fi
exit "$status"
