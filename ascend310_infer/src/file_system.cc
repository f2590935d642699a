#include "inc/file_system.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <stdexcept>
#include <utility>

namespace {

std::string ErrnoText() { return std::strerror(errno); }

void ListInto(const std::string& folder, std::set<std::pair<dev_t, ino_t>>* visited, std::vector<std::string>* files) {
  struct stat info {};
  if (stat(folder.c_str(), &info) != 0 || !visited->insert({info.st_dev, info.st_ino}).second) return;
  DIR* directory = opendir(folder.c_str());
  if (directory == nullptr) throw std::runtime_error("cannot read folder " + folder + ": " + ErrnoText());
  std::vector<std::string> subfolders;
  while (const dirent* entry = readdir(directory)) {
    const std::string name = entry->d_name;
    if (name.empty() || name[0] == '.') continue;  // ".", ".." and hidden entries
    const std::string path = JoinPath(folder, name);
    if (stat(path.c_str(), &info) != 0) {
      // A symbolic link that loops or leads nowhere: listed, for its reader to name it (as src/data/image_folder.py does).
      if (lstat(path.c_str(), &info) == 0 && S_ISLNK(info.st_mode)) files->push_back(path);
      continue;
    }
    if (S_ISDIR(info.st_mode)) subfolders.push_back(path);
    if (S_ISREG(info.st_mode)) files->push_back(path);
  }
  closedir(directory);
  for (const std::string& subfolder : subfolders) ListInto(subfolder, visited, files);
}

}  // namespace

bool IsDirectory(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

bool IsRegularFile(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

std::vector<std::string> ListVisibleFilesRecursively(const std::string& folder) {
  std::set<std::pair<dev_t, ino_t>> visited;
  std::vector<std::string> files;
  ListInto(folder, &visited, &files);
  return files;
}

void CreateDirectories(const std::string& path) {
  if (path.empty() || IsDirectory(path)) return;
  const size_t slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) CreateDirectories(path.substr(0, slash));
  if (mkdir(path.c_str(), 0755) != 0 && !(errno == EEXIST && IsDirectory(path))) {
    throw std::runtime_error("cannot create folder " + path + ": " + ErrnoText());
  }
}

std::string JoinPath(const std::string& folder, const std::string& name) {
  if (folder.empty()) return name;
  return folder.back() == '/' ? folder + name : folder + "/" + name;
}

std::string FileName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string FileStem(const std::string& path) {
  const std::string name = FileName(path);
  const size_t dot = name.find_last_of('.');
  return dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
}

std::string FileExtension(const std::string& path) {
  const std::string name = FileName(path);
  const size_t dot = name.find_last_of('.');
  return dot == std::string::npos || dot == 0 ? "" : name.substr(dot);
}
