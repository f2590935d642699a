// Finding the images to classify.
#ifndef RESNET50_BAM_INFER_IMAGE_FOLDER_H_
#define RESNET50_BAM_INFER_IMAGE_FOLDER_H_

#include <string>
#include <vector>

// Image files (.jpg, .jpeg, .png, .bmp, any case) under `folder`, recursively, sorted by path.
// Results are named after the file stem, so two images with the same stem are an error.
std::vector<std::string> ListImages(const std::string& folder);

#endif  // RESNET50_BAM_INFER_IMAGE_FOLDER_H_
