#!/usr/bin/env bash
# The repository's main job on its built-in demo, from a fresh Debian machine: set up, build the
# Fashion-MNIST demo set, train ResNet50-BAM on the CPU with validation, evaluate the best checkpoint,
# export it to ONNX and MINDIR, classify the val images with the C++ inference app, draw the attention
# maps, and print the results and where the files are.
#   bash scripts/quick_start.sh           the demo run: full-width network (about 12 minutes on 2 cores, packages included)
#   bash scripts/quick_start.sh --fast    a narrow network, two short epochs (what CI runs; about a minute)
# Data goes to data/, results to output/ (OUTPUT_ROOT overrides output/; a relative one is taken from the folder the
# script is started in). An earlier run's results there are removed first, and the script says so.
set -euo pipefail
USAGE="bash scripts/quick_start.sh [--fast]"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fast=false
case "${1:-}" in
    "") ;;
    --fast) fast=true ;;
    *) echo "usage: $USAGE" >&2; echo "error: unknown argument '$1'" >&2; exit 2 ;;
esac
started=$SECONDS

bash "$repo/scripts/setup_env.sh"
source "$repo/scripts/common.sh"

# The demo recipe (configs/demo.yaml) sets the data, the network and the training; every command reads its own
# keys from it. --fast: a narrow network, two epochs, a tenth of the photos.
recipe=(--config "$repo/configs/demo.yaml")
if $fast; then
    data="$repo/data/fashion_demo_fast"
    output="$(absolute "${OUTPUT_ROOT:-$repo/output}")/quick_start_fast"
    demo_data=(--train_per_class 60 --val_per_class 20)
    recipe+=(--base_width 8)
    training=(--epoch_size 2 --lr_init 0.05 --batch_size 32)
else
    data="$repo/data/fashion_demo"
    output="$(absolute "${OUTPUT_ROOT:-$repo/output}")/quick_start"
    demo_data=()
    training=()
fi
best="$output/train_resnet50_bam_fashion_demo_best.ckpt"

step() { echo; echo "=== $* ($((SECONDS - started)) s)"; }

step "1/6 demo data: real Fashion-MNIST photos as an ImageNet-style folder set in $data"
if [ -d "$data/train" ] && [ -d "$data/val" ]; then
    echo "already there; delete $data to rebuild it"
else
    # A module run (-m) from the repository, so that it imports this src/; its paths are absolute.
    (cd "$repo" && "$PYTHON" -m src.data.demo_data --output_dir "$data" "${demo_data[@]}")
fi

step "2/6 training ResNet50-BAM with validation after every epoch (log: $output/logs/train.log)"
# train.py refuses a folder holding an earlier run's results: the demo starts from a clean one.
if [ -e "$output" ]; then
    echo "removing the earlier demo run in $output"
    rm -rf "$output"
fi
run_logged "$output/logs/train.log" "$PYTHON" "$repo/train.py" "${recipe[@]}" --data_path "$data/train" \
    --val_data_path "$data/val" --output_dir "$output" "${training[@]}"

step "3/6 evaluating the best checkpoint on every val image"
run_logged "$output/logs/eval.log" "$PYTHON" "$repo/eval.py" --checkpoint_path "$best" --val_data_path "$data/val" \
    --output_dir "$output/eval" "${recipe[@]}"

step "4/6 exporting it to ONNX and MINDIR (each checked against the checkpoint)"
for format in ONNX MINDIR; do
    run_logged "$output/logs/export_$format.log" "$PYTHON" "$repo/export.py" --ckpt_file "$best" \
        --file_format "$format" --file_name "$output/resnet50_bam_fashion_demo" "${recipe[@]}"
done

step "5/6 the C++ inference app (OpenCV DNN on the ONNX export) over the val images"
OUTPUT_DIR="$output/infer" bash "$repo/scripts/run_infer_cpu.sh" "$output/resnet50_bam_fashion_demo.onnx" \
    "$data/val" 32 32 1

step "6/6 BAM attention maps of a few val images"
mkdir -p "$output/attention_inputs"
for class_dir in "$data"/val/*/; do
    images=("$class_dir"*)  # sorted by the shell; no pipe whose reader could close early under pipefail
    cp "${images[0]}" "$output/attention_inputs/"
done
run_logged "$output/logs/attention.log" "$PYTHON" "$repo/attention_map.py" --model_file "$best" \
    --image_path "$output/attention_inputs" --class_names "$data/class_names.json" --output_dir "$output" \
    "${recipe[@]}"

echo
echo "=== done in $((SECONDS - started)) s"
echo "validation per epoch:     $output/epochs.csv (curves: $output/training_curves.png)"
echo "best checkpoint:          $best"
echo "eval.py:                  $(grep '^best:' "$output/logs/eval.log" | cut -d';' -f1)"
echo "C++ app + postprocess:    $(cat "$output/infer/logs/acc.log")"
echo "exports:                  $output/resnet50_bam_fashion_demo.onnx, .mindir"
echo "attention maps:           $output/attention/"
