// The one interface every inference runtime implements, and the factory that picks one.
#ifndef RESNET50_BAM_INFER_BACKEND_H_
#define RESNET50_BAM_INFER_BACKEND_H_

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "inc/options.h"
#include "inc/preprocess.h"

// A runtime failure in the app's words: what() is the one line naming the problem and what to do; detail() keeps
// the runtime's own text (OpenCV's runs to many lines), which the app prints after that line, never before it.
class BackendError : public std::runtime_error {
 public:
  BackendError(const std::string& message, std::string detail)
      : std::runtime_error(message), detail_(std::move(detail)) {}
  const std::string& detail() const { return detail_; }

 private:
  std::string detail_;
};

class InferenceBackend {
 public:
  virtual ~InferenceBackend() = default;
  // The logits of one preprocessed image. Throws std::runtime_error (or a BackendError) if the runtime fails.
  virtual std::vector<float> Infer(const ImageTensor& image) = 0;
  // Human-readable name for the latency report, e.g. "cpu (OpenCV 4.6.0 DNN, ONNX)".
  virtual std::string Description() const = 0;
};

// The backend named by options.backend, loading options.model_path. Throws UsageError for a backend
// this build does not contain, std::runtime_error (or a BackendError) when the model cannot be loaded.
std::unique_ptr<InferenceBackend> CreateBackend(const Options& options);

// "cpu" always; "ascend" when built with MindSpore Lite (build.sh --lite_path).
std::vector<std::string> BuiltBackends();

// Factories of the individual backends (one source file each).
std::unique_ptr<InferenceBackend> CreateOpenCvDnnBackend(const Options& options);
#ifdef WITH_ASCEND_BACKEND
std::unique_ptr<InferenceBackend> CreateAscendBackend(const Options& options);
#endif

#endif  // RESNET50_BAM_INFER_BACKEND_H_
