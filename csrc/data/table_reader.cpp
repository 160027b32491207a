// Table files through Apache Arrow: CSV (gzip too) and Parquet into float features and labels.
#include "data/table_reader.h"

#include <arrow/api.h>
#include <arrow/csv/api.h>
#include <arrow/io/api.h>
#include <arrow/util/compression.h>
#include <parquet/arrow/reader.h>
#include <parquet/exception.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "core/error.h"
#include "core/strings.h"

namespace trainrun {
namespace {

bool isParquet(const std::string& path) { return endsWithNoCase(path, ".parquet"); }

// One file of the table, for messages: "data.path file 'x.csv'".
struct Source {
  const std::string& key;
  const std::string& path;
  bool csv;
  std::string where() const { return key + " file '" + path + "'"; }
  // CSV: line numbers (the header is line 1); Parquet: 1-based rows.
  std::string row(int64_t index) const {
    return csv ? "line " + std::to_string(index + 2) : "row " + std::to_string(index + 1);
  }
};

template <typename T>
T orThrow(arrow::Result<T> result, const Source& source) {
  if (!result.ok())
    throw ConfigError(source.where() + " cannot be read: " + oneLine(result.status().message()) +
                      " (is it a valid " + (source.csv ? "CSV" : "Parquet") + " file?)");
  return std::move(result).ValueUnsafe();
}

// A CSV file as a stream, decompressed when it ends in .gz (the codec outlives the stream).
struct CsvStream {
  std::unique_ptr<arrow::util::Codec> codec;
  std::shared_ptr<arrow::io::InputStream> stream;
};

CsvStream openCsv(const Source& source) {
  CsvStream csv;
  std::shared_ptr<arrow::io::ReadableFile> file =
      orThrow(arrow::io::ReadableFile::Open(source.path), source);
  csv.stream = file;
  if (endsWithNoCase(source.path, ".gz")) {
    csv.codec = orThrow(arrow::util::Codec::Create(arrow::Compression::GZIP), source);
    csv.stream = orThrow(arrow::io::CompressedInputStream::Make(csv.codec.get(), file), source);
  }
  return csv;
}

arrow::Result<std::shared_ptr<arrow::Table>> readCsv(const Source& source,
                                                     const arrow::csv::ConvertOptions& convert) {
  CsvStream csv = openCsv(source);
  ARROW_ASSIGN_OR_RAISE(
      auto reader, arrow::csv::TableReader::Make(arrow::io::default_io_context(), csv.stream,
                                                 arrow::csv::ReadOptions::Defaults(),
                                                 arrow::csv::ParseOptions::Defaults(), convert));
  return reader->Read();
}

// The columns of a CSV file: its header row.
std::vector<std::string> csvColumnNames(const Source& source) {
  CsvStream csv = openCsv(source);
  auto reader =
      orThrow(arrow::csv::StreamingReader::Make(
                  arrow::io::default_io_context(), csv.stream, arrow::csv::ReadOptions::Defaults(),
                  arrow::csv::ParseOptions::Defaults(), arrow::csv::ConvertOptions::Defaults()),
              source);
  return reader->schema()->field_names();
}

// The fix that ends every bad-cell message.
std::string fixFor(const std::string& column, const std::string& label);
[[noreturn]] void badCell(const Source& source, int64_t index, const std::string& column,
                          const std::string& what, const std::string& label);
template <typename Out>
void columnValues(const Source& source, const arrow::ChunkedArray& data, const std::string& column,
                  const std::string& label, Out* out, int64_t stride);

// Checks that `names` (a file's columns) hold the label and `features`; an empty `features`
// becomes every column but the label.
void requireColumns(const Source& source, const std::vector<std::string>& names,
                    const std::string& label, std::vector<std::string>& features) {
  if (features.empty()) {
    for (const std::string& name : names)
      if (name != label) features.push_back(name);
    if (features.empty())
      throw ConfigError(source.where() + " has no column besides the label '" + label +
                        "' (a table needs feature columns)");
  }
  auto require = [&](const std::string& name, bool is_label) {
    if (std::find(names.begin(), names.end(), name) != names.end()) return;
    std::string msg = source.where() + " has no " + (is_label ? "label" : "feature") + " column '" +
                      name + "' (its columns: " + joinNames(names) + "; fix data." +
                      (is_label ? "label" : "features") + ")";
    const std::string guess = closestMatch(name, names);
    if (!guess.empty()) msg += "; did you mean '" + guess + "'?";
    throw ConfigError(msg);
  };
  require(label, true);
  for (const std::string& f : features) require(f, false);
}

// The label and feature columns of one file (features empty: every column but the label).
std::shared_ptr<arrow::Table> readArrowTable(const Source& source, const std::string& label,
                                             std::vector<std::string>& features) {
  if (!source.csv) {
    try {
      std::shared_ptr<arrow::io::ReadableFile> file =
          orThrow(arrow::io::ReadableFile::Open(source.path), source);
      std::unique_ptr<parquet::arrow::FileReader> reader =
          orThrow(parquet::arrow::OpenFile(file, arrow::default_memory_pool()), source);
      std::shared_ptr<arrow::Schema> schema;
      const arrow::Status status = reader->GetSchema(&schema);
      if (!status.ok())
        throw ConfigError(source.where() + " cannot be read: " + oneLine(status.message()) +
                          " (is it a valid Parquet file?)");
      requireColumns(source, schema->field_names(), label, features);
      return orThrow(reader->ReadTable(), source);
    } catch (const parquet::ParquetException& e) {
      throw ConfigError(source.where() + " cannot be read: " + oneLine(e.what()) +
                        " (is it a valid Parquet file?)");
    }
  }
  requireColumns(source, csvColumnNames(source), label, features);
  // Every column read as a number: Arrow's type inference looks at the first block only, so a
  // column of integers with "1.5" further down would otherwise fail to convert.
  std::vector<std::string> needed = features;
  needed.push_back(label);
  arrow::csv::ConvertOptions convert = arrow::csv::ConvertOptions::Defaults();
  convert.include_columns = needed;
  convert.null_values = {""};  // "NA", "n/a", "null" are text, named as such, not empty cells
  for (const std::string& c : needed) convert.column_types[c] = arrow::float64();
  arrow::Result<std::shared_ptr<arrow::Table>> typed = readCsv(source, convert);
  if (typed.ok()) return *typed;
  // A cell is not a number: read the columns as text to name the first bad one.
  for (const std::string& c : needed) convert.column_types[c] = arrow::utf8();
  std::shared_ptr<arrow::Table> text = orThrow(readCsv(source, convert), source);
  std::vector<double> scratch(static_cast<size_t>(text->num_rows()));
  for (const std::string& c : needed)
    columnValues(source, *text->GetColumnByName(c), c, label, scratch.data(), 1);
  throw ConfigError(source.where() + " cannot be read: " + oneLine(typed.status().message()) +
                    " (is it a valid CSV file with a header row?)");
}

// The fix that ends every bad-cell message.
std::string fixFor(const std::string& column, const std::string& label) {
  return column == label
             ? "labels must be numbers: encode the classes as integers in the processing step"
             : "feature columns must be numeric: fix the data, or leave '" + column +
                   "' out of data.features";
}

[[noreturn]] void badCell(const Source& source, int64_t index, const std::string& column,
                          const std::string& what, const std::string& label) {
  throw ConfigError(source.where() + " " + source.row(index) + ", column '" + column +
                    "': " + what + " (" + fixFor(column, label) + ")");
}

// Writes column `column` (every chunk) to out[row * stride] as numbers; a null cell or text
// that is not a number is one error naming the row.
template <typename Out>
void columnValues(const Source& source, const arrow::ChunkedArray& data, const std::string& column,
                  const std::string& label, Out* out, int64_t stride) {
  int64_t row = 0;
  for (const auto& chunk : data.chunks()) {
    const arrow::Array& array = *chunk;
    const int64_t n = array.length();
    auto put = [&](auto&& value_at) {
      for (int64_t i = 0; i < n; ++i) {
        if (array.IsNull(i)) badCell(source, row + i, column, "empty cell", label);
        const double v = value_at(i);
        if (!std::isfinite(v)) badCell(source, row + i, column, "not a finite number", label);
        out[(row + i) * stride] = static_cast<Out>(v);
      }
    };
    switch (array.type_id()) {
#define TRAINRUN_NUMERIC(ID, ARRAY)                                  \
  case arrow::Type::ID: {                                            \
    const auto& a = static_cast<const arrow::ARRAY&>(array);         \
    put([&](int64_t i) { return static_cast<double>(a.Value(i)); }); \
    break;                                                           \
  }
      TRAINRUN_NUMERIC(INT8, Int8Array)
      TRAINRUN_NUMERIC(INT16, Int16Array)
      TRAINRUN_NUMERIC(INT32, Int32Array)
      TRAINRUN_NUMERIC(INT64, Int64Array)
      TRAINRUN_NUMERIC(UINT8, UInt8Array)
      TRAINRUN_NUMERIC(UINT16, UInt16Array)
      TRAINRUN_NUMERIC(UINT32, UInt32Array)
      TRAINRUN_NUMERIC(UINT64, UInt64Array)
      TRAINRUN_NUMERIC(FLOAT, FloatArray)
      TRAINRUN_NUMERIC(DOUBLE, DoubleArray)
      TRAINRUN_NUMERIC(BOOL, BooleanArray)
#undef TRAINRUN_NUMERIC
      case arrow::Type::NA:
        badCell(source, row, column, "empty cell", label);
      case arrow::Type::STRING:
      case arrow::Type::LARGE_STRING: {
        // Arrow typed the column as text: some cell is not a number. Name the first one.
        auto text_at = [&](int64_t i) {
          return array.type_id() == arrow::Type::STRING
                     ? static_cast<const arrow::StringArray&>(array).GetString(i)
                     : static_cast<const arrow::LargeStringArray&>(array).GetString(i);
        };
        for (int64_t i = 0; i < n; ++i) {
          if (array.IsNull(i)) badCell(source, row + i, column, "empty cell", label);
          const std::string text = text_at(i);
          const std::string cell = trim(text);
          if (cell.empty()) badCell(source, row + i, column, "empty cell", label);
          char* end = nullptr;
          errno = 0;
          const double v = std::strtod(cell.c_str(), &end);
          if (*end != '\0' || errno == ERANGE || !std::isfinite(v))
            badCell(source, row + i, column, "'" + text + "' is not a finite number", label);
          out[(row + i) * stride] = static_cast<Out>(v);
        }
        break;
      }
      default:
        badCell(source, row, column,
                "values of type " + array.type()->ToString() + " are not numbers", label);
    }
    row += n;
  }
}

}  // namespace

TableColumns readTableFiles(const std::vector<std::string>& files, const std::string& label,
                            const std::vector<std::string>& features, const std::string& key) {
  if (files.empty())
    throw ConfigError(key + " holds no .csv, .csv.gz or .parquet files (check " + key + ")");
  TableColumns out;
  out.feature_names = features;
  for (const std::string& path : files) {
    const Source source{key, path, !isParquet(path)};
    if (!isTableFile(path))
      throw ConfigError(source.where() + " is not a .csv, .csv.gz or .parquet file (check " + key +
                        ")");
    std::shared_ptr<arrow::Table> table = readArrowTable(source, label, out.feature_names);
    auto column = [&](const std::string& name) { return table->GetColumnByName(name); };
    const auto label_column = column(label);
    const int64_t rows = table->num_rows();
    const auto width = static_cast<int64_t>(out.feature_names.size());
    const int64_t first = out.rows;
    out.features.resize(static_cast<size_t>((first + rows) * width));
    out.labels.resize(static_cast<size_t>(first + rows));
    for (int64_t j = 0; j < width; ++j) {
      const std::string& name = out.feature_names[static_cast<size_t>(j)];
      columnValues(source, *column(name), name, label, out.features.data() + first * width + j,
                   width);
    }
    columnValues(source, *label_column, label, label, out.labels.data() + first, 1);
    out.rows += rows;
    out.file_rows.push_back(rows);
  }
  if (out.rows == 0) throw ConfigError(key + " holds no rows (check " + key + ")");
  return out;
}

}  // namespace trainrun
