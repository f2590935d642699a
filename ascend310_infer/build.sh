#!/bin/bash
# Builds ascend310_infer/out/resnet50_bam_infer.
#   bash build.sh                      cpu backend only (OpenCV DNN on the ONNX export)
#   bash build.sh --lite_path DIR      also the Ascend 310 backend, on the MindSpore Lite package in DIR
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LITE_PATH=""

usage() {
  echo "usage: bash $0 [--lite_path DIR]" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --lite_path)
      [ $# -ge 2 ] || usage
      LITE_PATH="$(cd "$2" && pwd)" || { echo "build.sh: error: $2 is not a folder" >&2; exit 2; }
      shift 2 ;;
    *) usage ;;
  esac
done

if [ -z "$LITE_PATH" ]; then
  echo "build.sh: building without the Ascend 310 backend (no --lite_path given)"
fi
cmake -S "$HERE" -B "$HERE/build" -DCMAKE_BUILD_TYPE=Release -DMINDSPORE_LITE_PATH="$LITE_PATH"
cmake --build "$HERE/build" --parallel "$(nproc)"
echo "build.sh: built $HERE/out/resnet50_bam_infer"
