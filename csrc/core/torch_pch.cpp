// The translation unit that LibTorch's precompiled header is built with (trainrun_torch_pch).
