// Classifies every image of a folder with an exported ResNet50-BAM and writes one logits file per image
// (result_Files/<image stem>_0.bin, float32) plus an average-latency report, for postprocess.py.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <utility>

#include "inc/backend.h"
#include "inc/file_system.h"
#include "inc/image_folder.h"
#include "inc/options.h"
#include "inc/preprocess.h"

namespace {

using Clock = std::chrono::steady_clock;

double MillisecondsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

void WriteBytes(const std::string& path, const char* data, size_t size) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(data, static_cast<std::streamsize>(size));
  file.close();  // flushes, so that a full disk shows up here
  if (!file) throw std::runtime_error("cannot write " + path);
}

void WriteFloats(const std::string& path, const std::vector<float>& values) {
  WriteBytes(path, reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t middle = values.size() / 2;
  return values.size() % 2 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

double Mean(const std::vector<double>& values) {
  double sum = 0;
  for (double value : values) sum += value;
  return sum / static_cast<double>(values.size());
}

// At most this many skipped files are named, as src/data/image_folder.py does.
constexpr size_t kListedSkipped = 10;

// "skipped 2 of 12 files that cannot be decoded: a.JPEG: empty file; b.JPEG: ..." (relative to `folder`).
std::string DescribeSkipped(const std::vector<std::pair<std::string, std::string>>& skipped, size_t total,
                            const std::string& folder) {
  std::ostringstream text;
  text << "skipped " << skipped.size() << " of " << total << " files in " << folder << " that cannot be decoded: ";
  const std::string prefix = JoinPath(folder, "");
  for (size_t index = 0; index < skipped.size() && index < kListedSkipped; ++index) {
    const std::string& path = skipped[index].first;
    text << (index ? "; " : "") << (path.rfind(prefix, 0) == 0 ? path.substr(prefix.size()) : path) << ": "
         << skipped[index].second;
  }
  if (skipped.size() > kListedSkipped) text << "; and " << skipped.size() - kListedSkipped << " more";
  return text.str();
}

// "0:09:32": hours, minutes, seconds, as the Python entry points give the time left (src/utils/progress.py).
std::string DurationText(double seconds) {
  const long total = std::lround(seconds);
  std::ostringstream text;
  text << total / 3600 << ":" << std::setfill('0') << std::setw(2) << total / 60 % 60 << ":" << std::setw(2)
       << total % 60;
  return text.str();
}

// "50,000".
std::string GroupedDigits(size_t number) {
  std::string digits = std::to_string(number);
  for (size_t comma = digits.size() > 3 ? digits.size() - 3 : 0; comma > 0; comma = comma > 3 ? comma - 3 : 0) {
    digits.insert(comma, ",");
  }
  return digits;
}

// "  classifying: 1,200 of 50,000 images, 85.3 images/s, ETA 0:09:32" on stderr at most every `interval_seconds`
// (the format of src/utils/progress.py): a full val set takes about an hour on a CPU. scripts/infer_common.sh shows these
// lines as they come.
class Progress {
 public:
  Progress(size_t total, int interval_seconds)
      : total_(total), interval_(interval_seconds), start_(Clock::now()), last_(start_) {}

  // Called before each image with the number of images done: none done yet, no rate to tell.
  void Report(size_t done) {
    const Clock::time_point now = Clock::now();
    if (done == 0 || now - last_ < interval_) return;
    last_ = now;
    const double rate = static_cast<double>(done) / std::chrono::duration<double>(now - start_).count();
    std::ostringstream line;
    line << "  classifying: " << GroupedDigits(done) << " of " << GroupedDigits(total_) << " images, " << std::fixed
         << std::setprecision(1) << rate << " images/s, ETA "
         << DurationText(static_cast<double>(total_ - done) / rate);
    std::cerr << line.str() << std::endl;
  }

 private:
  size_t total_;
  std::chrono::seconds interval_;
  Clock::time_point start_;
  Clock::time_point last_;
};

// A black image of the model's input size.
ImageTensor BlankImage(int height, int width) {
  ImageTensor image;
  image.channels = 3;
  image.height = height;
  image.width = width;
  image.data.assign(static_cast<size_t>(3) * height * width, 0.0f);
  return image;
}

// The model's class count, from one run on a blank image before any file is read: that run also does the
// runtime's one-time set-up (kept out of the latency figures) and fails at once on a wrong input size. A model
// with another class count than the val set's (--num_classes) is refused, as eval.py refuses such a folder.
size_t ProbeClassCount(InferenceBackend* backend, const Options& options) {
  const size_t num_classes = backend->Infer(BlankImage(options.height, options.width)).size();
  if (num_classes == 0) throw std::runtime_error("the model " + options.model_path + " returns no logits");
  if (options.num_classes > 0 && num_classes != static_cast<size_t>(options.num_classes)) {
    throw UsageError(options.model_path + " classifies " + std::to_string(num_classes) + " classes but the val " +
                     "set has " + std::to_string(options.num_classes) + " class folders (--num_classes); it needs " +
                     "one folder for each class the model was trained on, named as in training");
  }
  return num_classes;
}

int Run(const Options& options) {
  std::vector<std::string> images = options.image_list.empty()
                                        ? ListImages(options.dataset_path)
                                        : ReadImageList(options.image_list, options.dataset_path);
  const std::vector<std::string> unlisted = TakeOutNamesWithLineBreaks(&images);
  if (!unlisted.empty()) std::cerr << DescribeNamesWithLineBreaks(unlisted, options.dataset_path) << std::endl;
  if (images.empty()) throw UsageError("every image under " + options.dataset_path + " has a line break in its name");
  const PreprocessSpec spec{options.resize, options.height, options.width};
  std::unique_ptr<InferenceBackend> backend = CreateBackend(options);
  const size_t num_classes = ProbeClassCount(backend.get(), options);

  const std::string result_dir = JoinPath(options.output_dir, "result_Files");
  const std::string input_dir = JoinPath(options.output_dir, "input_Files");
  const std::string report_dir = JoinPath(options.output_dir, "time_Result");
  CreateDirectories(result_dir);
  CreateDirectories(report_dir);
  if (options.dump_input) CreateDirectories(input_dir);

  std::vector<std::pair<std::string, std::string>> skipped;  // (path, why)
  std::vector<double> preprocess_ms;
  std::vector<double> inference_ms;
  Progress progress(images.size(), options.progress_seconds);
  for (size_t index = 0; index < images.size(); ++index) {
    progress.Report(index);
    const std::string& image = images[index];
    auto start = Clock::now();
    ImageTensor tensor;
    std::string problem = ImageProblem(image);
    if (problem.empty()) {
      try {
        tensor = LoadImageTensor(image, spec);
      } catch (const UndecodableImage& error) {
        problem = error.what();
      }
    }
    if (!problem.empty()) {
      skipped.emplace_back(image, problem);
      continue;
    }
    preprocess_ms.push_back(MillisecondsSince(start));

    start = Clock::now();
    std::vector<float> logits = backend->Infer(tensor);
    inference_ms.push_back(MillisecondsSince(start));

    if (logits.size() != num_classes) {
      throw std::runtime_error("the model returned " + std::to_string(logits.size()) + " values for " + image +
                               " but " + std::to_string(num_classes) + " before");
    }
    const std::string stem = FileStem(image);
    WriteFloats(JoinPath(result_dir, stem + "_0.bin"), logits);
    if (options.dump_input) WriteFloats(JoinPath(input_dir, stem + ".bin"), tensor.data);
  }
  if (inference_ms.empty()) {
    throw std::runtime_error("none of the " + std::to_string(images.size()) + " files under " +
                             options.dataset_path + " can be decoded (" +
                             DescribeSkipped(skipped, images.size(), options.dataset_path) + ")");
  }
  if (!skipped.empty()) std::cerr << DescribeSkipped(skipped, images.size(), options.dataset_path) << std::endl;

  std::ostringstream report;
  report << std::fixed << std::setprecision(3) << "backend: " << backend->Description() << "\n"
         << "images: " << inference_ms.size() << " of 3x" << options.height << "x" << options.width
         << ", classes: " << num_classes << "\n"
         << "inference: average " << Mean(inference_ms) << " ms/image, median " << Median(inference_ms)
         << " ms/image\n"
         << "preprocessing: average " << Mean(preprocess_ms) << " ms/image\n";
  const std::string report_text = report.str();
  WriteBytes(JoinPath(report_dir, "latency.txt"), report_text.data(), report_text.size());
  std::cout << report_text << "results: " << result_dir << "\n";
  return 0;
}

// The non-blank lines of `text`, each indented by two spaces and ended by a newline: a runtime's own account of a
// failure, set off below the app's line.
std::string Indented(const std::string& text) {
  std::istringstream lines(text);
  std::string line;
  std::string indented;
  while (std::getline(lines, line)) {
    if (line.find_first_not_of(" \t>") != std::string::npos) indented += "  " + line + "\n";
  }
  return indented;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string program = FileName(argv[0]);
  try {
    const Options options = ParseOptions(argc, argv);
    if (options.help) {
      std::cout << UsageText(program);
      return 0;
    }
    return Run(options);
  } catch (const UsageError& error) {
    std::cerr << program << ": error: " << error.what() << " (see --help)\n";
    return 2;
  } catch (const BackendError& error) {
    std::cerr << program << ": error: " << error.what() << "\n" << Indented(error.detail());
    return 1;
  } catch (const std::exception& error) {
    std::cerr << program << ": error: " << error.what() << "\n";
    return 1;
  }
}
