// Link models: "RATE,LATENCY" parsing, the ring formula, and the fit to an allreduce JSON.
#include "bench/link_model.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace trainrun::bench {
namespace {

TEST(LinkModel, ParsesRatesAndLatenciesInTcUnits) {
  LinkModel l = parseLink("100Gbit,5us");
  EXPECT_DOUBLE_EQ(l.bytes_per_s, 100e9 / 8);
  EXPECT_DOUBLE_EQ(l.latency_s, 5e-6);
  EXPECT_DOUBLE_EQ(parseLink("800mbit").bytes_per_s, 100e6);
  EXPECT_DOUBLE_EQ(parseLink("800mbit").latency_s, 0);
  EXPECT_DOUBLE_EQ(parseLink("1.5GBIT,2ms").latency_s, 2e-3);
}

TEST(LinkModel, RejectsWhatIsNotARateWithOneLine) {
  for (const char* bad : {"fast", "100", "100gb", "100gbit,5", "-1gbit", "0gbit", "100gbit,xus"}) {
    try {
      parseLink(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("100Gbit,5us"), std::string::npos) << e.what();
    }
  }
}

TEST(LinkModel, RingTimeIsTwoNMinusOneLatenciesAndTheBandwidthTerm) {
  LinkModel l = parseLink("8mbit,1ms");  // 1e6 bytes/s
  EXPECT_DOUBLE_EQ(ringAllreduceSeconds(l, 1, 1000000), 0);
  EXPECT_NEAR(ringAllreduceSeconds(l, 2, 1000000), 2 * 1e-3 + 1.0, 1e-12);
  EXPECT_NEAR(ringAllreduceSeconds(l, 4, 1000000), 6 * 1e-3 + 1.5, 1e-12);
}

std::string writeBench(const std::string& name, int nodes, double alpha, double bytes_per_s) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream out(path);
  out << "{\"benchmark\": \"allreduce\", \"world_size\": " << nodes << ", \"nodes\": " << nodes
      << ", \"rows\": [";
  const double n = nodes;
  bool first = true;
  for (long s = 1024; s <= 32l << 20; s *= 2) {
    const double t = 2 * (n - 1) * alpha + 2 * (n - 1) / n * double(s) / bytes_per_s;
    for (const char* backend : {"gloo", "shm"}) {
      out << (first ? "" : ",") << "{\"backend\": \"" << backend << "\", \"size_bytes\": " << s
          << ", \"type\": \"float\", \"in_place\": {\"time_us\": "
          << t * 1e6 * (backend[0] == 's' ? 0.1 : 1) << "}, \"out_of_place\": {\"time_us\": 1}}";
      first = false;
    }
  }
  out << "]}";
  return path;
}

TEST(LinkModel, FitRecoversAlphaAndBetaOfARing) {
  for (int nodes : {2, 4}) {
    const LinkModel l = fitLink(writeBench("ring.json", nodes, 50e-6, 12.5e6));
    EXPECT_NEAR(l.latency_s, 50e-6, 1e-7) << nodes;
    EXPECT_NEAR(l.bytes_per_s, 12.5e6, 1e3) << nodes;
    EXPECT_NE(l.source.find("gloo"), std::string::npos);
  }
}

TEST(LinkModel, FitRefusesASingleNodeRunOrTooFewSizes) {
  EXPECT_THROW(fitLink(writeBench("one.json", 1, 50e-6, 12.5e6)), ConfigError);
  const std::string path = ::testing::TempDir() + "few.json";
  std::ofstream(path) << "{\"benchmark\": \"allreduce\", \"nodes\": 2, \"rows\": []}";
  EXPECT_THROW(fitLink(path), ConfigError);
  std::ofstream(path) << "not json";
  EXPECT_THROW(fitLink(path), ConfigError);
  EXPECT_THROW(linkFromFlag(::testing::TempDir() + "missing.json"), ConfigError);
}

}  // namespace
}  // namespace trainrun::bench
