#!/usr/bin/env bash
# The inference flow on a CPU: check the ONNX export against the arguments and the val set (its input size, its
# class count), write the label file, build the app (OpenCV DNN backend), classify every image of the class-folder
# val set, print top-1/top-5 accuracy and the latency.
# IMAGE_HEIGHT/IMAGE_WIDTH are the export's input size (default 224 224), CROP_PCT the evaluation's --crop_pct
# (default 0.875; 1 for sets stored at the input size). Results and logs go to
# $OUTPUT_DIR (default ./infer_cpu); PYTHON picks the interpreter.
set -euo pipefail
USAGE="bash scripts/run_infer_cpu.sh ONNX_PATH DATA_PATH [IMAGE_HEIGHT IMAGE_WIDTH [CROP_PCT]]"
source "$(dirname "${BASH_SOURCE[0]}")/infer_common.sh"

# onnx_input_and_classes ONNX: "HEIGHT WIDTH CLASSES" of an ONNX export (0 for a size it leaves open), read with the
# onnx package, without MindSpore or running it; nothing for a file it cannot read (the app then says what it is).
onnx_input_and_classes() {
    "$PYTHON" - "$1" 2>/dev/null <<'PY' || true
import sys

import onnx

graph = onnx.load(sys.argv[1], load_external_data=False).graph
weights = {weight.name for weight in graph.initializer}
image = next(value for value in graph.input if value.name not in weights)
_, _, height, width = (dim.dim_value for dim in image.type.tensor_type.shape.dim)
print(height, width, graph.output[0].type.tensor_type.shape.dim[-1].dim_value)
PY
}

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

# Before the app runs: the export's input size against IMAGE_HEIGHT/IMAGE_WIDTH here, its class count against the
# val set's class folders in the label step (as eval.py checks it).
read -r onnx_height onnx_width onnx_classes <<<"$(onnx_input_and_classes "$model")"
for fixed_and_given in "${onnx_height:-0} $height" "${onnx_width:-0} $width"; do
    read -r fixed given <<<"$fixed_and_given"
    [ "$fixed" = 0 ] || [ "$fixed" = "$given" ] ||
        fail "$model takes ${onnx_height}x$onnx_width images, not ${height}x$width; pass IMAGE_HEIGHT IMAGE_WIDTH \
$onnx_height $onnx_width (its export.py --image_height and --image_width)"
done
classes_option=()
[ "${onnx_classes:-0}" = 0 ] || classes_option=(--num_classes "$onnx_classes")

prepare_output_dir infer_cpu
label_images "$data" "${classes_option[@]}"
run_step build bash "$APP_DIR/build.sh"
infer_and_score "$model" "$data" "$height" "$width" "$crop" --backend=cpu
