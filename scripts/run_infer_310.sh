#!/usr/bin/env bash
# The inference flow on Ascend 310: build the app with the MindSpore inference SDK, classify every image of
# a class-folder val set with a MINDIR export, write the label file, print top-1/top-5 accuracy and latency.
# MINDSPORE_PATH is the root of the MindSpore Lite cloud-inference package (or of an Ascend MindSpore
# install) holding include/api/model.h; source the CANN set_env.sh first. DEVICE_ID defaults to 0,
# IMAGE_HEIGHT/IMAGE_WIDTH (the export's input size) to 224 224, CROP_PCT (the evaluation's --crop_pct) to
# 0.875. Results and logs go to $OUTPUT_DIR
# (default ./infer_310); PYTHON picks the interpreter.
set -euo pipefail
USAGE="MINDSPORE_PATH=SDK bash scripts/run_infer_310.sh MINDIR_PATH DATA_PATH [DEVICE_ID] [IMAGE_HEIGHT IMAGE_WIDTH [CROP_PCT]]"
source "$(dirname "${BASH_SOURCE[0]}")/infer_common.sh"

[ $# = 2 ] || [ $# = 3 ] || [ $# = 5 ] || [ $# = 6 ] ||
    usage_error "need MINDIR_PATH and DATA_PATH, optionally DEVICE_ID, then IMAGE_HEIGHT and IMAGE_WIDTH, then CROP_PCT"
[ -n "${MINDSPORE_PATH:-}" ] || usage_error "set MINDSPORE_PATH to the MindSpore inference SDK"
sdk="$(existing 'MINDSPORE_PATH' "$MINDSPORE_PATH")"
model="$(existing 'MINDIR file' "$1")"
data="$(existing 'image folder' "$2")"
device_id="${3:-0}"
height="${4:-224}"
width="${5:-224}"
crop="${6:-0.875}"
[[ "$device_id" =~ ^[0-9]+$ ]] || usage_error "DEVICE_ID must be a non-negative integer, got '$device_id'"
positive_integer IMAGE_HEIGHT "$height"
positive_integer IMAGE_WIDTH "$width"
crop_pct "$crop"
prepare_output_dir infer_310

# The app loads the SDK's libraries at run time.
export LD_LIBRARY_PATH="$sdk/runtime/lib:$sdk/lib:${LD_LIBRARY_PATH:-}"
run_step build bash "$APP_DIR/build.sh" --mindspore_path "$sdk"
infer_and_score "$model" "$data" "$height" "$width" "$crop" --backend=ascend --device_id="$device_id"
