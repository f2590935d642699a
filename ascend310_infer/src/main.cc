// Classifies every image of a folder with an exported ResNet50-BAM and writes one logits file per image
// (result_Files/<image stem>_0.bin, float32) plus an average-latency report, for postprocess.py.
#include <algorithm>
#include <chrono>
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

// A full ImageNet val run takes about an hour on a CPU: say how far it is now and then.
constexpr size_t kProgressEvery = 1000;

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

// At most this many skipped files are named, as src/image_folder.py does.
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

int Run(const Options& options) {
  const std::vector<std::string> images = options.image_list.empty()
                                              ? ListImages(options.dataset_path)
                                              : ReadImageList(options.image_list, options.dataset_path);
  const PreprocessSpec spec{options.resize, options.height, options.width};
  std::unique_ptr<InferenceBackend> backend = CreateBackend(options);

  const std::string result_dir = JoinPath(options.output_dir, "result_Files");
  const std::string input_dir = JoinPath(options.output_dir, "input_Files");
  const std::string report_dir = JoinPath(options.output_dir, "time_Result");
  CreateDirectories(result_dir);
  CreateDirectories(report_dir);
  if (options.dump_input) CreateDirectories(input_dir);

  std::vector<std::pair<std::string, std::string>> skipped;  // (path, why)
  std::vector<double> preprocess_ms;
  std::vector<double> inference_ms;
  size_t num_classes = 0;
  for (size_t index = 0; index < images.size(); ++index) {
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

    // The first run includes one-time set-up (memory planning, layer fusion, device graph load): keep it out
    // of the per-image figures.
    if (inference_ms.empty()) backend->Infer(tensor);
    start = Clock::now();
    std::vector<float> logits = backend->Infer(tensor);
    inference_ms.push_back(MillisecondsSince(start));

    if (logits.empty()) throw std::runtime_error("the model returned no logits for " + image);
    if (num_classes == 0) num_classes = logits.size();
    if (logits.size() != num_classes) {
      throw std::runtime_error("the model returned " + std::to_string(logits.size()) + " values for " + image +
                               " but " + std::to_string(num_classes) + " before");
    }
    const std::string stem = FileStem(image);
    WriteFloats(JoinPath(result_dir, stem + "_0.bin"), logits);
    if (options.dump_input) WriteFloats(JoinPath(input_dir, stem + ".bin"), tensor.data);
    if ((index + 1) % kProgressEvery == 0) std::cout << index + 1 << "/" << images.size() << " images" << std::endl;
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
  } catch (const std::exception& error) {
    std::cerr << program << ": error: " << error.what() << "\n";
    return 1;
  }
}
