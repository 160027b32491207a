// Table files through Apache Arrow: CSV (gzip too) and Parquet into float features and labels.
#include "data/table_reader.h"

#include <arrow/api.h>
#include <arrow/csv/api.h>
#include <arrow/io/api.h>
#include <arrow/util/compression.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/schema.h>
#include <parquet/exception.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <thread>

#include "core/error.h"
#include "core/parallel.h"
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

// One file, opened: a Parquet file's reader (its batches are decoded as they are converted, so
// a table is never held whole), or a CSV file's label and feature columns, read.
struct OpenedFile {
  std::unique_ptr<parquet::arrow::FileReader> parquet;
  std::vector<int> parquet_columns;  // the leaf columns read: label and features
  std::shared_ptr<arrow::Table> csv;
  int64_t rows = 0;
};

[[noreturn]] void badParquet(const Source& source, const std::string& what) {
  throw ConfigError(source.where() + " cannot be read: " + oneLine(what) +
                    " (is it a valid Parquet file?)");
}

// Opens a Parquet file and checks its columns (features empty: every column but the label).
OpenedFile openParquet(const Source& source, const std::string& label,
                       std::vector<std::string>& features) {
  try {
    OpenedFile file;
    // Mapped, so column chunks are decoded straight from the page cache, never copied first.
    std::shared_ptr<arrow::io::MemoryMappedFile> mapped =
        orThrow(arrow::io::MemoryMappedFile::Open(source.path, arrow::io::FileMode::READ), source);
    file.parquet = orThrow(parquet::arrow::OpenFile(mapped, arrow::default_memory_pool()), source);
    std::shared_ptr<arrow::Schema> schema;
    const arrow::Status status = file.parquet->GetSchema(&schema);
    if (!status.ok()) badParquet(source, status.message());
    requireColumns(source, schema->field_names(), label, features);
    std::vector<std::string> needed = features;
    needed.push_back(label);
    for (const std::string& name : needed) {
      const int field = schema->GetFieldIndex(name);
      if (field < 0) badParquet(source, "column '" + name + "' appears more than once");
      const int column = file.parquet->manifest().schema_fields[field].column_index;
      if (column < 0)  // a nested column: not one number per row
        badCell(source, 0, name,
                "values of type " + schema->field(field)->type()->ToString() + " are not numbers",
                label);
      if (std::find(file.parquet_columns.begin(), file.parquet_columns.end(), column) ==
          file.parquet_columns.end())
        file.parquet_columns.push_back(column);
    }
    file.rows = file.parquet->parquet_reader()->metadata()->num_rows();
    return file;
  } catch (const parquet::ParquetException& e) {
    badParquet(source, e.what());
  }
}

// The label and feature columns of one CSV file (features empty: every column but the label).
std::shared_ptr<arrow::Table> readCsvTable(const Source& source, const std::string& label,
                                           std::vector<std::string>& features) {
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

// Writes cells [lo, hi) of `array` (a chunk whose first cell is row `base`) to
// out[(i - lo) * stride] as numbers; a null cell or text that is not a number is one error
// naming the row.
template <typename Out>
void chunkValues(const Source& source, const arrow::Array& array, int64_t base, int64_t lo,
                 int64_t hi, const std::string& column, const std::string& label, Out* out,
                 int64_t stride) {
  const bool nulls = array.null_count() > 0;
  auto put = [&](auto&& value_at) {
    for (int64_t i = lo; i < hi; ++i) {
      if (nulls && array.IsNull(i)) badCell(source, base + i, column, "empty cell", label);
      const double v = value_at(i);
      if (!std::isfinite(v)) badCell(source, base + i, column, "not a finite number", label);
      out[(i - lo) * stride] = static_cast<Out>(v);
    }
  };
  switch (array.type_id()) {
#define TRAINRUN_NUMERIC(ID, ARRAY)                                       \
  case arrow::Type::ID: {                                                 \
    const auto* a = static_cast<const arrow::ARRAY&>(array).raw_values(); \
    put([&](int64_t i) { return static_cast<double>(a[i]); });            \
    break;                                                                \
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
#undef TRAINRUN_NUMERIC
    case arrow::Type::BOOL: {
      const auto& a = static_cast<const arrow::BooleanArray&>(array);
      put([&](int64_t i) { return a.Value(i) ? 1.0 : 0.0; });
      break;
    }
    case arrow::Type::NA:
      badCell(source, base + lo, column, "empty cell", label);
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING: {
      // Arrow typed the column as text: some cell is not a number. Name the first one.
      auto text_at = [&](int64_t i) {
        return array.type_id() == arrow::Type::STRING
                   ? static_cast<const arrow::StringArray&>(array).GetString(i)
                   : static_cast<const arrow::LargeStringArray&>(array).GetString(i);
      };
      for (int64_t i = lo; i < hi; ++i) {
        if (array.IsNull(i)) badCell(source, base + i, column, "empty cell", label);
        const std::string text = text_at(i);
        const std::string cell = trim(text);
        if (cell.empty()) badCell(source, base + i, column, "empty cell", label);
        char* end = nullptr;
        errno = 0;
        const double v = std::strtod(cell.c_str(), &end);
        if (*end != '\0' || errno == ERANGE || !std::isfinite(v))
          badCell(source, base + i, column, "'" + text + "' is not a finite number", label);
        out[(i - lo) * stride] = static_cast<Out>(v);
      }
      break;
    }
    default:
      badCell(source, base + lo, column,
              "values of type " + array.type()->ToString() + " are not numbers", label);
  }
}

// Writes column `column` (every chunk) to out[row * stride] as numbers.
template <typename Out>
void columnValues(const Source& source, const arrow::ChunkedArray& data, const std::string& column,
                  const std::string& label, Out* out, int64_t stride) {
  int64_t row = 0;
  for (const auto& chunk : data.chunks()) {
    chunkValues(source, *chunk, row, 0, chunk->length(), column, label, out + row * stride, stride);
    row += chunk->length();
  }
}

// A column read block by block: the chunk holding the next row.
struct ColumnCursor {
  const arrow::ChunkedArray* data = nullptr;
  int chunk = 0;
  int64_t chunk_row = 0;  // the row of the chunk's first cell
};

// Rows [begin, end) of the column under `cursor` (which only moves forward) to
// out[(row - begin) * stride]; messages name row row0 + row.
template <typename Out>
void rangeValues(const Source& source, int64_t row0, ColumnCursor& cursor, int64_t begin,
                 int64_t end, const std::string& column, const std::string& label, Out* out,
                 int64_t stride) {
  while (begin < end) {
    const arrow::Array& array = *cursor.data->chunk(cursor.chunk);
    const int64_t chunk_end = cursor.chunk_row + array.length();
    if (begin >= chunk_end) {
      cursor.chunk_row = chunk_end;
      ++cursor.chunk;
      continue;
    }
    const int64_t stop = std::min(end, chunk_end);
    chunkValues(source, array, row0 + cursor.chunk_row, begin - cursor.chunk_row,
                stop - cursor.chunk_row, column, label, out, stride);
    out += (stop - begin) * stride;
    begin = stop;
  }
}

// Rows per block of the row-major conversion: a block's features stay in the CPU's caches
// while every column writes its cells into them.
constexpr int64_t kConvertBlockRows = 4096;

// The feature and label columns of `table` (rows row0... of a file) into features
// (rows, names.size()) row-major and labels (rows,), block by block.
void convertTable(const Source& source, int64_t row0, const arrow::Table& table,
                  const std::vector<std::string>& names, const std::string& label, float* features,
                  double* labels) {
  const auto width = static_cast<int64_t>(names.size());
  std::vector<ColumnCursor> columns(names.size());
  for (size_t j = 0; j < names.size(); ++j) columns[j].data = table.GetColumnByName(names[j]).get();
  ColumnCursor label_column{table.GetColumnByName(label).get()};
  const int64_t rows = table.num_rows();
  for (int64_t begin = 0; begin < rows; begin += kConvertBlockRows) {
    const int64_t end = std::min(rows, begin + kConvertBlockRows);
    for (int64_t j = 0; j < width; ++j)
      rangeValues(source, row0, columns[static_cast<size_t>(j)], begin, end,
                  names[static_cast<size_t>(j)], label, features + begin * width + j, width);
    rangeValues(source, row0, label_column, begin, end, label, label, labels + begin, 1);
  }
}

OpenedFile openFile(const Source& source, const std::string& label,
                    std::vector<std::string>& features) {
  if (!source.csv) return openParquet(source, label, features);
  OpenedFile file;
  file.csv = readCsvTable(source, label, features);
  file.rows = file.csv->num_rows();
  return file;
}

// All rows of `file` into features and labels (see convertTable); Parquet batch by batch.
void convertFile(const Source& source, OpenedFile& file, const std::vector<std::string>& names,
                 const std::string& label, float* features, double* labels) {
  if (file.csv) {
    convertTable(source, 0, *file.csv, names, label, features, labels);
    return;
  }
  try {
    std::vector<int> row_groups(static_cast<size_t>(file.parquet->num_row_groups()));
    for (size_t g = 0; g < row_groups.size(); ++g) row_groups[g] = static_cast<int>(g);
    std::unique_ptr<arrow::RecordBatchReader> batches =
        orThrow(file.parquet->GetRecordBatchReader(row_groups, file.parquet_columns), source);
    const auto width = static_cast<int64_t>(names.size());
    int64_t row = 0;
    while (true) {
      std::shared_ptr<arrow::RecordBatch> batch = orThrow(batches->Next(), source);
      if (!batch) break;
      if (row + batch->num_rows() > file.rows) badParquet(source, "more rows than its footer says");
      const auto table = orThrow(arrow::Table::FromRecordBatches({batch}), source);
      convertTable(source, row, *table, names, label, features + row * width, labels + row);
      row += batch->num_rows();
    }
    if (row != file.rows) badParquet(source, "fewer rows than its footer says");
  } catch (const parquet::ParquetException& e) {
    badParquet(source, e.what());
  }
}

// Threads that read and convert files at once (each file on one thread).
int readThreads(size_t files) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  return static_cast<int>(std::min<size_t>(files, cores));
}

}  // namespace

TableColumns readTableFiles(const std::vector<std::string>& files, const std::string& label,
                            const std::vector<std::string>& features, const std::string& key) {
  if (files.empty())
    throw ConfigError(key + " holds no .csv, .csv.gz or .parquet files (check " + key + ")");
  const size_t n = files.size();
  std::vector<Source> sources;
  for (const std::string& path : files) {
    sources.push_back(Source{key, path, !isParquet(path)});
    if (!isTableFile(path))
      throw ConfigError(sources.back().where() +
                        " is not a .csv, .csv.gz or .parquet file (check " + key + ")");
  }
  TableColumns out;
  out.feature_names = features;
  // The files are opened and converted in parallel; a failure is reported for the first file
  // in order that has one, as if they were read one after another.
  std::vector<OpenedFile> opened(n);
  std::vector<bool> open(n, false);
  std::vector<std::exception_ptr> errors(n);
  if (out.feature_names.empty()) {  // the first file's columns settle them
    opened[0] = openFile(sources[0], label, out.feature_names);
    open[0] = true;
  }
  runParallel(n, readThreads(n), [&](uint64_t i) {
    if (open[i]) return;
    try {
      std::vector<std::string> names = out.feature_names;
      opened[i] = openFile(sources[i], label, names);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  });
  // Files up to the first unreadable one are converted (a bad cell before it comes first).
  size_t readable = 0;
  while (readable < n && !errors[readable]) ++readable;
  const auto width = static_cast<int64_t>(out.feature_names.size());
  std::vector<int64_t> first_row(readable + 1, 0);
  for (size_t i = 0; i < readable; ++i) first_row[i + 1] = first_row[i] + opened[i].rows;
  out.rows = first_row[readable];
  out.features.resize(static_cast<size_t>(out.rows * width));
  out.labels.resize(static_cast<size_t>(out.rows));
  runParallel(readable, readThreads(readable), [&](uint64_t i) {
    try {
      convertFile(sources[i], opened[i], out.feature_names, label,
                  out.features.data() + first_row[i] * width, out.labels.data() + first_row[i]);
    } catch (...) {
      errors[i] = std::current_exception();
    }
    opened[i] = OpenedFile();
  });
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
  for (size_t i = 0; i < n; ++i) out.file_rows.push_back(first_row[i + 1] - first_row[i]);
  if (out.rows == 0) throw ConfigError(key + " holds no rows (check " + key + ")");
  return out;
}

}  // namespace trainrun
