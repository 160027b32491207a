# What the torch wheel holds beside LibTorch: its CUDA version, its CUDA runtime and NCCL
# (the copies the process must load), cuDNN's version; checks the toolkit against it and
# prints the one summary line CI logs show.
#
# Sets TRAINRUN_TORCH_HAS_CUDA, the option TRAINRUN_WITH_CUDA (default: the wheel's), the
# imported targets trainrun::cudart and trainrun::nccl (CUDA builds), and puts the wheel's
# library folders first on every binary's run path (installed binaries: $ORIGIN/../lib).

get_filename_component(_site "${TORCH_INSTALL_PREFIX}/.." ABSOLUTE)  # site-packages
file(STRINGS "${TORCH_INSTALL_PREFIX}/version.py" _v REGEX "^__version__ = ")
string(REGEX REPLACE "^__version__ = '([^']*)'.*" "\\1" TRAINRUN_TORCH_VERSION "${_v}")
file(STRINGS "${TORCH_INSTALL_PREFIX}/version.py" _v REGEX "^cuda: ")
string(REGEX MATCH "'([0-9.]+)'" _m "${_v}")
set(TRAINRUN_TORCH_CUDA "${CMAKE_MATCH_1}")  # "13.0"; empty for a CPU-only wheel

set(TRAINRUN_TORCH_HAS_CUDA OFF)
if(TRAINRUN_TORCH_CUDA)
  set(TRAINRUN_TORCH_HAS_CUDA ON)
endif()
option(TRAINRUN_WITH_CUDA "Build the CUDA kernels and the NCCL backend" ${TRAINRUN_TORCH_HAS_CUDA})
if(TRAINRUN_WITH_CUDA AND NOT TRAINRUN_TORCH_HAS_CUDA)
  message(FATAL_ERROR "trainrun: TRAINRUN_WITH_CUDA needs a CUDA torch wheel")
endif()

set(_summary "trainrun: LibTorch ${TRAINRUN_TORCH_VERSION} (CPU only)")
if(TRAINRUN_TORCH_CUDA AND NOT TRAINRUN_WITH_CUDA)
  # A CPU build from the CUDA wheel (the cpu image): LibTorch's CPU half, no CUDA library.
  set(_summary "trainrun: LibTorch ${TRAINRUN_TORCH_VERSION} (its CPU half; CUDA off)")
elseif(TRAINRUN_TORCH_CUDA)
  string(REGEX MATCH "^[0-9]+" _wheel_major "${TRAINRUN_TORCH_CUDA}")
  string(REGEX MATCH "^[0-9]+" _toolkit_major "${CUDAToolkit_VERSION}")
  if(NOT _wheel_major STREQUAL _toolkit_major)
    message(FATAL_ERROR
      "trainrun: the CUDA toolkit at ${CUDAToolkit_BIN_DIR} is ${CUDAToolkit_VERSION} but the "
      "torch wheel is built for CUDA ${TRAINRUN_TORCH_CUDA}; install a matching toolkit, pin a "
      "torch for CUDA ${_toolkit_major}, or take nvcc from the nvidia-cuda-nvcc wheel")
  endif()
  # The wheel's libraries carry only versioned sonames (libcudart.so.13, libnccl.so.2).
  find_library(TRAINRUN_CUDART NAMES libcudart.so.${_wheel_major}
               PATHS "${_site}/nvidia/cu${_wheel_major}/lib" "${_site}/nvidia/cuda_runtime/lib"
               NO_DEFAULT_PATH)
  find_library(TRAINRUN_NCCL NAMES libnccl.so.2 PATHS "${_site}/nvidia/nccl/lib" NO_DEFAULT_PATH)
  find_path(TRAINRUN_NCCL_INCLUDE nccl.h PATHS "${_site}/nvidia/nccl/include" NO_DEFAULT_PATH)
  if(NOT TRAINRUN_CUDART OR NOT TRAINRUN_NCCL OR NOT TRAINRUN_NCCL_INCLUDE)
    message(FATAL_ERROR "trainrun: the torch wheel in ${_site} lacks its CUDA runtime or NCCL "
                        "(nvidia/cu${_wheel_major}/lib, nvidia/nccl); reinstall torch")
  endif()
  add_library(trainrun::cudart SHARED IMPORTED)
  set_target_properties(trainrun::cudart PROPERTIES IMPORTED_LOCATION "${TRAINRUN_CUDART}"
                        INTERFACE_INCLUDE_DIRECTORIES "${CUDAToolkit_INCLUDE_DIRS}")
  # LibTorch's own target names the toolkit's libcudart.so; point it at the wheel's copy.
  set_property(TARGET torch::cudart PROPERTY INTERFACE_LINK_LIBRARIES trainrun::cudart)
  add_library(trainrun::nccl SHARED IMPORTED)
  set_target_properties(trainrun::nccl PROPERTIES IMPORTED_LOCATION "${TRAINRUN_NCCL}"
                        INTERFACE_INCLUDE_DIRECTORIES "${TRAINRUN_NCCL_INCLUDE}")
  file(STRINGS "${TRAINRUN_NCCL_INCLUDE}/nccl.h" _n REGEX "^#define NCCL_(MAJOR|MINOR|PATCH) ")
  string(REGEX REPLACE ".*MAJOR ([0-9]+).*MINOR ([0-9]+).*PATCH ([0-9]+).*" "\\1.\\2.\\3"
                       _nccl_version "${_n}")
  set(_cudnn_version "none")
  if(EXISTS "${_site}/nvidia/cudnn/include/cudnn_version.h")
    file(STRINGS "${_site}/nvidia/cudnn/include/cudnn_version.h" _c
         REGEX "^#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) ")
    string(REGEX REPLACE ".*MAJOR ([0-9]+).*MINOR ([0-9]+).*PATCHLEVEL ([0-9]+).*" "\\1.\\2.\\3"
                         _cudnn_version "${_c}")
  endif()
  get_filename_component(_cudart_dir "${TRAINRUN_CUDART}" DIRECTORY)
  get_filename_component(_nccl_dir "${TRAINRUN_NCCL}" DIRECTORY)
  # First on the run path, ahead of the toolkit's folder that CMake adds for nvcc's runtime:
  # the toolkit's libcudart.so.13 / libnccl.so.2 have the same sonames and must not win.
  list(PREPEND CMAKE_BUILD_RPATH "${_cudart_dir}" "${_nccl_dir}")
  string(CONCAT _summary "trainrun: LibTorch ${TRAINRUN_TORCH_VERSION} (CUDA "
         "${TRAINRUN_TORCH_CUDA}, cuDNN ${_cudnn_version}), NCCL ${_nccl_version} from "
         "${TRAINRUN_NCCL}, nvcc ${CUDAToolkit_VERSION}")
endif()
list(APPEND CMAKE_BUILD_RPATH "${TORCH_INSTALL_PREFIX}/lib")
# `cmake --install` (the image): the libraries the binaries load are copied beside them.
set(CMAKE_INSTALL_RPATH "$ORIGIN/../lib")
# DT_RPATH rather than DT_RUNPATH: it also governs the libraries LibTorch itself loads and is
# not overridden by an LD_LIBRARY_PATH that names another CUDA (as CUDA images often set).
add_link_options(LINKER:--disable-new-dtags)
# libtorch.so and libtorch_cpu.so export copies of std::filesystem (remove_all, ...) and
# libtorch.so's crashes when called. libstdc++ as the first needed library makes our calls
# bind to libstdc++'s own definitions.
add_link_options(LINKER:--push-state,--no-as-needed,-lstdc++,--pop-state)
set(TRAINRUN_BUILD_SUMMARY "${_summary}")
