// CPU backend: OpenCV's DNN module running the ONNX export (export.py --file_format ONNX).
#include <stdexcept>

#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/dnn.hpp>

#include "inc/backend.h"

namespace {

class OpenCvDnnBackend : public InferenceBackend {
 public:
  explicit OpenCvDnnBackend(const std::string& onnx_path) : onnx_path_(onnx_path) {
    // OpenCV logs its own multi-line account of a failure before throwing it; the app says what went wrong
    // first, in one line, and shows OpenCV's text after it (BackendError::detail).
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
    try {
      net_ = cv::dnn::readNetFromONNX(onnx_path);
    } catch (const cv::Exception& error) {
      throw BackendError("OpenCV DNN cannot load " + onnx_path + " (an ONNX export is needed); export the " +
                             "checkpoint with export.py --file_format ONNX",
                         error.msg);
    }
    net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  }

  std::vector<float> Infer(const ImageTensor& image) override {
    const int shape[] = {1, image.channels, image.height, image.width};
    // A view of the tensor, not a copy; setInput copies it into the network.
    cv::Mat blob(4, shape, CV_32F, const_cast<float*>(image.data.data()));
    cv::Mat logits;
    try {
      net_.setInput(blob);
      logits = net_.forward();
    } catch (const cv::Exception& error) {
      const std::string size = std::to_string(image.height) + "x" + std::to_string(image.width);
      throw BackendError("OpenCV DNN cannot run " + onnx_path_ + " on " + size + " images; is that the export's " +
                             "input size? Pass its export.py --image_height and --image_width as --height and --width",
                         error.msg);
    }
    if (!logits.isContinuous()) logits = logits.clone();
    const float* values = logits.ptr<float>();
    return std::vector<float>(values, values + logits.total());
  }

  std::string Description() const override { return "cpu (OpenCV " CV_VERSION " DNN, ONNX)"; }

 private:
  std::string onnx_path_;
  cv::dnn::Net net_;
};

}  // namespace

std::unique_ptr<InferenceBackend> CreateOpenCvDnnBackend(const Options& options) {
  return std::make_unique<OpenCvDnnBackend>(options.model_path);
}
