#!/usr/bin/env bash
# The inference flow on a CPU: build the app (OpenCV DNN backend), classify every image of a class-folder
# val set with an ONNX export, write the label file, print top-1/top-5 accuracy and the latency.
# IMAGE_HEIGHT/IMAGE_WIDTH are the export's input size (default 224 224), CROP_PCT the evaluation's --crop_pct
# (default 0.875; 1 for sets stored at the input size). Results and logs go to
# $OUTPUT_DIR (default ./infer_cpu); PYTHON picks the interpreter.
set -euo pipefail
USAGE="bash scripts/run_infer_cpu.sh ONNX_PATH DATA_PATH [IMAGE_HEIGHT IMAGE_WIDTH [CROP_PCT]]"
source "$(dirname "${BASH_SOURCE[0]}")/infer_common.sh"

[ $# = 2 ] || [ $# = 4 ] || [ $# = 5 ] ||
    usage_error "need ONNX_PATH and DATA_PATH, optionally IMAGE_HEIGHT and IMAGE_WIDTH, then CROP_PCT"
model="$(existing 'ONNX file' "$1")"
data="$(existing 'image folder' "$2")"
height="${3:-224}"
width="${4:-224}"
crop="${5:-0.875}"
positive_integer IMAGE_HEIGHT "$height"
positive_integer IMAGE_WIDTH "$width"
crop_pct "$crop"
prepare_output_dir infer_cpu

run_step build bash "$APP_DIR/build.sh"
infer_and_score "$model" "$data" "$height" "$width" "$crop" --backend=cpu
