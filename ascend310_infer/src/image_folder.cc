#include "inc/image_folder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>

#include "inc/options.h"

namespace fs = std::filesystem;

namespace {

bool IsImageFile(const fs::path& path) {
  static const std::set<std::string> kExtensions = {".jpg", ".jpeg", ".png", ".bmp"};
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return kExtensions.count(extension) > 0;
}

}  // namespace

std::string FileStem(const std::string& path) { return fs::path(path).stem().string(); }

std::vector<std::string> ListImages(const std::string& folder) {
  std::error_code error;
  if (!fs::is_directory(folder, error)) throw UsageError("--dataset_path " + folder + " is not a folder");
  std::vector<std::string> images;
  for (const auto& entry : fs::recursive_directory_iterator(folder, fs::directory_options::follow_directory_symlink)) {
    if (entry.is_regular_file() && IsImageFile(entry.path())) images.push_back(entry.path().string());
  }
  if (images.empty()) throw UsageError("no .jpg, .jpeg, .png or .bmp images under " + folder);
  std::sort(images.begin(), images.end());
  std::map<std::string, std::string> first_with_stem;
  for (const auto& image : images) {
    auto [where, inserted] = first_with_stem.emplace(FileStem(image), image);
    if (!inserted) {
      throw UsageError("two images would write the same result file " + where->first + "_0.bin: " + where->second +
                       " and " + image);
    }
  }
  return images;
}
