# trainrun_add_gpu_gtest(NAME SOURCES...): a gtest binary for code that needs a CUDA device.
# Its tests carry the ctest label `gpu` (ctest -L gpu / -LE gpu) and GTEST_SKIP themselves
# when no device is visible, so CPU-only machines build and run them as skipped.
include_guard(GLOBAL)

function(trainrun_add_gpu_gtest name)
  add_executable(${name} ${ARGN})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE trainrun_lib GTest::gtest GTest::gtest_main trainrun::cudart)
  target_precompile_headers(${name} REUSE_FROM trainrun_test_pch)
  # 120 s each: a hung test (a capture or collective that never ends) must not eat the device
  # call's budget.
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 120 LABELS gpu)
endfunction()
