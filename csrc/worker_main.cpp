// trainrun-worker: one rank of a job. Usage: trainrun-worker CONFIG [--set key=value ...]
#include <c10/util/Logging.h>

#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/cli_parser.h"
#include "core/env.h"
#include "core/error.h"
#include "core/error_file.h"
#include "core/logging.h"
#include "distributed/init.h"
#include "hang/hang_dump.h"
#include "pipeline/sagemaker.h"
#include "preemption/preemption.h"
#include "train/out_of_memory.h"
#include "train/trainer.h"

namespace {

struct Args {
  std::string config_path;
  std::vector<std::string> overrides;
};

constexpr const char* kUsage = "(usage: trainrun-worker CONFIG [--set key=value ...])";

// The worker's command line (the launcher writes it): CONFIG and --set, on the shared parser.
Args parseArgs(int argc, char** argv) {
  static const std::unique_ptr<trainrun::cli::CommandParser> flags = [] {
    auto p = std::make_unique<trainrun::cli::CommandParser>("trainrun-worker");
    p->operand("CONFIG").flag("--set", "KEY=VALUE", "override a config key (repeatable)");
    return p;
  }();
  trainrun::cli::ErrorWording wording;
  wording.unknown_flag = [](const std::string& flag, const std::string&) {
    return "unexpected argument '" + flag + "' " + kUsage;
  };
  wording.needs_value = [](const std::string&) { return std::string("--set needs key=value"); };
  const trainrun::cli::ParsedArgs parsed = flags->parse({argv + 1, argv + argc}, wording);
  Args args;
  if (!parsed.operands.empty()) args.config_path = parsed.operands.front();
  for (const std::string& extra : parsed.extras)
    throw trainrun::ConfigError(wording.unknown_flag(extra, ""));
  for (const trainrun::cli::FlagValue& f : parsed.flags) args.overrides.push_back(f.value);
  if (args.config_path.empty())
    throw trainrun::ConfigError(std::string("no config file given ") + kUsage);
  return args;
}

}  // namespace

// The error line, (`trainrun train`) the job's failure reason (the first rank's wins), and the
// rank's error file, which the launcher quotes in its failure line.
void reportError(const std::string& message) {
  trainrun::log::error(message);
  trainrun::pipeline::writeFailureReason(trainrun::env::get(trainrun::env::kFailureFile), message);
  trainrun::writeErrorFile(trainrun::env::get(trainrun::env::kErrorFile), message);
}

// After a collective failed or timed out: this rank's last collectives, for the hang report.
void reportCollectives(const trainrun::DistContext& dist) {
  if (!dist.comm) return;  // the job was not joined yet, or an elastic group was re-forming
  trainrun::log::warn("rank " + std::to_string(dist.rank) + "'s last collectives: " +
                      trainrun::summarize(dist.comm->recentCollectives()));
}

int main(int argc, char** argv) {
  // A write to a socket that a lost peer closed must fail with EPIPE (the collective reports
  // it and elastic recovery re-forms the group), not kill the rank: Gloo writes to TCP without
  // MSG_NOSIGNAL, and Python ignores SIGPIPE, so PyTorch's ranks never see it. The launcher
  // ignores it too and hands children the default back; this rank ignores it again.
  std::signal(SIGPIPE, SIG_IGN);
  trainrun::catchSigterm();      // first, before any thread starts (they inherit its signal mask)
  trainrun::prepareHangDumps();  // before any thread starts, as catchSigterm()
  // c10d logs a warning with a stack trace for what trainrun reports itself in one line (a
  // peer's lost connection, a reverse lookup without DNS): errors only.
  FLAGS_caffe2_log_level = c10::GLOG_ERROR;
  trainrun::DistContext dist;  // outlives the trainer: its flight recorder explains a failure
  std::unique_ptr<trainrun::HangDumper> dumper;  // destroyed before `dist`, which it reads
  try {
    Args args = parseArgs(argc, argv);
    trainrun::config::JobConfig config =
        trainrun::config::loadJobConfig(args.config_path, args.overrides);
    dist = trainrun::initDistributed(config);
    dumper = std::make_unique<trainrun::HangDumper>(dist);
    trainrun::Trainer trainer(config, args.config_path, dist);
    trainer.run();
    return 0;
  } catch (const trainrun::Preempted& e) {
    return e.exitCode();  // rank 0 has said how it went; not an error
  } catch (const trainrun::CommError& e) {
    reportError(e.what());
    reportCollectives(dist);
    return e.exitCode();
  } catch (const trainrun::TimeoutError& e) {
    reportError(e.what());
    reportCollectives(dist);
    // A hang: the launcher's report needs this rank's dump, and cannot ask once it has exited.
    if (dumper) dumper->dump(e.what());
    return e.exitCode();
  } catch (const trainrun::Error& e) {
    reportError(e.what());
    return e.exitCode();
  } catch (const c10::Error& e) {
    // Out of memory outside a step (the model, the data, an evaluation): the allocator's words.
    if (const auto reason = trainrun::outOfMemoryReason(e)) {
      reportError("out of memory: " + *reason);
      return trainrun::OutOfMemoryError("").exitCode();
    }
    reportError(e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    reportError(e.what());
    return 1;
  }
}
