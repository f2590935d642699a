#include "inc/image_folder.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <stdexcept>

#include "inc/file_system.h"
#include "inc/options.h"

namespace {

bool IsImageFile(const std::string& path) {
  static const std::set<std::string> kExtensions = {".jpg", ".jpeg", ".png", ".bmp"};
  std::string extension = FileExtension(path);
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return kExtensions.count(extension) > 0;
}

}  // namespace

std::vector<std::string> ListImages(const std::string& folder) {
  if (!IsDirectory(folder)) throw UsageError("--dataset_path " + folder + " is not a folder");
  std::vector<std::string> images;
  for (const std::string& file : ListFilesRecursively(folder)) {
    if (IsImageFile(file)) images.push_back(file);
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
