// Shared helpers for the config tests: env var scoping, a fake data dir, error matching.
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

namespace trainrun::config::testing {

// Sets (or unsets, with nullopt) an environment variable for one scope, then restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    value ? setenv(name, value->c_str(), 1) : unsetenv(name);
  }
  ~ScopedEnv() { old_ ? setenv(name_, old_->c_str(), 1) : unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A fresh directory under the system temp dir, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "config_test.XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name) << text;
    return (path_ / name).string();
  }

 private:
  std::filesystem::path path_;
};

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
