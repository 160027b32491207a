// `trainrun bench scaling` and `trainrun bench predict`: real training runs at 1..N nodes, and
// step times predicted for N nodes from one node's profile.
#pragma once

#include <string>
#include <vector>

namespace trainrun::bench {

// The args after "bench scaling" / "bench predict"; `trainrun` is the launcher to run. Prints
// the table (and writes --json, --plot). Returns the exit code; throws ConfigError on bad
// flags before any run, Error when a run fails.
int runScalingBench(const std::vector<std::string>& args, const std::string& trainrun);
int runPredictBench(const std::vector<std::string>& args, const std::string& trainrun);

}  // namespace trainrun::bench
