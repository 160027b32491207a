// Reads the numeric feature and label columns of CSV (.csv, .csv.gz) and Parquet files.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

namespace trainrun {

// The columns a table job trains on, every file's rows concatenated in file order.
struct TableColumns {
  std::vector<std::string> feature_names;
  std::vector<float> features;  // (rows, feature_names.size()) row-major
  std::vector<double> labels;   // (rows,)
  int64_t rows = 0;
  std::vector<int64_t> file_rows;  // rows per file, in the order given
};

// True when `text` ends with `suffix`, ignoring ASCII letter case.
inline bool endsWithNoCase(const std::string& text, const std::string& suffix) {
  if (text.size() < suffix.size()) return false;
  return std::equal(suffix.rbegin(), suffix.rend(), text.rbegin(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) ==
           std::tolower(static_cast<unsigned char>(b));
  });
}

// True for the file names a table reads: *.csv, *.csv.gz, *.parquet (any letter case).
inline bool isTableFile(const std::string& name) {
  return endsWithNoCase(name, ".csv") || endsWithNoCase(name, ".csv.gz") ||
         endsWithNoCase(name, ".parquet");
}

// Reads `files` (each with a header row, for CSV) through Apache Arrow. `features` empty:
// every column of the first file but `label`. Builds without Arrow (no pyarrow at configure
// time) throw ConfigError saying so. `key` names the config key the files came from
// in messages ("data.path"). Throws ConfigError with one line naming the file, the row and the
// column for a non-numeric or empty cell, a missing column, or an unreadable file.
TableColumns readTableFiles(const std::vector<std::string>& files, const std::string& label,
                            const std::vector<std::string>& features, const std::string& key);

}  // namespace trainrun
