// SPDX-License-Identifier: MIT
// Image decoding and encoding for rsfiqa: PNG, JPEG and BMP in, PNG and JPEG
// out, always as 8-bit interleaved RGB. Decoding follows the "Images" rules of
// RELIABILITY.md: the format is sniffed from its magic bytes and anything but
// PNG/JPEG/BMP is refused (GIF, TIFF, WebP, ... are named in the error); the
// header is parsed for the dimensions and the image is refused against a
// configurable pixel cap *before* any pixel is decoded; every channel layout
// (grey, grey+alpha, RGB, RGBA, 16-bit PNG) comes out as RGB8. Before stb
// sees the bytes, rsfiqa walks the PNG chunks / JPEG segments / BMP layout
// itself, because stb 2.27 trusts some declared lengths (see
// jpeg_structure_problem and png_structure_problem), and stb's allocations
// during a decode are capped from the image size. docs/images.md has the
// whole pipeline and the error table.
//
// Channel conversion (the same as PIL's `Image.convert("RGB")`, which
// segment-anything's examples rely on):
//   - grey        -> R = G = B = grey
//   - alpha       -> dropped, colour values kept as stored (no compositing
//                    over black or white)
//   - 16-bit PNG  -> the high byte of each sample (value >> 8)
// EXIF orientation is not applied: pixels come out in stored order.
//
// What this file does not do: resizing and model preprocessing (see
// io/sam_preprocess.hpp), colour management (ICC profiles are ignored), HDR,
// animation, or any decoder other than stb_image's PNG/JPEG/BMP ones.
//
// How stb is compiled in
// ----------------------
// stb_image.h / stb_image_write.h (public domain, Sean Barrett; Debian
// libstb-dev) are header-only C libraries. By default this header compiles a
// *private* copy of them into every translation unit that includes it:
//   - inside namespace rsfiqa::detail::stb, with STB_IMAGE_STATIC so every
//     function has internal linkage and nothing clashes at link time with a
//     copy of stb the application compiles itself;
//   - with the public stbi_* names renamed to rsfiqa_stbi_* for the duration
//     of the include (stb declares them extern "C", and C-linkage names in
//     different namespaces would otherwise denote the same function);
//   - with only the PNG, JPEG and BMP decoders (STBI_ONLY_*), no stdio, and
//     STBI_ASSERT / STBI_MALLOC / STBI_REALLOC / STBI_FREE set here, so an
//     assertion inside stb never aborts (see RSFIQA_STBI_ASSERT below);
//   - stb's configuration macros are saved before and restored after, and its
//     include guards are reset, so the application may include <stb_image.h>
//     (declarations, any configuration) before or after this header and gets
//     its own, untouched stb. Our copy has its own global flags: the vertical
//     flip flag is never set by rsfiqa and an application setting its own
//     flag does not affect rsfiqa.
// Two limits of the default mode: (1) a translation unit that defines
// STB_IMAGE_IMPLEMENTATION (or STB_IMAGE_WRITE_IMPLEMENTATION) itself cannot
// also include this header, because stb's implementation cannot appear twice
// in one translation unit; (2) the copy costs some code size per translation
// unit. For both, define RSFIQA_STB_EXTERNAL_IMPLEMENTATION before including
// any rsfiqa header: rsfiqa then includes <stb_image.h> and
// <stb_image_write.h> for declarations only and calls the global stbi_*
// functions, and the application compiles stb's implementation once, in one
// translation unit, with at least PNG, JPEG and BMP enabled and
// STBI_NO_FAILURE_STRINGS not defined. The format sniffing and the pixel cap
// still run first in that mode, so GIF and other formats are refused even if
// the application's stb could decode them; but the application must then
// not set stb's global flip flag.
//
// Overridable macros:
//   RSFIQA_STB_EXTERNAL_IMPLEMENTATION  see above.
//   RSFIQA_STBI_ASSERT(x)  what stb's internal asserts do in the private
//                          copy; default: nothing (stb's asserts guard its own
//                          invariants, bad input already yields an error).
#pragma once

#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "rsfiqa/core/status.hpp"
#include "rsfiqa/io/file.hpp"

namespace rsfiqa {
namespace detail {
// Allocation budget for the private stb copy (no effect with
// RSFIQA_STB_EXTERNAL_IMPLEMENTATION, where the application's stb allocates). stb sizes some buffers from
// values in the file before it knows they are backed by data (a zlib stream
// may also inflate far beyond the image), so decode_image sets a per-thread
// cap derived from the image's dimensions; any single stb allocation above
// it fails (stb then reports "outofmem", which becomes kLimitExceeded).
struct StbAllocBudget {
  size_t cap = (size_t)-1;
  bool refused = false;
};
inline StbAllocBudget& stb_alloc_budget() {
  static thread_local StbAllocBudget budget;
  return budget;
}
// Zeroed, so that no path through stb can read uninitialised heap memory
// (its JPEG decoder state, for one, is not cleared before use).
inline void* stb_malloc(size_t n) {
  StbAllocBudget& b = stb_alloc_budget();
  if (n > b.cap) {
    b.refused = true;
    return nullptr;
  }
  return std::calloc(1, n ? n : 1);
}
inline void* stb_realloc(void* p, size_t n) {
  StbAllocBudget& b = stb_alloc_budget();
  if (n > b.cap) {
    b.refused = true;
    return nullptr;
  }
  return std::realloc(p, n);
}
}  // namespace detail
}  // namespace rsfiqa

#if !defined(RSFIQA_STB_EXTERNAL_IMPLEMENTATION)

// Every system header stb pulls in is included here, at global scope, so that
// its include guard keeps it out of the namespace stb is compiled into.
#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__) || defined(_M_X64) || defined(_M_AMD64)
#include <emmintrin.h>
#endif
#if defined(_MSC_VER)
#include <intrin.h>
#endif
#if defined(__ARM_NEON)
#include <arm_neon.h>
#endif

#if !defined(RSFIQA_STBI_ASSERT)
#define RSFIQA_STBI_ASSERT(x) ((void)0)
#endif

// Save the caller's stb state: include guards and configuration macros.
#pragma push_macro("STBI_INCLUDE_STB_IMAGE_H")
#pragma push_macro("INCLUDE_STB_IMAGE_WRITE_H")
#pragma push_macro("STB_IMAGE_IMPLEMENTATION")
#pragma push_macro("STB_IMAGE_STATIC")
#pragma push_macro("STB_IMAGE_WRITE_IMPLEMENTATION")
#pragma push_macro("STB_IMAGE_WRITE_STATIC")
#pragma push_macro("STBIDEF")
#pragma push_macro("STBIWDEF")
#pragma push_macro("STBI_ASSERT")
#pragma push_macro("STBI_MALLOC")
#pragma push_macro("STBI_REALLOC")
#pragma push_macro("STBI_FREE")
#pragma push_macro("STBIW_ASSERT")
#pragma push_macro("STBIW_MALLOC")
#pragma push_macro("STBIW_REALLOC")
#pragma push_macro("STBIW_FREE")
#pragma push_macro("STBI_NO_STDIO")
#pragma push_macro("STBI_WRITE_NO_STDIO")
#pragma push_macro("STBI_ONLY_PNG")
#pragma push_macro("STBI_ONLY_JPEG")
#pragma push_macro("STBI_ONLY_BMP")
#pragma push_macro("STBI_NO_JPEG")
#pragma push_macro("STBI_NO_PNG")
#pragma push_macro("STBI_NO_BMP")
#pragma push_macro("STBI_NO_PSD")
#pragma push_macro("STBI_NO_TGA")
#pragma push_macro("STBI_NO_GIF")
#pragma push_macro("STBI_NO_HDR")
#pragma push_macro("STBI_NO_PIC")
#pragma push_macro("STBI_NO_PNM")
#pragma push_macro("STBI_NO_ZLIB")
#pragma push_macro("STBI_NO_LINEAR")
#pragma push_macro("STBI_NO_FAILURE_STRINGS")
#pragma push_macro("STBI_FAILURE_USERMSG")
#undef STBI_INCLUDE_STB_IMAGE_H
#undef INCLUDE_STB_IMAGE_WRITE_H
#undef STBIDEF
#undef STBIWDEF
#undef STBI_ASSERT
#undef STBI_MALLOC
#undef STBI_REALLOC
#undef STBI_FREE
#undef STBIW_ASSERT
#undef STBIW_MALLOC
#undef STBIW_REALLOC
#undef STBIW_FREE
#undef STBI_NO_JPEG
#undef STBI_NO_PNG
#undef STBI_NO_BMP
#undef STBI_NO_ZLIB
#undef STBI_NO_FAILURE_STRINGS
#undef STBI_FAILURE_USERMSG

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_WRITE_NO_STDIO
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_ASSERT(x) RSFIQA_STBI_ASSERT(x)
#define STBI_MALLOC(sz) ::rsfiqa::detail::stb_malloc(sz)
#define STBI_REALLOC(p, newsz) ::rsfiqa::detail::stb_realloc(p, newsz)
#define STBI_FREE(p) ::free(p)
#define STBIW_ASSERT(x) RSFIQA_STBI_ASSERT(x)
#define STBIW_MALLOC(sz) ::malloc(sz)
#define STBIW_REALLOC(p, newsz) ::realloc(p, newsz)
#define STBIW_FREE(p) ::free(p)

// Rename the extern "C" names of our copy (see the file comment).
#define stbi_convert_iphone_png_to_rgb rsfiqa_stbi_convert_iphone_png_to_rgb
#define stbi_convert_iphone_png_to_rgb_thread rsfiqa_stbi_convert_iphone_png_to_rgb_thread
#define stbi_failure_reason rsfiqa_stbi_failure_reason
#define stbi_hdr_to_ldr_gamma rsfiqa_stbi_hdr_to_ldr_gamma
#define stbi_hdr_to_ldr_scale rsfiqa_stbi_hdr_to_ldr_scale
#define stbi_image_free rsfiqa_stbi_image_free
#define stbi_info_from_callbacks rsfiqa_stbi_info_from_callbacks
#define stbi_info_from_memory rsfiqa_stbi_info_from_memory
#define stbi_is_16_bit_from_callbacks rsfiqa_stbi_is_16_bit_from_callbacks
#define stbi_is_16_bit_from_memory rsfiqa_stbi_is_16_bit_from_memory
#define stbi_is_hdr_from_callbacks rsfiqa_stbi_is_hdr_from_callbacks
#define stbi_is_hdr_from_memory rsfiqa_stbi_is_hdr_from_memory
#define stbi_ldr_to_hdr_gamma rsfiqa_stbi_ldr_to_hdr_gamma
#define stbi_ldr_to_hdr_scale rsfiqa_stbi_ldr_to_hdr_scale
#define stbi_load_16_from_callbacks rsfiqa_stbi_load_16_from_callbacks
#define stbi_load_16_from_memory rsfiqa_stbi_load_16_from_memory
#define stbi_load_from_callbacks rsfiqa_stbi_load_from_callbacks
#define stbi_load_from_memory rsfiqa_stbi_load_from_memory
#define stbi_load_gif_from_memory rsfiqa_stbi_load_gif_from_memory
#define stbi_loadf_from_callbacks rsfiqa_stbi_loadf_from_callbacks
#define stbi_loadf_from_memory rsfiqa_stbi_loadf_from_memory
#define stbi_set_flip_vertically_on_load rsfiqa_stbi_set_flip_vertically_on_load
#define stbi_set_flip_vertically_on_load_thread rsfiqa_stbi_set_flip_vertically_on_load_thread
#define stbi_set_unpremultiply_on_load rsfiqa_stbi_set_unpremultiply_on_load
#define stbi_set_unpremultiply_on_load_thread rsfiqa_stbi_set_unpremultiply_on_load_thread
#define stbi_zlib_decode_buffer rsfiqa_stbi_zlib_decode_buffer
#define stbi_zlib_decode_malloc rsfiqa_stbi_zlib_decode_malloc
#define stbi_zlib_decode_malloc_guesssize rsfiqa_stbi_zlib_decode_malloc_guesssize
#define stbi_zlib_decode_malloc_guesssize_headerflag rsfiqa_stbi_zlib_decode_malloc_guesssize_headerflag
#define stbi_zlib_decode_noheader_buffer rsfiqa_stbi_zlib_decode_noheader_buffer
#define stbi_zlib_decode_noheader_malloc rsfiqa_stbi_zlib_decode_noheader_malloc
#define stbi_write_png_to_mem rsfiqa_stbi_write_png_to_mem
#define stbi_write_png_to_func rsfiqa_stbi_write_png_to_func
#define stbi_write_bmp_to_func rsfiqa_stbi_write_bmp_to_func
#define stbi_write_tga_to_func rsfiqa_stbi_write_tga_to_func
#define stbi_write_hdr_to_func rsfiqa_stbi_write_hdr_to_func
#define stbi_write_jpg_to_func rsfiqa_stbi_write_jpg_to_func
#define stbi_flip_vertically_on_write rsfiqa_stbi_flip_vertically_on_write
#define stbi_zlib_compress rsfiqa_stbi_zlib_compress
#define stbiw_convert_wchar_to_utf8 rsfiqa_stbiw_convert_wchar_to_utf8
#define stbi_write_tga_with_rle rsfiqa_stbi_write_tga_with_rle
#define stbi_write_png_compression_level rsfiqa_stbi_write_png_compression_level
#define stbi_write_force_png_filter rsfiqa_stbi_write_force_png_filter

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wunknown-warning-option"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wcast-qual"
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wuseless-cast"
#endif

// stb is written for two's-complement integers: e.g. its JPEG writer shifts
// a negative int left (`bitBuf <<= 8`), undefined before C++20. So that
// sanitizer builds check rsfiqa's code and not stb's idioms, stb's functions
// are compiled with wrapping integer semantics (GCC: -fwrapv for this region,
// which also makes such shifts defined) or without the shift and overflow
// checks (Clang).
#if defined(__clang__)
#pragma clang attribute push(__attribute__((no_sanitize("shift", "signed-integer-overflow"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("wrapv")
#endif

namespace rsfiqa {
namespace detail {
namespace stb {
#include <stb_image.h>
#include <stb_image_write.h>
}  // namespace stb
}  // namespace detail
}  // namespace rsfiqa

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif

#undef stbi_convert_iphone_png_to_rgb
#undef stbi_convert_iphone_png_to_rgb_thread
#undef stbi_failure_reason
#undef stbi_hdr_to_ldr_gamma
#undef stbi_hdr_to_ldr_scale
#undef stbi_image_free
#undef stbi_info_from_callbacks
#undef stbi_info_from_memory
#undef stbi_is_16_bit_from_callbacks
#undef stbi_is_16_bit_from_memory
#undef stbi_is_hdr_from_callbacks
#undef stbi_is_hdr_from_memory
#undef stbi_ldr_to_hdr_gamma
#undef stbi_ldr_to_hdr_scale
#undef stbi_load_16_from_callbacks
#undef stbi_load_16_from_memory
#undef stbi_load_from_callbacks
#undef stbi_load_from_memory
#undef stbi_load_gif_from_memory
#undef stbi_loadf_from_callbacks
#undef stbi_loadf_from_memory
#undef stbi_set_flip_vertically_on_load
#undef stbi_set_flip_vertically_on_load_thread
#undef stbi_set_unpremultiply_on_load
#undef stbi_set_unpremultiply_on_load_thread
#undef stbi_zlib_decode_buffer
#undef stbi_zlib_decode_malloc
#undef stbi_zlib_decode_malloc_guesssize
#undef stbi_zlib_decode_malloc_guesssize_headerflag
#undef stbi_zlib_decode_noheader_buffer
#undef stbi_zlib_decode_noheader_malloc
#undef stbi_write_png_to_mem
#undef stbi_write_png_to_func
#undef stbi_write_bmp_to_func
#undef stbi_write_tga_to_func
#undef stbi_write_hdr_to_func
#undef stbi_write_jpg_to_func
#undef stbi_flip_vertically_on_write
#undef stbi_zlib_compress
#undef stbiw_convert_wchar_to_utf8
#undef stbi_write_tga_with_rle
#undef stbi_write_png_compression_level
#undef stbi_write_force_png_filter

// Restore the caller's stb state. The STBI_NO_* switches stb derived from
// our STBI_ONLY_* choice are restored too, so they do not leak.
#pragma pop_macro("STBI_FAILURE_USERMSG")
#pragma pop_macro("STBI_NO_FAILURE_STRINGS")
#pragma pop_macro("STBI_NO_LINEAR")
#pragma pop_macro("STBI_NO_ZLIB")
#pragma pop_macro("STBI_NO_PNM")
#pragma pop_macro("STBI_NO_PIC")
#pragma pop_macro("STBI_NO_HDR")
#pragma pop_macro("STBI_NO_GIF")
#pragma pop_macro("STBI_NO_TGA")
#pragma pop_macro("STBI_NO_PSD")
#pragma pop_macro("STBI_NO_BMP")
#pragma pop_macro("STBI_NO_PNG")
#pragma pop_macro("STBI_NO_JPEG")
#pragma pop_macro("STBI_ONLY_BMP")
#pragma pop_macro("STBI_ONLY_JPEG")
#pragma pop_macro("STBI_ONLY_PNG")
#pragma pop_macro("STBI_WRITE_NO_STDIO")
#pragma pop_macro("STBI_NO_STDIO")
#pragma pop_macro("STBIW_FREE")
#pragma pop_macro("STBIW_REALLOC")
#pragma pop_macro("STBIW_MALLOC")
#pragma pop_macro("STBIW_ASSERT")
#pragma pop_macro("STBI_FREE")
#pragma pop_macro("STBI_REALLOC")
#pragma pop_macro("STBI_MALLOC")
#pragma pop_macro("STBI_ASSERT")
#pragma pop_macro("STBIWDEF")
#pragma pop_macro("STBIDEF")
#pragma pop_macro("STB_IMAGE_WRITE_STATIC")
#pragma pop_macro("STB_IMAGE_WRITE_IMPLEMENTATION")
#pragma pop_macro("STB_IMAGE_STATIC")
#pragma pop_macro("STB_IMAGE_IMPLEMENTATION")
#pragma pop_macro("INCLUDE_STB_IMAGE_WRITE_H")
#pragma pop_macro("STBI_INCLUDE_STB_IMAGE_H")

namespace rsfiqa {
namespace detail {
// The private copy, reached through the renamed symbols.
namespace stbapi {
inline int info_from_memory(const uint8_t* p, int n, int* x, int* y, int* c) {
  return stb::rsfiqa_stbi_info_from_memory(p, n, x, y, c);
}
inline int is_16_bit_from_memory(const uint8_t* p, int n) { return stb::rsfiqa_stbi_is_16_bit_from_memory(p, n); }
inline uint8_t* load_from_memory(const uint8_t* p, int n, int* x, int* y, int* c, int req) {
  return stb::rsfiqa_stbi_load_from_memory(p, n, x, y, c, req);
}
inline const char* failure_reason() { return stb::rsfiqa_stbi_failure_reason(); }
inline void image_free(void* p) { stb::rsfiqa_stbi_image_free(p); }
using WriteFunc = stb::stbi_write_func;
inline int write_png_to_func(WriteFunc* f, void* ctx, int w, int h, int comp, const void* data, int stride) {
  return stb::rsfiqa_stbi_write_png_to_func(f, ctx, w, h, comp, data, stride);
}
inline int write_jpg_to_func(WriteFunc* f, void* ctx, int w, int h, int comp, const void* data, int quality) {
  return stb::rsfiqa_stbi_write_jpg_to_func(f, ctx, w, h, comp, data, quality);
}
}  // namespace stbapi
}  // namespace detail
}  // namespace rsfiqa

#else  // RSFIQA_STB_EXTERNAL_IMPLEMENTATION: the application compiles stb once.

// Declarations only, even in a translation unit that defined the
// IMPLEMENTATION macros for its own earlier include of stb.
#pragma push_macro("STB_IMAGE_IMPLEMENTATION")
#pragma push_macro("STB_IMAGE_WRITE_IMPLEMENTATION")
#undef STB_IMAGE_IMPLEMENTATION
#undef STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image.h>
#include <stb_image_write.h>
#pragma pop_macro("STB_IMAGE_WRITE_IMPLEMENTATION")
#pragma pop_macro("STB_IMAGE_IMPLEMENTATION")

namespace rsfiqa {
namespace detail {
namespace stbapi {
inline int info_from_memory(const uint8_t* p, int n, int* x, int* y, int* c) {
  return ::stbi_info_from_memory(p, n, x, y, c);
}
inline int is_16_bit_from_memory(const uint8_t* p, int n) { return ::stbi_is_16_bit_from_memory(p, n); }
inline uint8_t* load_from_memory(const uint8_t* p, int n, int* x, int* y, int* c, int req) {
  return ::stbi_load_from_memory(p, n, x, y, c, req);
}
inline const char* failure_reason() { return ::stbi_failure_reason(); }
inline void image_free(void* p) { ::stbi_image_free(p); }
using WriteFunc = ::stbi_write_func;
inline int write_png_to_func(WriteFunc* f, void* ctx, int w, int h, int comp, const void* data, int stride) {
  return ::stbi_write_png_to_func(f, ctx, w, h, comp, data, stride);
}
inline int write_jpg_to_func(WriteFunc* f, void* ctx, int w, int h, int comp, const void* data, int quality) {
  return ::stbi_write_jpg_to_func(f, ctx, w, h, comp, data, quality);
}
}  // namespace stbapi
}  // namespace detail
}  // namespace rsfiqa

#endif  // RSFIQA_STB_EXTERNAL_IMPLEMENTATION

namespace rsfiqa {
namespace io {

// Caps applied to untrusted images before any pixel is decoded.
struct ImageLimits {
  int64_t max_pixels = 100000000;             // width * height; 100 MP = 300 MB of RGB8
  int max_side = 32768;                       // the larger of width and height
  size_t max_file_bytes = size_t(512) << 20;  // load_image: bytes read from disk
};

// An 8-bit RGB image, rows top to bottom, pixels interleaved R,G,B:
// rgb[(y * width + x) * 3 + c], size width * height * 3.
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;

  bool empty() const { return width <= 0 || height <= 0; }
  uint8_t at(int y, int x, int c) const { return rgb[((size_t)y * (size_t)width + (size_t)x) * 3 + (size_t)c]; }
};

// The container formats recognised by their magic bytes. Only kPng, kJpeg and
// kBmp are decoded; the others are recognised so errors can name them.
enum class ImageFormat {
  kUnknown,
  kPng,
  kJpeg,
  kBmp,
  kGif,
  kTiff,
  kWebp,
  kPsd,
  kHdr,
  kPnm,
  kQoi,
  kIsoBmff,
  kJpeg2000,
  kIco
};

inline const char* image_format_name(ImageFormat f) {
  switch (f) {
    case ImageFormat::kPng: return "PNG";
    case ImageFormat::kJpeg: return "JPEG";
    case ImageFormat::kBmp: return "BMP";
    case ImageFormat::kGif: return "GIF";
    case ImageFormat::kTiff: return "TIFF";
    case ImageFormat::kWebp: return "WebP";
    case ImageFormat::kPsd: return "PSD";
    case ImageFormat::kHdr: return "Radiance HDR";
    case ImageFormat::kPnm: return "PNM";
    case ImageFormat::kQoi: return "QOI";
    case ImageFormat::kIsoBmff: return "HEIF/AVIF";
    case ImageFormat::kJpeg2000: return "JPEG 2000";
    case ImageFormat::kIco: return "ICO";
    case ImageFormat::kUnknown: break;
  }
  return "unknown";
}

namespace detail {
inline bool has_prefix(const uint8_t* d, size_t n, const char* magic, size_t m) {
  return n >= m && std::memcmp(d, magic, m) == 0;
}
// True when the n bytes are a proper prefix of a decodable format's magic,
// i.e. the data were cut before the signature was complete.
inline bool is_partial_magic(const uint8_t* d, size_t n) {
  static const char kPngMagic[] = "\x89PNG\r\n\x1a\n";
  static const char kJpegMagic[] = "\xff\xd8\xff";
  if (n < 8 && std::memcmp(d, kPngMagic, n) == 0) return true;
  if (n < 3 && std::memcmp(d, kJpegMagic, n) == 0) return true;
  return false;
}

// stb's last failure reason, made honest: stb tries every compiled-in
// decoder's probe in turn, so a decoder that fails without a reason of its
// own leaves the message of an earlier probe ("bad png sig" for a JPEG).
inline const char* stb_reason(bool is_png) {
  const char* r = ::rsfiqa::detail::stbapi::failure_reason();
  if (!r) return "corrupt or truncated data";
  if ((!is_png && std::strcmp(r, "bad png sig") == 0) || std::strcmp(r, "unknown image type") == 0)
    return "corrupt or truncated data";
  return r;
}

// A walk over a JPEG's marker segments before stb sees them, for two
// problems stb 2.27 (Debian 12) does not catch:
//  - truncation: stb pads missing entropy-coded data with zeros and reports
//    success, so a cut JPEG would decode into grey junk. A complete JPEG
//    reaches its end-of-image marker (FF D9); inside entropy-coded data a
//    0xFF byte is always followed by 0x00 or a restart marker, so the walk
//    can skip scan data without decoding it.
//  - Huffman tables (DHT) whose code counts add up to more than 256 symbols:
//    stb 2.27 writes past its 257-entry size table and 256-entry value table
//    (fixed in later upstream releases). Such tables are refused here.
//  - scans that use a Huffman table no DHT segment has defined: stb would
//    decode with uninitialised table memory and index past its value table.
//    A sequential scan needs each component's DC and AC table; a progressive
//    DC-first scan needs the DC tables, a progressive AC scan the AC tables
//    (DC refinement scans use none).
// Returns an empty string when the structure is sound, else the problem.
inline std::string jpeg_structure_problem(const uint8_t* d, size_t n) {
  char msg[160];
  size_t pos = 2;                           // after SOI
  bool defined[2][4] = {{false}, {false}};  // [DC=0/AC=1][table id]
  bool progressive = false;
  for (;;) {
    if (pos + 2 > n) {
      std::snprintf(msg, sizeof(msg), "truncated: the data end at byte %zu before the end-of-image marker", n);
      return msg;
    }
    if (d[pos] != 0xFF) {
      std::snprintf(msg, sizeof(msg), "corrupt: expected a marker at byte %zu, found 0x%02x", pos, (unsigned)d[pos]);
      return msg;
    }
    const uint8_t m = d[pos + 1];
    if (m == 0xFF) {  // fill byte before a marker
      ++pos;
      continue;
    }
    if (m == 0xD9) return std::string();          // end of image
    if ((m >= 0xD0 && m <= 0xD7) || m == 0x01) {  // markers without a length
      pos += 2;
      continue;
    }
    if (pos + 4 > n) {
      std::snprintf(msg, sizeof(msg), "truncated: marker 0xff%02x at byte %zu has no length", (unsigned)m, pos);
      return msg;
    }
    const size_t len = ((size_t)d[pos + 2] << 8) | d[pos + 3];
    if (len < 2 || pos + 2 + len > n) {
      std::snprintf(msg, sizeof(msg), "truncated: segment 0xff%02x at byte %zu declares %zu bytes, %zu remain",
                    (unsigned)m, pos, len, n - pos - 2);
      return msg;
    }
    if (m == 0xC4) {  // DHT: one or more tables of 1 + 16 + sum(counts) bytes
      size_t q = pos + 4;
      const size_t end = pos + 2 + len;
      while (q < end) {
        if (q + 17 > end) {
          std::snprintf(msg, sizeof(msg), "corrupt: Huffman table at byte %zu is cut short", q);
          return msg;
        }
        size_t symbols = 0;
        for (int i = 1; i <= 16; ++i) symbols += d[q + (size_t)i];
        if (symbols > 256) {
          std::snprintf(msg, sizeof(msg), "corrupt: Huffman table at byte %zu declares %zu symbols (at most 256)", q,
                        symbols);
          return msg;
        }
        const int tc = d[q] >> 4, th = d[q] & 15;
        if (tc <= 1 && th <= 3) defined[tc][th] = true;  // other values: stb reports "bad DHT header"
        q += 17 + symbols;
      }
    }
    if (m == 0xC2 || m == 0xC6 || m == 0xCA || m == 0xCE) progressive = true;  // progressive SOFn
    if (m == 0xDA && len >= 3) {  // SOS: Ns, Ns x (component id, Td<<4 | Ta), Ss, Se, Ah<<4 | Al
      const size_t ns = d[pos + 4];
      if (len == 6 + 2 * ns) {  // otherwise stb reports "bad SOS len"
        const size_t tail = pos + 5 + 2 * ns;
        const int ss = d[tail], ah = d[tail + 2] >> 4;
        const bool need_dc = !progressive || (ss == 0 && ah == 0);
        const bool need_ac = !progressive || ss > 0;
        for (size_t i = 0; i < ns; ++i) {
          const int td = d[pos + 6 + 2 * i] >> 4, ta = d[pos + 6 + 2 * i] & 15;
          const char* missing = nullptr;
          int id = 0;
          if (need_dc && td <= 3 && !defined[0][td]) {
            missing = "DC";
            id = td;
          } else if (need_ac && ta <= 3 && !defined[1][ta]) {
            missing = "AC";
            id = ta;
          }
          if (missing) {
            std::snprintf(msg, sizeof(msg),
                          "corrupt: the scan at byte %zu uses %s Huffman table %d, which no DHT defines", pos, missing,
                          id);
            return msg;
          }
        }
      }
    }
    pos += 2 + len;
    if (m == 0xDA) {  // start of scan: skip entropy-coded bytes up to the next marker
      // Read the way stb's entropy decoder reads: 0xFF, any number of 0xFF
      // fill bytes, then 0x00 is one stuffed data byte, and then a restart
      // marker continues the scan; 0xFF, fill, then anything else is the
      // next marker (pos is left on the 0xFF just before it). Stopping at
      // the first fill byte instead would let "FF FF 00 00 xx" pass as a
      // segment of length xx and hide a marker that stb does see (fuzzer
      // finding: a DHT with 0xFF code counts hidden that way).
      bool marker = false;
      while (pos < n && !marker) {
        if (d[pos] != 0xFF) {
          ++pos;
          continue;
        }
        size_t q = pos + 1;
        while (q < n && d[q] == 0xFF) ++q;
        if (q >= n) break;
        if (d[q] == 0x00 || (d[q] >= 0xD0 && d[q] <= 0xD7)) {
          pos = q + 1;
        } else {
          pos = q - 1;
          marker = true;
        }
      }
      if (!marker) {
        std::snprintf(msg, sizeof(msg), "truncated: the scan data end at byte %zu without an end-of-image marker", n);
        return msg;
      }
    }
  }
}

// A walk over a PNG's chunks before stb sees them: every chunk must fit in
// the data and the walk must reach IEND. stb 2.27 grows its IDAT buffer to
// the declared chunk length before checking that the bytes exist (a 200-byte
// file can ask for gigabytes) and reports cut files vaguely.
inline std::string png_structure_problem(const uint8_t* d, size_t n) {
  char msg[160];
  size_t pos = 8;  // after the signature
  bool first = true;
  for (;;) {
    if (pos + 12 > n) {
      std::snprintf(msg, sizeof(msg), "truncated: the data end at byte %zu before the IEND chunk", n);
      return msg;
    }
    const uint32_t len =
        ((uint32_t)d[pos] << 24) | ((uint32_t)d[pos + 1] << 16) | ((uint32_t)d[pos + 2] << 8) | d[pos + 3];
    char type[5] = {0, 0, 0, 0, 0};
    for (int i = 0; i < 4; ++i) {
      const uint8_t c = d[pos + 4 + (size_t)i];
      type[i] = (char)((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ? c : '?');
    }
    if (first && std::memcmp(type, "IHDR", 4) != 0) {
      std::snprintf(msg, sizeof(msg), "corrupt: the first chunk is '%s', not IHDR", type);
      return msg;
    }
    first = false;
    if ((uint64_t)len + 12 > (uint64_t)(n - pos)) {
      std::snprintf(msg, sizeof(msg), "truncated: chunk '%s' at byte %zu declares %u bytes, %zu remain", type, pos, len,
                    n - pos - 12);
      return msg;
    }
    if (std::memcmp(type, "IEND", 4) == 0) return std::string();
    pos += 12 + (size_t)len;
  }
}

// stb's BMP decoder also reads zeros past the end of the data. For the
// uncompressed layouts (BI_RGB, BI_BITFIELDS) the pixel array must fit:
// offset + row stride * |height| <= size. Returns the bytes needed, or 0.
inline uint64_t bmp_needed_bytes(const uint8_t* d, size_t n) {
  if (n < 30) return 0;
  auto u32 = [&](size_t o) {
    return (uint32_t)d[o] | ((uint32_t)d[o + 1] << 8) | ((uint32_t)d[o + 2] << 16) | ((uint32_t)d[o + 3] << 24);
  };
  const uint32_t offset = u32(10), hsize = u32(14);
  int64_t w = 0, h = 0, bpp = 0, compression = 0;
  if (hsize == 12) {  // OS/2 core header: 16-bit sizes, never compressed
    w = (int64_t)(d[18] | (d[19] << 8));
    h = (int64_t)(d[20] | (d[21] << 8));
    bpp = d[24] | (d[25] << 8);
  } else {
    if (n < 34) return 0;
    w = (int32_t)u32(18);
    h = (int32_t)u32(22);
    bpp = d[28] | (d[29] << 8);
    compression = (int32_t)u32(30);
  }
  if (compression != 0 && compression != 3) return 0;
  if (w <= 0 || bpp <= 0) return 0;
  if (h < 0) h = -h;
  const uint64_t stride = (((uint64_t)w * (uint64_t)bpp + 31) / 32) * 4;
  return (uint64_t)offset + stride * (uint64_t)h;
}

// The width and height a PNG, JPEG or BMP header declares, read by rsfiqa
// itself so the pixel cap is applied even to headers stb would refuse or
// mis-read. Returns false when the header is too short or has no size
// (then stb's own header parse decides). Never reads past `n`.
inline bool declared_size(int format_png_jpeg_bmp, const uint8_t* d, size_t n, int64_t* w, int64_t* h) {
  auto be16 = [&](size_t o) { return ((uint32_t)d[o] << 8) | d[o + 1]; };
  auto be32 = [&](size_t o) { return (be16(o) << 16) | be16(o + 2); };
  auto le32 = [&](size_t o) {
    return (uint32_t)d[o] | ((uint32_t)d[o + 1] << 8) | ((uint32_t)d[o + 2] << 16) | ((uint32_t)d[o + 3] << 24);
  };
  if (format_png_jpeg_bmp == 0) {  // PNG: IHDR is the first chunk, at byte 8
    if (n < 24 || std::memcmp(d + 12, "IHDR", 4) != 0) return false;
    *w = be32(16);
    *h = be32(20);
    return true;
  }
  if (format_png_jpeg_bmp == 1) {  // JPEG: walk the segments to the first SOFn
    size_t pos = 2;
    while (pos + 4 <= n) {
      if (d[pos] != 0xFF) return false;
      const uint8_t m = d[pos + 1];
      if (m == 0xFF) {
        ++pos;
        continue;
      }
      if ((m >= 0xD0 && m <= 0xD7) || m == 0x01) {
        pos += 2;
        continue;
      }
      if (m == 0xDA || m == 0xD9) return false;  // scan before any frame header
      const bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
      if (sof) {
        if (pos + 9 > n) return false;
        *h = be16(pos + 5);
        *w = be16(pos + 7);
        return *h > 0 && *w > 0;
      }
      pos += 2 + be16(pos + 2);
    }
    return false;
  }
  // BMP: BITMAPCOREHEADER (12 bytes, 16-bit sizes) or a later header (32-bit
  // signed sizes; negative height = top-down rows).
  if (n < 26) return false;
  if (le32(14) == 12) {
    *w = d[18] | (d[19] << 8);
    *h = d[20] | (d[21] << 8);
    return true;
  }
  *w = (int32_t)le32(18);
  *h = (int32_t)le32(22);
  if (*h < 0) *h = -*h;
  return true;
}
}  // namespace detail

// Identifies a container by its first bytes. Never reads past `size`.
inline ImageFormat sniff_image_format(const uint8_t* d, size_t n) {
  using detail::has_prefix;
  if (!d || n == 0) return ImageFormat::kUnknown;
  if (has_prefix(d, n, "\x89PNG\r\n\x1a\n", 8)) return ImageFormat::kPng;
  if (has_prefix(d, n, "\xff\xd8\xff", 3)) return ImageFormat::kJpeg;
  if (has_prefix(d, n, "BM", 2)) return ImageFormat::kBmp;
  if (has_prefix(d, n, "GIF87a", 6) || has_prefix(d, n, "GIF89a", 6)) return ImageFormat::kGif;
  if (has_prefix(d, n, "II*\0", 4) || has_prefix(d, n, "MM\0*", 4)) return ImageFormat::kTiff;
  if (n >= 12 && has_prefix(d, n, "RIFF", 4) && std::memcmp(d + 8, "WEBP", 4) == 0) return ImageFormat::kWebp;
  if (has_prefix(d, n, "8BPS", 4)) return ImageFormat::kPsd;
  if (has_prefix(d, n, "#?RADIANCE", 10) || has_prefix(d, n, "#?RGBE", 6)) return ImageFormat::kHdr;
  if (n >= 2 && d[0] == 'P' && d[1] >= '1' && d[1] <= '7') return ImageFormat::kPnm;
  if (has_prefix(d, n, "qoif", 4)) return ImageFormat::kQoi;
  if (n >= 12 && std::memcmp(d + 4, "ftyp", 4) == 0) return ImageFormat::kIsoBmff;
  if (has_prefix(d, n, "\0\0\0\x0cjP  ", 8) || has_prefix(d, n, "\xff\x4f\xff\x51", 4)) return ImageFormat::kJpeg2000;
  if (has_prefix(d, n, "\0\0\1\0", 4)) return ImageFormat::kIco;
  return ImageFormat::kUnknown;
}

// Reads only the header: width and height of a PNG/JPEG/BMP, after the same
// format and sanity checks decode_image applies (but no pixel cap).
struct ImageInfo {
  ImageFormat format = ImageFormat::kUnknown;
  int width = 0;
  int height = 0;
  int channels = 0;  // channels stored in the file (1..4)
  bool is_16_bit = false;
};

namespace detail {
// The checks before any stb call: empty input, the data size stb accepts,
// and the format by magic bytes (only PNG, JPEG, BMP pass).
inline Status check_format(const uint8_t* data, size_t size, ImageFormat* format) {
  if (data == nullptr || size == 0) return make_error(ErrorCode::kEmptyInput, "empty image data (0 bytes)");
  if (size > (size_t)INT_MAX)
    return make_error(ErrorCode::kLimitExceeded, "image data of %zu bytes is over the decoder's limit of %d bytes",
                      size, INT_MAX);
  *format = sniff_image_format(data, size);
  if (*format == ImageFormat::kUnknown) {
    if (is_partial_magic(data, size))
      return make_error(ErrorCode::kMalformed, "image data end after %zu bytes, inside the file signature", size);
    char hex[3 * 8 + 1] = {0};
    const size_t show = size < 8 ? size : 8;
    for (size_t i = 0; i < show; ++i) std::snprintf(hex + 3 * i, 4, "%02x ", (unsigned)data[i]);
    if (show) hex[3 * show - 1] = '\0';
    return make_error(ErrorCode::kUnsupportedFormat,
                      "unrecognised image format (first bytes: %s); only PNG, JPEG and BMP are decoded", hex);
  }
  if (*format != ImageFormat::kPng && *format != ImageFormat::kJpeg && *format != ImageFormat::kBmp)
    return make_error(ErrorCode::kUnsupportedFormat, "%s images are not supported; only PNG, JPEG and BMP are decoded",
                      image_format_name(*format));
  return Status();
}

inline Status check_limits(ImageFormat format, int64_t w, int64_t h, const ImageLimits& limits) {
  const char* fmt = image_format_name(format);
  if (w > limits.max_side || h > limits.max_side)
    return make_error(ErrorCode::kLimitExceeded, "%s image is %lldx%lld, over the side limit of %d pixels", fmt,
                      (long long)w, (long long)h, limits.max_side);
  const int64_t pixels = w * h;  // both <= max_side < 2^31 here: no overflow
  if (pixels > limits.max_pixels)
    return make_error(ErrorCode::kLimitExceeded, "%s image is %lldx%lld (%lld pixels), over the limit of %lld pixels",
                      fmt, (long long)w, (long long)h, (long long)pixels, (long long)limits.max_pixels);
  return Status();
}
}  // namespace detail

// Reads only the header (format checks as decode_image, no pixel cap) and
// reports what stb's header parser sees.
inline Result<ImageInfo> image_info(const uint8_t* data, size_t size) {
  ImageInfo info;
  RSFIQA_RETURN_IF_ERROR(detail::check_format(data, size, &info.format));
  // Structure checks that must precede every stb call (stb's header parse
  // already reads the JPEG Huffman tables).
  if (info.format == ImageFormat::kJpeg) {
    const std::string problem = detail::jpeg_structure_problem(data, size);
    if (!problem.empty())
      return make_error(ErrorCode::kMalformed, "JPEG data (%zu bytes) are %s", size, problem.c_str());
  }
  if (info.format == ImageFormat::kPng) {
    const std::string problem = detail::png_structure_problem(data, size);
    if (!problem.empty())
      return make_error(ErrorCode::kMalformed, "PNG data (%zu bytes) are %s", size, problem.c_str());
  }
  if (info.format == ImageFormat::kBmp) {
    const uint64_t need = detail::bmp_needed_bytes(data, size);
    if (need > size)
      return make_error(ErrorCode::kMalformed, "BMP data are truncated: the pixels need %llu bytes, got %zu",
                        (unsigned long long)need, size);
  }
  int w = 0, h = 0, c = 0;
  if (!::rsfiqa::detail::stbapi::info_from_memory(data, (int)size, &w, &h, &c))
    return make_error(ErrorCode::kMalformed, "cannot read the %s header (%zu bytes): %s",
                      image_format_name(info.format), size, detail::stb_reason(info.format == ImageFormat::kPng));
  // stb reports top-down BMPs with a negative height; -2^31 has no positive
  // int (a fuzzer finding: negating it was undefined behaviour).
  if (h == INT_MIN)
    return make_error(ErrorCode::kMalformed, "%s header declares a height of %d", image_format_name(info.format), h);
  if (h < 0) h = -h;
  if (w <= 0 || h <= 0)
    return make_error(ErrorCode::kEmptyInput, "%s image has zero size (%dx%d)", image_format_name(info.format), w, h);
  info.width = w;
  info.height = h;
  info.channels = c;
  info.is_16_bit = ::rsfiqa::detail::stbapi::is_16_bit_from_memory(data, (int)size) != 0;
  return info;
}

// Decodes a PNG, JPEG or BMP held in memory into RGB8.
// Errors: kEmptyInput (no bytes), kUnsupportedFormat (GIF, TIFF, unknown
// bytes, ... named), kLimitExceeded (dimensions over `limits`, checked from
// the header before decoding), kMalformed (corrupt or truncated data, with
// stb's reason), kOutOfMemory.
inline Result<Image> decode_image(const uint8_t* data, size_t size, const ImageLimits& limits = ImageLimits()) {
  ImageFormat format = ImageFormat::kUnknown;
  RSFIQA_RETURN_IF_ERROR(detail::check_format(data, size, &format));
  // The cap, first from our own reading of the header (stb refuses some
  // huge headers with a vaguer message), then from stb's.
  int64_t dw = 0, dh = 0;
  const int kind = format == ImageFormat::kPng ? 0 : (format == ImageFormat::kJpeg ? 1 : 2);
  if (detail::declared_size(kind, data, size, &dw, &dh))
    RSFIQA_RETURN_IF_ERROR(detail::check_limits(format, dw, dh, limits));
  RSFIQA_ASSIGN_OR_RETURN(ImageInfo info, image_info(data, size));
  RSFIQA_RETURN_IF_ERROR(detail::check_limits(format, info.width, info.height, limits));
  const char* fmt = image_format_name(info.format);
  const int64_t pixels = (int64_t)info.width * (int64_t)info.height;
  // stb's largest legitimate buffers hold the image at up to 4 channels of
  // 16 bits (8 bytes a pixel) plus per-row bytes; 16 MiB of slack covers
  // tables and the zlib window of small images.
  const size_t cap = (size_t)pixels * 8 + (size_t)info.height * 16 + ((size_t)16 << 20);
  ::rsfiqa::detail::StbAllocBudget& budget = ::rsfiqa::detail::stb_alloc_budget();
  budget.cap = cap;
  budget.refused = false;
  int w = 0, h = 0, c = 0;
  uint8_t* px = ::rsfiqa::detail::stbapi::load_from_memory(data, (int)size, &w, &h, &c, 3);
  const bool refused = budget.refused;
  budget.cap = (size_t)-1;
  budget.refused = false;
  if (!px && refused)
    return make_error(ErrorCode::kLimitExceeded,
                      "decoding the %s image (%dx%d, %zu bytes) needs more than %zu bytes of memory; the data expand "
                      "beyond what the image size allows",
                      fmt, info.width, info.height, size, cap);
  if (!px)
    return make_error(ErrorCode::kMalformed, "cannot decode %s image (%dx%d, %zu bytes): %s", fmt, info.width,
                      info.height, size, detail::stb_reason(info.format == ImageFormat::kPng));
  if (w != info.width || h != info.height) {
    ::rsfiqa::detail::stbapi::image_free(px);
    return make_error(ErrorCode::kInternal, "%s image decoded as %dx%d but its header says %dx%d", fmt, w, h,
                      info.width, info.height);
  }
  Image img;
  img.width = w;
  img.height = h;
  img.rgb.assign(px, px + (size_t)pixels * 3);
  ::rsfiqa::detail::stbapi::image_free(px);
  return img;
}

inline Result<Image> decode_image(const std::vector<uint8_t>& bytes, const ImageLimits& limits = ImageLimits()) {
  return decode_image(bytes.data(), bytes.size(), limits);
}

// Reads a file and decodes it. Errors as decode_image, plus kNotFound /
// kIoError naming the path, and kLimitExceeded for files over
// limits.max_file_bytes. Every error message starts with the path.
inline Result<Image> load_image(const std::string& path, const ImageLimits& limits = ImageLimits()) {
  Result<std::vector<uint8_t>> bytes = read_file_bytes(path, limits.max_file_bytes);
  if (!bytes.ok()) return bytes.status();
  Result<Image> img = decode_image(bytes->data(), bytes->size(), limits);
  if (!img.ok()) {
    Status s = img.status();
    return s.with_context("'" + path + "'");
  }
  return img;
}

namespace detail {
// stb_image_write's output callback: appends to a std::vector.
inline void append_to_vector(void* ctx, void* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(ctx);
  const uint8_t* p = static_cast<const uint8_t*>(data);
  out->insert(out->end(), p, p + size);
}

inline Status check_encodable(const Image& img, const char* what) {
  if (img.width <= 0 || img.height <= 0)
    return make_error(ErrorCode::kEmptyInput, "cannot encode an empty image (%dx%d) as %s", img.width, img.height,
                      what);
  if ((int64_t)img.width * img.height > (int64_t)INT_MAX / 3)
    return make_error(ErrorCode::kLimitExceeded, "image %dx%d is too large to encode as %s", img.width, img.height,
                      what);
  if (img.rgb.size() != (size_t)img.width * (size_t)img.height * 3)
    return make_error(ErrorCode::kShapeMismatch, "image %dx%d holds %zu bytes, expected %zu", img.width, img.height,
                      img.rgb.size(), (size_t)img.width * (size_t)img.height * 3);
  return Status();
}

inline bool ends_with_nocase(const std::string& s, const char* suffix) {
  const size_t m = std::strlen(suffix);
  if (s.size() < m) return false;
  for (size_t i = 0; i < m; ++i) {
    char a = s[s.size() - m + i];
    if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
    if (a != suffix[i]) return false;
  }
  return true;
}
}  // namespace detail

// Encodes RGB8 as PNG (lossless, stb's zlib at its default level 8).
inline Result<std::vector<uint8_t>> encode_png(const Image& img) {
  RSFIQA_RETURN_IF_ERROR(detail::check_encodable(img, "PNG"));
  std::vector<uint8_t> out;
  if (!::rsfiqa::detail::stbapi::write_png_to_func(&detail::append_to_vector, &out, img.width, img.height, 3,
                                                   img.rgb.data(), img.width * 3))
    return make_error(ErrorCode::kOutOfMemory, "PNG encoding of a %dx%d image failed", img.width, img.height);
  return out;
}

// Encodes RGB8 as baseline JPEG; quality in [1, 100] (stb_image_write
// subsamples chroma 4:2:0 at quality <= 90, keeps 4:4:4 above).
inline Result<std::vector<uint8_t>> encode_jpeg(const Image& img, int quality = 90) {
  RSFIQA_RETURN_IF_ERROR(detail::check_encodable(img, "JPEG"));
  if (quality < 1 || quality > 100)
    return make_error(ErrorCode::kInvalidArgument, "JPEG quality %d is outside [1, 100]", quality);
  if (img.width > 65535 || img.height > 65535)
    return make_error(ErrorCode::kLimitExceeded, "JPEG cannot hold a %dx%d image (max side 65535)", img.width,
                      img.height);
  std::vector<uint8_t> out;
  if (!::rsfiqa::detail::stbapi::write_jpg_to_func(&detail::append_to_vector, &out, img.width, img.height, 3,
                                                   img.rgb.data(), quality))
    return make_error(ErrorCode::kOutOfMemory, "JPEG encoding of a %dx%d image failed", img.width, img.height);
  return out;
}

namespace detail {
// write_file_atomic reports a missing folder as kNotFound; for a write that
// is an I/O failure of the target path, so it becomes kIoError.
inline Status write_image_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  Status s = write_file_atomic(path, bytes.data(), bytes.size());
  if (s.ok()) return s;
  if (s.code() == ErrorCode::kNotFound) s = Status(ErrorCode::kIoError, s.message());
  return s.with_context("cannot write image '" + path + "'");
}
}  // namespace detail

// Encodes and writes atomically (temporary file + rename, io/file.hpp).
// Errors: those of the encoder, kIoError naming the path.
inline Status save_png(const std::string& path, const Image& img) {
  RSFIQA_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, encode_png(img));
  return detail::write_image_file(path, bytes);
}

inline Status save_jpeg(const std::string& path, const Image& img, int quality = 90) {
  RSFIQA_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, encode_jpeg(img, quality));
  return detail::write_image_file(path, bytes);
}

// Picks the encoder from the extension: .png, .jpg / .jpeg (any case).
inline Status save_image(const std::string& path, const Image& img, int jpeg_quality = 90) {
  if (detail::ends_with_nocase(path, ".png")) return save_png(path, img);
  if (detail::ends_with_nocase(path, ".jpg") || detail::ends_with_nocase(path, ".jpeg"))
    return save_jpeg(path, img, jpeg_quality);
  return make_error(ErrorCode::kUnsupportedFormat, "cannot tell the image format of '%s': use .png, .jpg or .jpeg",
                    path.c_str());
}

}  // namespace io
}  // namespace rsfiqa
