#include "inc/preprocess.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace {

// ImageNet channel statistics (RGB) on the 0..255 scale, as src/data/dataset.py normalises.
constexpr float kMean[3] = {0.485f * 255.0f, 0.456f * 255.0f, 0.406f * 255.0f};
constexpr float kStd[3] = {0.229f * 255.0f, 0.224f * 255.0f, 0.225f * 255.0f};

// MindSpore's Resize(size) sets the shorter side to `size` and truncates the longer one.
cv::Size ShorterSideTo(const cv::Size& size, int shorter) {
  if (size.height <= size.width) {
    return {static_cast<int>(static_cast<int64_t>(size.width) * shorter / size.height), shorter};
  }
  return {shorter, static_cast<int>(static_cast<int64_t>(size.height) * shorter / size.width)};
}

}  // namespace

ImageTensor LoadImageTensor(const std::string& path, const PreprocessSpec& spec) {
  // MindSpore's Decode ignores EXIF orientation; so must we, or rotated photos differ from eval.py.
  cv::Mat bgr;
  try {
    bgr = cv::imread(path, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  } catch (const cv::Exception&) {
    // Some damaged files make a codec throw instead of returning an empty image; both mean the same.
  }
  if (bgr.empty()) throw UndecodableImage("OpenCV cannot decode it");
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  cv::Mat resized;
  cv::resize(rgb, resized, ShorterSideTo(rgb.size(), spec.resize), 0, 0, cv::INTER_LINEAR);
  // MindSpore's CenterCrop rounds the offsets down.
  cv::Rect crop((resized.cols - spec.width) / 2, (resized.rows - spec.height) / 2, spec.width, spec.height);
  cv::Mat cropped = resized(crop);

  ImageTensor tensor;
  tensor.channels = 3;
  tensor.height = spec.height;
  tensor.width = spec.width;
  tensor.data.resize(static_cast<size_t>(3) * spec.height * spec.width);
  const size_t plane = static_cast<size_t>(spec.height) * spec.width;
  for (int y = 0; y < spec.height; ++y) {
    const cv::Vec3b* row = cropped.ptr<cv::Vec3b>(y);
    for (int x = 0; x < spec.width; ++x) {
      const size_t offset = static_cast<size_t>(y) * spec.width + x;
      for (int c = 0; c < 3; ++c) {
        tensor.data[c * plane + offset] = (static_cast<float>(row[x][c]) - kMean[c]) / kStd[c];
      }
    }
  }
  return tensor;
}
