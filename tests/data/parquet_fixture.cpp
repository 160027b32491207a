// Parquet test fixtures through Arrow's writer.
#include "parquet_fixture.h"

#include <arrow/api.h>
#include <arrow/io/api.h>
#include <parquet/arrow/writer.h>

#include <stdexcept>

namespace trainrun::testing {
namespace {

void check(const arrow::Status& status) {
  if (!status.ok()) throw std::runtime_error(status.ToString());
}

template <typename T>
T value(arrow::Result<T> result) {
  check(result.status());
  return std::move(result).ValueUnsafe();
}

}  // namespace

void writeParquet(const std::string& path, const DoubleColumns& doubles, const Int64Columns& ints) {
  arrow::FieldVector fields;
  arrow::ArrayVector arrays;
  for (const auto& [name, values] : doubles) {
    arrow::DoubleBuilder b;
    check(b.AppendValues(values));
    fields.push_back(arrow::field(name, arrow::float64()));
    arrays.push_back(value(b.Finish()));
  }
  for (const auto& [name, values] : ints) {
    arrow::Int64Builder b;
    check(b.AppendValues(values));
    fields.push_back(arrow::field(name, arrow::int64()));
    arrays.push_back(value(b.Finish()));
  }
  auto table = arrow::Table::Make(arrow::schema(fields), arrays);
  auto out = value(arrow::io::FileOutputStream::Open(path));
  check(parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), out, /*chunk_size=*/1));
  check(out->Close());
}

}  // namespace trainrun::testing
