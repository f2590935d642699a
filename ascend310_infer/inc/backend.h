// The one interface every inference runtime implements, and the factory that picks one.
#ifndef RESNET50_BAM_INFER_BACKEND_H_
#define RESNET50_BAM_INFER_BACKEND_H_

#include <memory>
#include <string>
#include <vector>

#include "inc/options.h"
#include "inc/preprocess.h"

class InferenceBackend {
 public:
  virtual ~InferenceBackend() = default;
  // The logits of one preprocessed image. Throws std::runtime_error if the runtime fails.
  virtual std::vector<float> Infer(const ImageTensor& image) = 0;
  // Human-readable name for the latency report, e.g. "cpu (OpenCV 4.6.0 DNN, ONNX)".
  virtual std::string Description() const = 0;
};

// The backend named by options.backend, loading options.model_path. Throws UsageError for a backend
// this build does not contain, std::runtime_error when the model cannot be loaded.
std::unique_ptr<InferenceBackend> CreateBackend(const Options& options);

// "cpu" always; "ascend" when built with MindSpore Lite (build.sh --lite_path).
std::vector<std::string> BuiltBackends();

// Factories of the individual backends (one source file each).
std::unique_ptr<InferenceBackend> CreateOpenCvDnnBackend(const Options& options);
#ifdef WITH_ASCEND_BACKEND
std::unique_ptr<InferenceBackend> CreateAscendBackend(const Options& options);
#endif

#endif  // RESNET50_BAM_INFER_BACKEND_H_
