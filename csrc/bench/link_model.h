// The alpha-beta model of a link between nodes: given ("100Gbit,5us") or fitted to a
// `trainrun bench allreduce --json` run.
#pragma once

#include <cstdint>
#include <string>

namespace trainrun::bench {

struct LinkModel {
  double latency_s = 0;    // alpha: per message of the ring
  double bytes_per_s = 0;  // 1/beta: what one node sends per second
  std::string source;      // how it was obtained, for the report
};

// "100Gbit,5us", "10gbit" (latency 0), "800mbit,50us": rates in tc's units (bit, kbit, mbit,
// gbit, decimal; case-insensitive), latency in ns, us, ms or s. Throws ConfigError naming
// `flag` and the expected form.
LinkModel parseLink(const std::string& text, const std::string& flag = "--link");

// Least squares of time = a + b * bytes over the in-place rows of `backend` (fp32) from 64 KiB
// up, relative error weighted, in a JSON file `trainrun bench allreduce --json` wrote on more
// than one node; a and b are turned back into a ring's alpha and beta at the file's node count.
// Throws ConfigError naming the file when it has too few usable rows.
LinkModel fitLink(const std::string& json_path, const std::string& backend = "gloo");

// --link's value: a file that exists is fitted, anything else parsed.
LinkModel linkFromFlag(const std::string& value);

// Seconds for a ring all-reduce of `bytes` over `nodes` nodes: 2(n-1) messages of bytes/n.
double ringAllreduceSeconds(const LinkModel& link, int64_t nodes, int64_t bytes);

// "100 Gbit/s, 5 us" for the report.
std::string describeLink(const LinkModel& link);

}  // namespace trainrun::bench
