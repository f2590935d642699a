// Ascend 310 backend: the MINDIR export (export.py --file_format MINDIR) on MindSpore Lite's C++ API
// (include/api/model.h, libmindspore-lite.so; since MindSpore 2.2 the only C++ inference library). Built only
// when build.sh is given the Lite package. Checked by compiling against Lite's public headers with -Wall -Wextra
// (tests/test_infer_app.py, when MINDSPORE_LITE_PATH names a package); not run on an Ascend device here.
#include <stdexcept>

#include "include/api/context.h"
#include "include/api/model.h"
#include "include/api/status.h"
#include "include/api/types.h"

#include "inc/backend.h"

namespace {

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? "," : "") + std::to_string(shape[i]);
  return text + "]";
}

class AscendBackend : public InferenceBackend {
 public:
  AscendBackend(const std::string& mindir_path, uint32_t device_id, int height, int width)
      : input_shape_{1, 3, height, width} {
    auto context = std::make_shared<mindspore::Context>();
    auto ascend = std::make_shared<mindspore::AscendDeviceInfo>();
    ascend->SetDeviceID(device_id);
    // This app sends one image at a time. A batch-1 export (export.py --dynamic_batch false) has that shape
    // already; a dynamic-batch one is pinned to it here, since the Ascend graph compiler wants a static shape.
    ascend->SetInputShapeMap({{0, {1, 3, height, width}}});
    context->MutableDeviceInfo().push_back(ascend);

    mindspore::Status status = model_.Build(mindir_path, mindspore::ModelType::kMindIR, context);
    if (status != mindspore::kSuccess) {
      throw std::runtime_error("cannot build " + mindir_path + " for Ascend device " + std::to_string(device_id) +
                               " (a MINDIR export is needed): " + status.ToString());
    }
    std::vector<mindspore::MSTensor> inputs = model_.GetInputs();
    if (inputs.size() != 1) {
      throw std::runtime_error(mindir_path + " has " + std::to_string(inputs.size()) + " inputs; expected 1 image");
    }
    if (inputs[0].Shape() != input_shape_) {
      // Builds that ignore the shape map keep the dynamic batch: fix the shape explicitly.
      status = model_.Resize(inputs, {input_shape_});
      if (status != mindspore::kSuccess) {
        throw std::runtime_error("the model's input " + ShapeText(inputs[0].Shape()) + " cannot be resized to " +
                                 ShapeText(input_shape_) + ": " + status.ToString() +
                                 " (export with --dynamic_batch false --batch_size 1, and do --height/--width match "
                                 "the export?)");
      }
    }
    input_name_ = model_.GetInputs()[0].Name();
  }

  std::vector<float> Infer(const ImageTensor& image) override {
    // MSTensor copies the host data; the device transfer happens inside Predict.
    std::vector<mindspore::MSTensor> inputs;
    inputs.emplace_back(input_name_, mindspore::DataType::kNumberTypeFloat32, input_shape_, image.data.data(),
                        image.data.size() * sizeof(float));
    std::vector<mindspore::MSTensor> outputs;
    mindspore::Status status = model_.Predict(inputs, &outputs);
    if (status != mindspore::kSuccess) throw std::runtime_error("Ascend inference failed: " + status.ToString());
    if (outputs.empty() || outputs[0].DataType() != mindspore::DataType::kNumberTypeFloat32) {
      throw std::runtime_error("the model's output is not float32 logits");
    }
    const int64_t count = outputs[0].ElementNum();
    if (count <= 0) throw std::runtime_error("the model returned an empty output " + ShapeText(outputs[0].Shape()));
    // Data() copies the output to the host; it is null when that fails.
    auto values = std::static_pointer_cast<const float>(outputs[0].Data());
    if (values == nullptr) throw std::runtime_error("the model's output could not be read back from the device");
    return std::vector<float>(values.get(), values.get() + count);
  }

  std::string Description() const override { return "ascend (MindSpore Lite, MINDIR)"; }

 private:
  std::vector<int64_t> input_shape_;
  std::string input_name_;
  mindspore::Model model_;
};

}  // namespace

std::unique_ptr<InferenceBackend> CreateAscendBackend(const Options& options) {
  return std::make_unique<AscendBackend>(options.model_path, options.device_id, options.height, options.width);
}
