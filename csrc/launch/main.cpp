// trainrun: the launcher's entry point (CLI -> config check -> rendezvous -> local agent).
#include <unistd.h>

#include <exception>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/error.h"
#include "core/file.h"
#include "core/logging.h"
#include "launch/agent.h"
#include "launch/cli.h"
#include "launch/rendezvous.h"
#include "launch/run_summary.h"
#include "launch/signal_watch.h"
#include "launch/worker_spec.h"

extern char** environ;

namespace {

int launch(const std::vector<std::string>& args, trainrun::launch::SignalWatch& signals) {
  using namespace trainrun::launch;
  LaunchOptions opts = parseCommandLine(args);
  if (opts.help) {
    trainrun::log::out(usageText().substr(0, usageText().size() - 1));
    return 0;
  }
  // Fail on a bad config here, in one line, rather than N times in N ranks.
  std::chrono::milliseconds timeout = kStoreTimeoutWithoutConfig;
  if (!opts.config_path.empty())
    timeout = trainrun::config::groupTimeout(
        trainrun::config::loadJobConfig(opts.config_path, opts.overrides));

  HostedRendezvous rendezvous = hostRendezvous(opts, timeout);
  std::vector<std::string> base_env;
  for (char** e = environ; *e != nullptr; ++e) base_env.emplace_back(*e);
  std::vector<RankSpec> ranks = makeRankSpecs(opts, rendezvous.endpoint, base_env);

  AgentOptions agent_opts;
  agent_opts.grace_period = opts.grace_period;
  AgentResult result = LocalAgent(agent_opts, signals).run(ranks);
  std::string summary = summaryLine(result, opts.grace_period);
  if (!summary.empty()) trainrun::writeLine(STDERR_FILENO, summary);
  return launcherExitCode(result);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    // First, before the store or the output pump start threads (see SignalWatch).
    trainrun::launch::SignalWatch signals;
    return launch(std::vector<std::string>(argv + 1, argv + argc), signals);
  } catch (const trainrun::Error& e) {
    trainrun::log::error(e.what());
    return e.exitCode();
  } catch (const std::exception& e) {
    trainrun::log::error(e.what());
    return 1;
  }
}
