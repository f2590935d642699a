// Command-line options of the inference app.
#ifndef RESNET50_BAM_INFER_OPTIONS_H_
#define RESNET50_BAM_INFER_OPTIONS_H_

#include <cstdint>
#include <stdexcept>
#include <string>

// Bad command-line input: the app prints it on one line with the usage hint and exits with status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Options {
  std::string model_path;    // ONNX file (cpu backend) or MINDIR file (ascend backend)
  std::string dataset_path;  // folder of images, searched recursively (class sub-folders allowed)
  // Optional: the images to classify, one path per line relative to dataset_path (the label script's list of
  // what eval.py reads); without it, every visible image file under dataset_path.
  std::string image_list;
  std::string backend = "cpu";
  uint32_t device_id = 0;
  // Evaluation preprocessing: shorter side resized to `resize`, then a centre crop of height x width.
  int resize = 256;
  int height = 224;
  int width = 224;
  std::string output_dir = ".";  // gets result_Files/ and time_Result/
  // Optional: the val set's class count; a model with another number of outputs is refused before any image is read,
  // as eval.py refuses a folder with another class count than the network's. 0: not checked.
  int num_classes = 0;
  // A progress line on stderr at most this often (0: after every image): a large folder takes minutes to hours.
  int progress_seconds = 10;
  bool dump_input = false;       // also write each preprocessed input tensor to input_Files/
  bool help = false;
};

// Parses --key=value / --key value arguments; throws UsageError on anything it cannot use.
Options ParseOptions(int argc, char** argv);

std::string UsageText(const std::string& program);

#endif  // RESNET50_BAM_INFER_OPTIONS_H_
