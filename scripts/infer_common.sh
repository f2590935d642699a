# The steps run_infer_310.sh and run_infer_cpu.sh share (sourced, not run), on top of common.sh.
# Each step's output goes to a log in $LOG_DIR, its progress lines are shown as they come; a failing step prints
# the end of its log and ends the script with the step's exit status.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
APP_DIR="$REPO/ascend310_infer"
APP="$APP_DIR/out/resnet50_bam_infer"

# A progress line of the label script (src/utils/progress.py) or of the app:
# "  checking: 1,200 of 50,000 images, 850.3 images/s, ETA 0:00:57".
PROGRESS_LINE='^  [^:]+: [0-9,]+ of [0-9,]+ .*, ETA [0-9:?]+$'

# show_progress NAME: the progress lines of the input as "[NAME] checking: ..." on stderr, the rest dropped.
show_progress() {
    local line
    while IFS= read -r line; do
        if [[ "$line" =~ $PROGRESS_LINE ]]; then echo "[$1] ${line#  }" >&2; fi
    done
}

# run_step NAME COMMAND...: run COMMAND with its output in $LOG_DIR/NAME.log; over a large folder the label and
# infer steps take minutes, so their progress lines are also shown.
run_step() {
    local name="$1"
    shift
    local log="$LOG_DIR/$name.log"
    echo "[$name] $*"
    local status=0
    # With pipefail the status is COMMAND's when it fails (tee and show_progress only fail on a broken log).
    "$@" 2>&1 | tee "$log" | show_progress "$name" || status=$?
    if [ "$status" != 0 ]; then
        echo "[$name] failed with exit status $status; the end of $log:" >&2
        tail -n 20 "$log" >&2
        exit "$status"
    fi
}

# existing KIND PATH: PATH made absolute, or a usage error if there is nothing there.
existing() {
    [ -e "$2" ] || usage_error "$1 $2 does not exist"
    absolute "$2"
}

# positive_integer NAME VALUE: a usage error unless VALUE is a positive whole number.
positive_integer() {
    [[ "$2" =~ ^[1-9][0-9]*$ ]] || usage_error "$1 must be a positive integer, got '$2'"
}

# prepare_output_dir DEFAULT: $OUTPUT_DIR (else DEFAULT) made absolute, with an empty logs/ inside; results
# of an earlier run are removed, since stale files of another image folder would fail postprocess.
prepare_output_dir() {
    OUTPUT_DIR="$(absolute "${OUTPUT_DIR:-$1}")"
    LOG_DIR="$OUTPUT_DIR/logs"
    make_folder OUTPUT_DIR "$OUTPUT_DIR"
    rm -rf "$OUTPUT_DIR/result_Files" "$OUTPUT_DIR/time_Result" "$OUTPUT_DIR/imagenet_label.json" \
        "$OUTPUT_DIR/image_list.txt" "$LOG_DIR"
    mkdir -p "$LOG_DIR"
}

# crop_pct VALUE: a usage error unless VALUE is a number in (0, 1], the evaluation's --crop_pct.
crop_pct() {
    [[ "$1" =~ ^(0?\.[0-9]+|1(\.0*)?)$ ]] && [[ ! "$1" =~ ^0?\.0*$ ]] ||
        usage_error "CROP_PCT must be a number in (0, 1] (the evaluation's --crop_pct), got '$1'"
}

# label_images DATA [create_imagenet2012_label.py options]: the label file and the list of images eval.py would
# read (files it cannot decode are skipped and named), before the app is built and run: the folder's checks come
# first, and --num_classes (the model's class count, when it is known) refuses a folder of another class count.
label_images() {
    local data="$1"
    shift
    run_step label "$PYTHON" "$REPO/create_imagenet2012_label.py" --img_path "$data" \
        --output "$OUTPUT_DIR/imagenet_label.json" --image_list "$OUTPUT_DIR/image_list.txt" "$@"
}

# infer_and_score MODEL DATA HEIGHT WIDTH CROP_PCT [APP OPTIONS...]: the app over the list label_images wrote, told
# the folder's class count so that it refuses a model of another one before classifying, then the accuracy. The app
# resizes as the evaluation does, to the shorter side src.data.dataset computes.
infer_and_score() {
    local model="$1" data="$2" height="$3" width="$4" crop="$5"
    shift 5
    local resize classes
    resize="$("$PYTHON" -c 'import sys; sys.path.insert(0, sys.argv[1]); from src.data.dataset import eval_resize_size; \
print(eval_resize_size(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))' "$REPO" "$height" "$width" "$crop")"
    # Every class folder keeps an image in the label file, so its classes are 0 .. its highest label.
    classes="$("$PYTHON" -c 'import json, sys; print(max(json.load(open(sys.argv[1])).values()) + 1)' \
        "$OUTPUT_DIR/imagenet_label.json")"
    run_step infer "$APP" --model_path="$model" --dataset_path="$data" --image_list="$OUTPUT_DIR/image_list.txt" \
        --num_classes="$classes" --height="$height" --width="$width" --resize="$resize" --output_dir="$OUTPUT_DIR" "$@"
    run_step acc "$PYTHON" "$REPO/postprocess.py" --result_path "$OUTPUT_DIR/result_Files" \
        --label_path "$OUTPUT_DIR/imagenet_label.json"
    sed -E "/$PROGRESS_LINE/d" "$LOG_DIR/label.log"  # progress lines were shown as they came
    cat "$OUTPUT_DIR/time_Result/latency.txt" "$LOG_DIR/acc.log"
    echo "logs and results: $OUTPUT_DIR"
}
