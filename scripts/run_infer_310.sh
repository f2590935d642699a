#!/usr/bin/env bash
# The inference flow on Ascend 310: write the label file, build the app with MindSpore Lite, classify every image of
# a class-folder val set with a MINDIR export, print top-1/top-5 accuracy and latency. A MINDIR cannot be read here
# without MindSpore: the app checks its class count against the val set's once it has loaded it, before classifying.
# MINDSPORE_LITE_PATH is the root of the MindSpore Lite cloud-inference package for Ascend (since MindSpore 2.2
# the only C++ inference library; it holds runtime/include/api/model.h); source the CANN set_env.sh first.
# The MINDIR: export.py --file_format MINDIR --dynamic_batch false (batch 1, the shape the app runs); a
# dynamic-batch export also works, pinned to batch 1 when it is built. DEVICE_ID defaults to 0,
# IMAGE_HEIGHT/IMAGE_WIDTH (the export's input size) to 224 224, CROP_PCT (the evaluation's --crop_pct) to
# 0.875. Results and logs go to $OUTPUT_DIR (default ./infer_310); PYTHON picks the interpreter.
set -euo pipefail
USAGE="MINDSPORE_LITE_PATH=LITE bash scripts/run_infer_310.sh MINDIR_PATH DATA_PATH [DEVICE_ID] [IMAGE_HEIGHT IMAGE_WIDTH [CROP_PCT]]"
source "$(dirname "${BASH_SOURCE[0]}")/infer_common.sh"

[ $# = 2 ] || [ $# = 3 ] || [ $# = 5 ] || [ $# = 6 ] ||
    usage_error "need MINDIR_PATH and DATA_PATH, optionally DEVICE_ID, then IMAGE_HEIGHT and IMAGE_WIDTH, then CROP_PCT"
[ -n "${MINDSPORE_LITE_PATH:-}" ] || usage_error "set MINDSPORE_LITE_PATH to the MindSpore Lite package"
lite="$(existing 'MINDSPORE_LITE_PATH' "$MINDSPORE_LITE_PATH")"
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

# The app loads Lite's libraries at run time: its runtime, its oneDNN (x86 packages), and the converter's
# libraries, with which Lite compiles a MINDIR exported by MindSpore (not converted to its own format) on loading.
[ -d "$lite/runtime/lib" ] ||
    usage_error "MINDSPORE_LITE_PATH $lite has no runtime/lib: give the root of the MindSpore Lite package"
[ -d "$lite/tools/converter/lib" ] ||
    echo "warning: $lite has no tools/converter/lib; Lite may not load a MINDIR exported by MindSpore" >&2
for folder in tools/converter/lib runtime/third_party/dnnl runtime/lib; do
    [ ! -d "$lite/$folder" ] || LD_LIBRARY_PATH="$lite/$folder:${LD_LIBRARY_PATH:-}"
done
export LD_LIBRARY_PATH
label_images "$data"
run_step build bash "$APP_DIR/build.sh" --lite_path "$lite"
infer_and_score "$model" "$data" "$height" "$width" "$crop" --backend=ascend --device_id="$device_id"
