// The few file-system operations the app needs, on POSIX calls: <filesystem> needs GCC 8 (and -lstdc++fs
// there), while Ascend 310 hosts commonly ship GCC 7.3 or 7.5, the minimum CMakeLists.txt accepts.
#ifndef RESNET50_BAM_INFER_FILE_SYSTEM_H_
#define RESNET50_BAM_INFER_FILE_SYSTEM_H_

#include <string>
#include <vector>

// Whether `path` is a folder (or a link to one).
bool IsDirectory(const std::string& path);

// Whether `path` is a regular file (or a link to one).
bool IsRegularFile(const std::string& path);

// Every regular file under `folder`, recursively, following links to folders (each folder once), leaving out
// hidden files and folders (names starting with '.', such as the ._name files macOS leaves); unsorted. Symbolic
// links that cannot be followed (they loop, or lead nowhere) are listed too, for the caller to name them.
// Throws std::runtime_error if a folder cannot be read.
std::vector<std::string> ListVisibleFilesRecursively(const std::string& folder);

// Creates `path` and any missing parents, like `mkdir -p`. Throws std::runtime_error on failure.
void CreateDirectories(const std::string& path);

// "a" + "b" -> "a/b".
std::string JoinPath(const std::string& folder, const std::string& name);

// "a/b/name.tar.gz" -> "name.tar.gz"
std::string FileName(const std::string& path);

// "a/b/name.tar.gz" -> "name.tar"; ".hidden" -> ".hidden"
std::string FileStem(const std::string& path);

// "a/b/name.JPEG" -> ".JPEG"; "" when there is none.
std::string FileExtension(const std::string& path);

#endif  // RESNET50_BAM_INFER_FILE_SYSTEM_H_
