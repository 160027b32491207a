// errorOf: the message of the error a call throws, for the tests of one-line errors.
#pragma once

#include <functional>
#include <string>

#include "core/error.h"

namespace trainrun::testing {

// The what() of the E that `f` throws; "(no error of the expected type)" when it throws none
// (another type propagates, and fails the test with its own message).
template <typename E = ConfigError>
std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(no error of the expected type)";
}

}  // namespace trainrun::testing
