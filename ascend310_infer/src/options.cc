#include "inc/options.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "inc/backend.h"

namespace {

// A whole decimal number of at least `minimum`; anything else (including "12px") is a UsageError.
int ParseInt(const std::string& key, const std::string& text, int minimum) {
  size_t used = 0;
  int value = 0;
  try {
    value = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || value < minimum) {
    throw UsageError("--" + key + " must be an integer of at least " + std::to_string(minimum) + ", got '" +
                     text + "'");
  }
  return value;
}

void Check(const Options& options) {
  if (options.model_path.empty()) throw UsageError("--model_path is required");
  if (options.dataset_path.empty()) throw UsageError("--dataset_path is required");
  if (options.backend != "cpu" && options.backend != "ascend") {
    throw UsageError("--backend must be cpu or ascend, got '" + options.backend + "'");
  }
  const std::vector<std::string> built = BuiltBackends();
  if (std::find(built.begin(), built.end(), options.backend) == built.end()) {
    throw UsageError("the " + options.backend + " backend is not in this build; rebuild with build.sh " +
                     "--lite_path DIR (the MindSpore Lite package) on the Ascend machine");
  }
  // The centre crop must fit inside the resized image, whose shorter side is `resize`.
  if (options.resize < options.height || options.resize < options.width) {
    throw UsageError("--resize (" + std::to_string(options.resize) + ") must be at least --height (" +
                     std::to_string(options.height) + ") and --width (" + std::to_string(options.width) + ")");
  }
}

}  // namespace

std::string UsageText(const std::string& program) {
  std::ostringstream text;
  text << "usage: " << program << " --model_path=FILE --dataset_path=DIR [options]\n"
       << "Classifies every image under DIR; writes OUTPUT_DIR/result_Files/<image stem>_0.bin (float32 logits)\n"
       << "and an average-latency report to OUTPUT_DIR/time_Result/latency.txt.\n"
       << "  --model_path=FILE    ONNX export (cpu backend) or MINDIR export (ascend backend)\n"
       << "  --dataset_path=DIR   images (.jpg .jpeg .png .bmp), searched recursively; hidden files are left out\n"
       << "                       and files that cannot be decoded are skipped and named\n"
       << "  --image_list=FILE    classify only these images (paths relative to DIR, one per line), as written by\n"
       << "                       create_imagenet2012_label.py --image_list: exactly the images eval.py reads\n"
       << "  --backend=NAME       cpu (OpenCV DNN) or ascend (MindSpore Lite); default cpu\n"
       << "  --device_id=N        Ascend device; default 0\n"
       << "  --resize=S           shorter side before the crop; default 256 (round(max(H, W) * 256 / 224))\n"
       << "  --height=H --width=W centre crop, the exported model's input size; default 224 x 224\n"
       << "  --num_classes=N      the val set's class count: refuse a model with another number of outputs\n"
       << "                       before classifying (as eval.py refuses such a folder); default: not checked\n"
       << "  --progress_seconds=S progress (images done, images/s, time left) on stderr at most every S seconds;\n"
       << "                       0: after every image; default 10\n"
       << "  --output_dir=DIR     default .\n"
       << "  --dump_input         also write each preprocessed input to OUTPUT_DIR/input_Files/<stem>.bin\n";
  return text.str();
}

Options ParseOptions(int argc, char** argv) {
  Options options;
  std::map<std::string, std::string*> text_options = {
      {"model_path", &options.model_path},
      {"dataset_path", &options.dataset_path},
      {"image_list", &options.image_list},
      {"backend", &options.backend},
      {"output_dir", &options.output_dir},
  };
  std::map<std::string, int*> int_options = {
      {"resize", &options.resize},
      {"height", &options.height},
      {"width", &options.width},
  };
  for (int i = 1; i < argc; ++i) {
    std::string argument = argv[i];
    if (argument == "--help" || argument == "-h") {
      options.help = true;
      return options;
    }
    if (argument == "--dump_input") {
      options.dump_input = true;
      continue;
    }
    if (argument.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + argument + "'");
    std::string key = argument.substr(2);
    std::string value;
    size_t equals = key.find('=');
    if (equals != std::string::npos) {
      value = key.substr(equals + 1);
      key = key.substr(0, equals);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw UsageError("--" + key + " needs a value");
    }
    if (auto text = text_options.find(key); text != text_options.end()) {
      *text->second = value;
    } else if (auto number = int_options.find(key); number != int_options.end()) {
      *number->second = ParseInt(key, value, 1);
    } else if (key == "device_id") {
      options.device_id = static_cast<uint32_t>(ParseInt(key, value, 0));
    } else if (key == "num_classes") {
      options.num_classes = ParseInt(key, value, 1);
    } else if (key == "progress_seconds") {
      options.progress_seconds = ParseInt(key, value, 0);
    } else {
      throw UsageError("unknown option --" + key);
    }
  }
  Check(options);
  return options;
}
