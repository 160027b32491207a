// Shared helpers for the config tests: a fake data dir, error matching (tests/support: the rest).
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/env.h"
#include "core/error.h"
#include "support/scoped_env.h"
#include "support/temp_dir.h"

namespace trainrun::config::testing {

using trainrun::testing::ScopedEnv;
using trainrun::testing::TempDir;

// Base fixture: TRAINRUN_DATA_DIR points at a dir holding a (fake) digits.csv.gz, so the
// default config validates without the real dataset; TRAINING_JOB_NAME is unset.
class ConfigTest : public ::testing::Test {
 protected:
  ConfigTest()
      : data_dir_env_(env::kDataDir, data_dir_.path().string()),
        job_name_env_(env::kTrainingJobName, std::nullopt) {
    data_dir_.write("digits.csv.gz", "fake");
  }

  JobConfig parse(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
    return parseJobConfig(yaml, overrides, "test.yaml");
  }

  TempDir data_dir_;
  ScopedEnv data_dir_env_;
  ScopedEnv job_name_env_;
};

// The ConfigError message `fn` throws; fails the test if it throws nothing or another type.
inline std::string configError(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << "error must be one line: " << what;
    EXPECT_EQ(e.exitCode(), 2);
    return what;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected ConfigError, got: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected ConfigError, nothing thrown";
  return "";
}

}  // namespace trainrun::config::testing
