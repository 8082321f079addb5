// SPDX-License-Identifier: MIT
// rsfiqa: a header-only C++17 CPU engine for region-aware, fine-grained image
// quality assessment, after "Segmenting and Understanding: Region-aware
// Semantic Attention for Fine-grained Image Quality Assessment with Large
// Language Models" (C. Song et al., arXiv 2508.07818). This umbrella header
// pulls in the whole public API; including single headers from the layer
// folders works too (see docs/architecture.md for the layers).
//
// USAGE
//
//   CMake:  find_package(rsfiqa CONFIG REQUIRED)   (or add_subdirectory /
//           FetchContent), then target_link_libraries(app PRIVATE rsfiqa::rsfiqa).
//   By hand: add include/ plus the Eigen 3 and stb_image include folders to
//           the include path, compile as C++17, and add -fopenmp for threads.
//
//   #include <rsfiqa/rsfiqa.hpp>
//
//   rsfiqa::set_num_threads(2);                     // default: physical cores
//   auto t = rsfiqa::Tensor::create(rsfiqa::DType::kF32, {3, 4});
//   if (!t.ok()) { report(t.status().to_string()); return; }
//   rsfiqa::kernels::gemm_f32(M, N, K, A, K, W, K, C, N);   // C = A * W^T
//
// ERRORS  Nothing here throws, prints or exits. Fallible calls return
//         rsfiqa::Status or rsfiqa::Result<T>; codes are stable numbers
//         (core/status.hpp) and messages name the cause.
//
// OVERRIDES  Define before the first rsfiqa include (see core/config.hpp):
//   RSFIQA_ASSERT(cond)             internal invariant hook (default: trap in debug builds)
//   RSFIQA_MALLOC(size, align) / RSFIQA_FREE(ptr)   aligned allocation hooks
//   RSFIQA_NO_OPENMP                single-threaded even if OpenMP is on
//   RSFIQA_NO_SIMD                  scalar reference kernels only
//
// RUN-TIME SWITCHES  rsfiqa::set_isa_cap(rsfiqa::Isa::kScalar) or the
//   environment variable RSFIQA_ISA=scalar|avx2|avx512 force lower kernel
//   levels; rsfiqa::cpu_features_string() reports what runs.
//
// Every public header under include/rsfiqa/<layer>/ must be listed below (the
// layer test checks it), in layer order: core, io, kernels, ops, models, pipeline.
#pragma once

// core: configuration, errors, dtypes, tensors, memory, threads, CPU dispatch
#include "rsfiqa/core/arena.hpp"
#include "rsfiqa/core/checked.hpp"
#include "rsfiqa/core/config.hpp"
#include "rsfiqa/core/cpu.hpp"
#include "rsfiqa/core/dtype.hpp"
#include "rsfiqa/core/log.hpp"
#include "rsfiqa/core/parallel.hpp"
#include "rsfiqa/core/status.hpp"
#include "rsfiqa/core/tensor.hpp"

// io: files (mmap, atomic writes), JSON, weight containers (safetensors, GGUF),
// ONNX reading for conversion, .npy arrays, images and SAM preprocessing
#include "rsfiqa/io/file.hpp"
#include "rsfiqa/io/gguf.hpp"
#include "rsfiqa/io/image.hpp"
#include "rsfiqa/io/json.hpp"
#include "rsfiqa/io/npy.hpp"
#include "rsfiqa/io/onnx.hpp"
#include "rsfiqa/io/safetensors.hpp"
#include "rsfiqa/io/sam_preprocess.hpp"

// kernels: scalar references and ISA-specific kernels behind run-time dispatch
// (ISA-specific parts such as gemm_avx512.hpp come in through their entry header)
#include "rsfiqa/kernels/dispatch.hpp"
#include "rsfiqa/kernels/elementwise.hpp"
#include "rsfiqa/kernels/gemm.hpp"
#include "rsfiqa/kernels/gemm_peak.hpp"
#include "rsfiqa/kernels/norm.hpp"
#include "rsfiqa/kernels/quant.hpp"
#include "rsfiqa/kernels/quant_dot.hpp"
#include "rsfiqa/kernels/region_attention_kernels.hpp"
#include "rsfiqa/kernels/softmax.hpp"

// ops: model-agnostic math on tensors
#include "rsfiqa/ops/activation.hpp"
#include "rsfiqa/ops/attention.hpp"
#include "rsfiqa/ops/common.hpp"
#include "rsfiqa/ops/conv.hpp"
#include "rsfiqa/ops/linear.hpp"
#include "rsfiqa/ops/norm.hpp"
#include "rsfiqa/ops/region_attention.hpp"
#include "rsfiqa/ops/softmax.hpp"

// models: Segment Anything (TinyViT encoder, prompt encoder, mask decoder,
// predictor, automatic mask generation, region partition), the quality
// network, and the LLM decoder (llama / qwen2 GGUF) with its tokenizers,
// sampler, chat template and quantizer
#include "rsfiqa/models/llm/chat.hpp"
#include "rsfiqa/models/llm/imatrix.hpp"
#include "rsfiqa/models/llm/model.hpp"
#include "rsfiqa/models/llm/quantize.hpp"
#include "rsfiqa/models/llm/sampler.hpp"
#include "rsfiqa/models/llm/tokenizer.hpp"
#include "rsfiqa/models/quality/quality_net.hpp"
#include "rsfiqa/models/sam/amg.hpp"
#include "rsfiqa/models/sam/image_encoder.hpp"
#include "rsfiqa/models/sam/mask_decoder.hpp"
#include "rsfiqa/models/sam/partition.hpp"
#include "rsfiqa/models/sam/predictor.hpp"
#include "rsfiqa/models/sam/prompt_encoder.hpp"
#include "rsfiqa/models/sam/tinyvit.hpp"
#include "rsfiqa/models/sam/vit.hpp"

// pipeline: assessment composition, reports, overlays, descriptions, batches
#include "rsfiqa/pipeline/assess.hpp"
#include "rsfiqa/pipeline/batch.hpp"
#include "rsfiqa/pipeline/describe.hpp"
#include "rsfiqa/pipeline/distort.hpp"
#include "rsfiqa/pipeline/fr_quality.hpp"
#include "rsfiqa/pipeline/metrics.hpp"
#include "rsfiqa/pipeline/overlay.hpp"
#include "rsfiqa/pipeline/report.hpp"

// C API (c_api.h; its implementation compiles only with RSFIQA_C_API_IMPLEMENTATION)
#include "rsfiqa/c_api_impl.hpp"
