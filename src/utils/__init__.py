"""Small shared modules: errors, files and folders, interrupts, progress lines, the device, MindSpore logs."""
