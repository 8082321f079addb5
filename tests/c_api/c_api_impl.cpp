// SPDX-License-Identifier: MIT
// The one translation unit of the C API test that compiles the C API
// implementation (see include/rsfiqa/c_api.h).
#define RSFIQA_C_API_IMPLEMENTATION
#include "rsfiqa/c_api_impl.hpp"
