// Builds without Apache Arrow (configured with a python that has no pyarrow): tables refused.
#include "core/error.h"
#include "data/table_reader.h"

namespace trainrun {

TableColumns readTableFiles(const std::vector<std::string>&, const std::string&,
                            const std::vector<std::string>&, const std::string& key) {
  throw ConfigError(
      "data.name=table needs Apache Arrow, and this build has none: " TRAINRUN_PYTHON_PATH
      " had no pyarrow when cmake ran (run scripts/setup.sh, or pip install pyarrow there, then "
      "rebuild); " +
      key + " was not read");
}

}  // namespace trainrun
