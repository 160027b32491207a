// Test fixtures: Parquet files written through Arrow's own writer (built as C++20, as Arrow's
// headers need, so test files that include LibTorch never see them).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace trainrun::testing {

using DoubleColumns = std::vector<std::pair<std::string, std::vector<double>>>;
using Int64Columns = std::vector<std::pair<std::string, std::vector<int64_t>>>;

// Writes `doubles` then `ints` as the columns of one Parquet file (small row groups, so a
// column spans several chunks). Throws std::runtime_error on failure.
void writeParquet(const std::string& path, const DoubleColumns& doubles, const Int64Columns& ints);

}  // namespace trainrun::testing
