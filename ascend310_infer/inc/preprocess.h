// The evaluation preprocessing of the Python pipeline (src/data/dataset.py), image by image.
#ifndef RESNET50_BAM_INFER_PREPROCESS_H_
#define RESNET50_BAM_INFER_PREPROCESS_H_

#include <stdexcept>
#include <string>
#include <vector>

// A file OpenCV cannot decode: the app skips and names it, as eval.py skips files its decoder cannot read.
class UndecodableImage : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One image as the network takes it: float32, channels-first (RGB planes), batch of one.
struct ImageTensor {
  int channels = 0;
  int height = 0;
  int width = 0;
  std::vector<float> data;  // channels * height * width values
};

struct PreprocessSpec {
  int resize;  // the shorter side becomes this many pixels, keeping the aspect ratio
  int height;  // then a centre crop of height x width
  int width;
};

// Decode -> RGB -> resize shorter side (bilinear) -> centre crop -> (x - mean) / std with the ImageNet
// statistics scaled to 0..255. Throws UndecodableImage naming the file if it cannot be decoded.
ImageTensor LoadImageTensor(const std::string& path, const PreprocessSpec& spec);

#endif  // RESNET50_BAM_INFER_PREPROCESS_H_
