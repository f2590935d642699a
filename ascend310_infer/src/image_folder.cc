#include "inc/image_folder.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "inc/file_system.h"
#include "inc/options.h"

namespace {

// As src/data/image_folder.py: a JPEG ends with FF D9, possibly followed by padding, within its last kilobyte.
constexpr std::streamoff kJpegTailBytes = 1024;
// At most this many names in one line, as in src/data/image_folder.py.
constexpr size_t kListedNames = 10;

bool IsImageFile(const std::string& path) {
  static const std::set<std::string> kExtensions = {".jpg", ".jpeg", ".png", ".bmp"};
  std::string extension = FileExtension(path);
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return kExtensions.count(extension) > 0;
}

void CheckDistinctStems(const std::vector<std::string>& images) {
  std::map<std::string, std::string> first_with_stem;
  for (const auto& image : images) {
    auto [where, inserted] = first_with_stem.emplace(FileStem(image), image);
    if (!inserted) {
      throw UsageError("two images would write the same result file " + where->first + "_0.bin: " + where->second +
                       " and " + image);
    }
  }
}

}  // namespace

std::vector<std::string> ListImages(const std::string& folder) {
  if (!IsDirectory(folder)) throw UsageError("--dataset_path " + folder + " is not a folder");
  std::vector<std::string> images;
  for (const std::string& file : ListVisibleFilesRecursively(folder)) {
    if (IsImageFile(file)) images.push_back(file);
  }
  if (images.empty()) throw UsageError("no .jpg, .jpeg, .png or .bmp images under " + folder);
  std::sort(images.begin(), images.end());
  CheckDistinctStems(images);
  return images;
}

std::vector<std::string> ReadImageList(const std::string& list_file, const std::string& folder) {
  if (!IsDirectory(folder)) throw UsageError("--dataset_path " + folder + " is not a folder");
  std::ifstream list(list_file);
  if (!list) throw UsageError("cannot read --image_list " + list_file);
  std::vector<std::string> images;
  std::string line;
  while (std::getline(list, line)) {
    if (line.empty()) continue;
    const std::string image = JoinPath(folder, line);
    if (!IsRegularFile(image)) {
      throw UsageError("--image_list " + list_file + " names " + line + ", which is not a file under " + folder +
                       "; make the list again from this folder");
    }
    images.push_back(image);
  }
  if (images.empty()) throw UsageError("--image_list " + list_file + " names no images");
  CheckDistinctStems(images);
  return images;
}

std::vector<std::string> TakeOutNamesWithLineBreaks(std::vector<std::string>* images) {
  const auto has_break = [](const std::string& path) { return path.find_first_of("\r\n") != std::string::npos; };
  std::vector<std::string> taken;
  std::copy_if(images->begin(), images->end(), std::back_inserter(taken), has_break);
  images->erase(std::remove_if(images->begin(), images->end(), has_break), images->end());
  return taken;
}

std::string DescribeNamesWithLineBreaks(const std::vector<std::string>& paths, const std::string& folder) {
  std::ostringstream text;
  text << "skipped " << paths.size() << (paths.size() == 1 ? " file" : " files") << " in " << folder
       << " whose name holds a line break, which a list of one path per line cannot carry; rename "
       << (paths.size() == 1 ? "it" : "them") << ": ";
  const std::string prefix = JoinPath(folder, "");
  for (size_t index = 0; index < paths.size() && index < kListedNames; ++index) {
    const std::string& path = paths[index];
    text << (index ? ", " : "");
    for (char c : path.rfind(prefix, 0) == 0 ? path.substr(prefix.size()) : path) {
      text << (c == '\n' ? "\\n" : c == '\r' ? "\\r" : std::string(1, c));
    }
  }
  if (paths.size() > kListedNames) text << " and " << paths.size() - kListedNames << " more";
  return text.str();
}

std::string ImageProblem(const std::string& path) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) return std::string("cannot be opened (") + std::strerror(errno) + ")";  // e.g. a symbolic link loop
  const std::streamoff size = file.tellg();
  if (size == 0) return "empty file";
  char magic[2] = {};
  file.seekg(0);
  file.read(magic, 2);
  const bool jpeg = file && magic[0] == '\xff' && magic[1] == '\xd8';
  if (!jpeg) return "";
  const std::streamoff tail = std::min(size, kJpegTailBytes);
  std::string end(static_cast<size_t>(tail), '\0');
  file.seekg(size - tail);
  file.read(&end[0], tail);
  return end.find("\xff\xd9") == std::string::npos ? "truncated JPEG (no end-of-image marker)" : "";
}
