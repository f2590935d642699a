#include "inc/backend.h"

#include <stdexcept>

std::vector<std::string> BuiltBackends() {
#ifdef WITH_ASCEND_BACKEND
  return {"cpu", "ascend"};
#else
  return {"cpu"};
#endif
}

std::unique_ptr<InferenceBackend> CreateBackend(const Options& options) {
  if (options.backend == "cpu") return CreateOpenCvDnnBackend(options);
#ifdef WITH_ASCEND_BACKEND
  if (options.backend == "ascend") return CreateAscendBackend(options);
#endif
  // ParseOptions admits only built backends.
  throw std::logic_error("unknown backend " + options.backend);
}
