// Finding the images to classify, by the rule eval.py follows (src/data/image_folder.py): hidden entries (names
// starting with '.') are ignored, and a file that cannot be decoded is skipped and named, not classified.
#ifndef RESNET50_BAM_INFER_IMAGE_FOLDER_H_
#define RESNET50_BAM_INFER_IMAGE_FOLDER_H_

#include <string>
#include <vector>

// Image files (.jpg, .jpeg, .png, .bmp, any case) under `folder`, recursively, sorted by path, hidden
// files and folders left out. Throws UsageError if there are none or two share a stem (results are
// named after the stem).
std::vector<std::string> ListImages(const std::string& folder);

// The images named in `list_file`, one path per line relative to `folder`: the list that
// create_imagenet2012_label.py --image_list writes, holding exactly the images eval.py reads. Throws
// UsageError if the list cannot be read, is empty, names a file that is not there, or two share a stem.
std::vector<std::string> ReadImageList(const std::string& list_file, const std::string& folder);

// The paths holding a line break, taken out of `images` (order kept). The label script's image list has one path per
// line and cannot carry them, so create_imagenet2012_label.py skips and names them, and the app does the same, so
// that both keep the same files.
std::vector<std::string> TakeOutNamesWithLineBreaks(std::vector<std::string>* images);

// "skipped 1 file in DIR whose name holds a line break ...: a/two\nlines.JPEG": one line, the breaks escaped, the
// paths relative to `folder`.
std::string DescribeNamesWithLineBreaks(const std::vector<std::string>& paths, const std::string& folder);

// Why the file cannot be classified ("empty file", "truncated JPEG (no end-of-image marker)"), the checks
// src/data/image_folder.py makes before decoding; "" when it may be decoded. OpenCV itself decodes a truncated
// JPEG with a warning and grey where the data is missing, which eval.py would not score.
std::string ImageProblem(const std::string& path);

#endif  // RESNET50_BAM_INFER_IMAGE_FOLDER_H_
