# tests/dist (included): the NCCL communicator. The no-device checks always build and run;
# the device tests (label gpu) build with CUDA + NCCL and skip where no GPU is visible.
trainrun_add_gtest(nccl_communicator_test nccl_communicator_test.cpp)
target_link_libraries(nccl_communicator_test PRIVATE trainrun_distributed_nccl trainrun_cuda)

if(TRAINRUN_WITH_CUDA)
  include(${PROJECT_SOURCE_DIR}/tests/kernels/gpu_gtest.cmake)
  trainrun_add_gpu_gtest(nccl_communicator_gpu_test nccl_communicator_gpu_test.cpp)
  target_link_libraries(nccl_communicator_gpu_test PRIVATE trainrun_distributed_nccl)
endif()
