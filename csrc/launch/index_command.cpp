// `trainrun index`: list an S3 folder, read each shard's header, write the folder's index.
#include "launch/index_command.h"

#include <cstdint>
#include <cstdio>
#include <memory>

#include "core/cli_parser.h"
#include "core/error.h"
#include "core/logging.h"
#include "data/s3_shard_source.h"

namespace trainrun::launch {

namespace {

const cli::CommandParser& indexFlags() {
  static const std::unique_ptr<cli::CommandParser> flags = [] {
    auto p = std::make_unique<cli::CommandParser>("trainrun index");
    p->operand("DATA_PATH");
    p->flag("--s3-endpoint", "URL",
            "an S3-compatible server (default: AWS_ENDPOINT_URL_S3, else\nAWS_ENDPOINT_URL, "
            "else AWS)");
    return p;
  }();
  return *flags;
}

}  // namespace

std::string indexUsage() {
  return R"(usage: trainrun index s3://BUCKET/FOLDER/[PREFIX or GLOB] [--s3-endpoint URL]

Reads the header of every object in the folder (one ranged GET each) and writes the folder's
shard index, FOLDER/.trainrun-index: each shard's header pinned to its size and ETag. A job
whose data.path or data.validation_path lists that folder then takes its shards' headers from
the index: one listing and one small GET whatever their number, instead of a header read per
shard (a shard added or rewritten since is read as before). Run it again after adding shards.
Objects that are not token shards are skipped and named.

)" + indexFlags().optionsHelp("options:");
}

int runIndexCommand(const std::vector<std::string>& args) {
  const cli::ParsedArgs parsed = indexFlags().parse(args, cli::commandWording("trainrun index"));
  const std::string path = parsed.operands.empty() ? "" : parsed.operands.front();
  for (const std::string& extra : parsed.extras)
    throw ConfigError("trainrun index: one DATA_PATH only, got '" + path + "' and '" + extra + "'");
  std::string endpoint;
  for (const cli::FlagValue& f : parsed.flags) endpoint = f.value;  // --s3-endpoint
  if (path.rfind("s3://", 0) != 0)
    throw ConfigError("trainrun index: give an s3:// folder of token shards (got '" + path +
                      "'; local shards need no index: their headers are read in place)");
  const ShardIndexReport report = writeS3ShardIndex(path, endpoint);
  uint64_t bytes = 0, tokens = 0;
  for (const ShardInfo& s : report.shards) {
    bytes += s.bytes;
    tokens += s.header.token_count;
  }
  char size[32];
  std::snprintf(size, sizeof(size), "%.2f GiB", double(bytes) / double(1ull << 30));
  log::out("trainrun index: " + std::to_string(report.shards.size()) + " shards (" + size + ", " +
           std::to_string(tokens) + " tokens) indexed in " + report.uri);
  for (const std::string& why : report.skipped) log::out("  skipped: " + why);
  return 0;
}

}  // namespace trainrun::launch
