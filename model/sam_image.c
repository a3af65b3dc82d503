/*
 * sam_image.c - the predictor's image preprocessing, in plain C.
 *
 * SAM: ResizeLongestSide.apply_image (torchvision resize of a PIL image,
 * i.e. PIL's bilinear resampling), then Sam.preprocess: (x - mean) / std
 * per channel in float32 and zero padding at the bottom and right.
 * The PIL resampler is reproduced bit-exactly (Pillow's Resample.c, as
 * described in ../shared/golden/sam_tiny/README.md): separable, horizontal
 * pass first with its result rounded to uint8, triangle filter whose
 * support grows with the downscale factor, weights normalised to sum 1 and
 * turned into 22-bit fixed point, accumulation from 2^21, >> 22, clip.
 *
 * SAM 2's video loader (sam2/utils/misc.py::_load_img_as_tensor) resizes
 * every frame with PIL's Image.resize((S, S)), whose default filter
 * (Pillow >= 7) is BICUBIC: the same separable fixed-point scheme with the
 * cubic convolution kernel a = -0.5, support 2 source pixels growing with
 * the downscale factor (sam2_resize_bicubic_u8).
 *
 * MedSAM: a square image_size x image_size resize (aspect not kept), then
 * min-max scaling to [0, 1] (float64, then float32, as numpy); no mean/std,
 * no padding. MedSAM's own script resizes with skimage (order-3 spline,
 * Gaussian anti-aliasing, uint8 truncation); we use the same PIL-bilinear
 * resampler as for SAM instead: a documented deviation of a gray level or
 * two at edges, not bit parity.
 */
#include "sam_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2)

void sam_preprocess_shape(
    int ny,
    int nx,
    int long_side,
    int* out_ny,
    int* out_nx) {
  double scale = long_side * 1.0 / (ny > nx ? ny : nx);
  *out_ny = (int)(ny * scale + 0.5);
  *out_nx = (int)(nx * scale + 0.5);
}

void sam__input_shape(
    const sam_config* c,
    int ny,
    int nx,
    int* in_ny,
    int* in_nx) {
  if (c->preprocess == SAM_PREPROCESS_MEDSAM) {
    *in_ny = *in_nx = c->image_size;
    return;
  }
  sam_preprocess_shape(ny, nx, c->image_size, in_ny, in_nx);
  if (*in_ny < 1)
    *in_ny = 1;
  if (*in_nx < 1)
    *in_nx = 1;
}

static double triangle(double x) {
  if (x < 0.0)
    x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

/* Pillow's cubic convolution kernel, a = -0.5. */
static double bicubic(double x) {
  const double a = -0.5;
  if (x < 0.0)
    x = -x;
  if (x < 1.0)
    return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0)
    return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

/* A Pillow filter: the kernel and its support in source pixels. */
typedef struct pil_filter {
  double (*kernel)(double);
  double support;
} pil_filter;

static const pil_filter pil_bilinear = {triangle, 1.0};
static const pil_filter pil_bicubic = {bicubic, 2.0};

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc: per output sample,
 * the first source index, the tap count and ksize fixed-point weights. */
static int coeffs(
    const pil_filter* f,
    int in_size,
    int out_size,
    int** bounds_out,
    int32_t** kk_out,
    int* ksize_out) {
  double scale = (double)in_size / out_size, filterscale = scale;
  if (filterscale < 1.0)
    filterscale = 1.0;
  double support = f->support * filterscale;
  int ksize = (int)ceil(support) * 2 + 1;
  int* bounds = malloc((size_t)out_size * 2 * sizeof *bounds);
  int32_t* kk = malloc((size_t)out_size * (size_t)ksize * sizeof *kk);
  double* k = malloc((size_t)ksize * sizeof *k);
  if (!bounds || !kk || !k) {
    free(bounds), free(kk), free(k);
    return SF_ENOMEM;
  }
  for (int xx = 0; xx < out_size; xx++) {
    double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
    int xmin = (int)(center - support + 0.5);
    if (xmin < 0)
      xmin = 0;
    int xmax = (int)(center + support + 0.5);
    if (xmax > in_size)
      xmax = in_size;
    xmax -= xmin;
    int x;
    for (x = 0; x < xmax; x++) {
      double w = f->kernel((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (x = 0; x < xmax; x++)
      if (ww != 0.0)
        k[x] /= ww;
    for (; x < ksize; x++)
      k[x] = 0;
    for (x = 0; x < ksize; x++)
      kk[(size_t)xx * ksize + x] = k[x] < 0
          ? (int32_t)(-0.5 + k[x] * (1 << PRECISION_BITS))
          : (int32_t)(0.5 + k[x] * (1 << PRECISION_BITS));
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  free(k);
  *bounds_out = bounds;
  *kk_out = kk;
  *ksize_out = ksize;
  return SF_OK;
}

static inline uint8_t clip8(int32_t v) {
  v >>= PRECISION_BITS; /* arithmetic shift, as Pillow's lookup index */
  return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

/* Pillow's separable resize of interleaved uint8 pixels with filter f. */
static int resize_u8(
    const pil_filter* f,
    const uint8_t* src,
    int nx,
    int ny,
    int nc,
    uint8_t* dst,
    int ox,
    int oy,
    sf_err* err) {
  if (!src || !dst || nx < 1 || ny < 1 || ox < 1 || oy < 1 || nc < 1 ||
      nc > 4 || nx > SF_PNG_MAX_SIDE || ny > SF_PNG_MAX_SIDE ||
      ox > SF_PNG_MAX_SIDE || oy > SF_PNG_MAX_SIDE)
    return sf_err_set(
        err,
        SF_EINVAL,
        "resize: bad size %dx%dx%d -> "
        "%dx%d",
        nx,
        ny,
        nc,
        ox,
        oy);
  int rc = SF_OK, kx = 0, ky = 0;
  int *bx = NULL, *by = NULL;
  int32_t *wx = NULL, *wy = NULL;
  uint8_t* tmp = NULL;
  if ((rc = coeffs(f, nx, ox, &bx, &wx, &kx)) ||
      (rc = coeffs(f, ny, oy, &by, &wy, &ky)))
    goto out;
  /* Horizontal pass (skipped when the width is unchanged, as Pillow). */
  const uint8_t* h = src;
  if (ox != nx) {
    if (!(tmp = malloc((size_t)ox * (size_t)ny * (size_t)nc))) {
      rc = SF_ENOMEM;
      goto out;
    }
    for (int y = 0; y < ny; y++) {
      const uint8_t* row = src + (size_t)y * nx * nc;
      uint8_t* o = tmp + (size_t)y * ox * nc;
      for (int xx = 0; xx < ox; xx++) {
        const int32_t* k = wx + (size_t)xx * kx;
        int xmin = bx[2 * xx], n = bx[2 * xx + 1];
        for (int c = 0; c < nc; c++) {
          int32_t ss = 1 << (PRECISION_BITS - 1);
          for (int x = 0; x < n; x++)
            ss += row[(size_t)(x + xmin) * nc + c] * k[x];
          o[(size_t)xx * nc + c] = clip8(ss);
        }
      }
    }
    h = tmp;
  }
  /* Vertical pass. */
  if (oy != ny) {
    for (int yy = 0; yy < oy; yy++) {
      const int32_t* k = wy + (size_t)yy * ky;
      int ymin = by[2 * yy], n = by[2 * yy + 1];
      uint8_t* o = dst + (size_t)yy * ox * nc;
      for (int xx = 0; xx < ox * nc; xx++) {
        int32_t ss = 1 << (PRECISION_BITS - 1);
        for (int y = 0; y < n; y++)
          ss += h[(size_t)(y + ymin) * ox * nc + xx] * k[y];
        o[xx] = clip8(ss);
      }
    }
  } else {
    memcpy(dst, h, (size_t)ox * oy * nc);
  }
out:
  if (rc == SF_ENOMEM)
    sf_err_set(err, rc, "resize: out of memory");
  free(bx), free(by), free(wx), free(wy), free(tmp);
  return rc;
}

int sam_resize_bilinear_u8(
    const uint8_t* src,
    int nx,
    int ny,
    int nc,
    uint8_t* dst,
    int ox,
    int oy,
    sf_err* err) {
  return resize_u8(&pil_bilinear, src, nx, ny, nc, dst, ox, oy, err);
}

int sam2_resize_bicubic_u8(
    const uint8_t* src,
    int nx,
    int ny,
    int nc,
    uint8_t* dst,
    int ox,
    int oy,
    sf_err* err) {
  return resize_u8(&pil_bicubic, src, nx, ny, nc, dst, ox, oy, err);
}

int sam_preprocess_image(
    const sam_config* c,
    const uint8_t* px,
    int nx,
    int ny,
    int channels,
    float** out,
    int* in_ny,
    int* in_nx,
    uint8_t** resized,
    sf_err* err) {
  if (!c || !px || !out || !in_ny || !in_nx)
    return sf_err_set(err, SF_EINVAL, "preprocess: NULL argument");
  if (nx < 1 || ny < 1 || nx > SF_PNG_MAX_SIDE || ny > SF_PNG_MAX_SIDE)
    return sf_err_set(
        err,
        SF_EINVAL,
        "image size %dx%d out of range "
        "1..%d",
        nx,
        ny,
        SF_PNG_MAX_SIDE);
  if (channels != 1 && channels != 3)
    return sf_err_set(
        err,
        SF_EINVAL,
        "image has %d channels (1 or 3 "
        "expected)",
        channels);
  int rc = SF_OK, S = c->image_size, oy, ox;
  uint8_t *rgb = NULL, *rs = NULL;
  float* t = NULL;
  const uint8_t* src = px;
  if (channels == 1) { /* gray -> RGB, as the reference's 3-channel input */
    if (!(rgb = malloc((size_t)nx * ny * 3)))
      goto oom;
    for (size_t i = 0; i < (size_t)nx * ny; i++)
      rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = px[i];
    src = rgb;
  }
  sam__input_shape(c, ny, nx, &oy, &ox);
  if (!(rs = malloc((size_t)ox * oy * 3)))
    goto oom;
  if ((rc = sam_resize_bilinear_u8(src, nx, ny, 3, rs, ox, oy, err)))
    goto out;
  if (!(t = calloc((size_t)3 * S * S, sizeof *t)))
    goto oom;
  if (c->preprocess == SAM_PREPROCESS_MEDSAM) {
    /* (img - min) / clip(max - min, 1e-8), computed in float64 as
     * numpy does, then cast to float32. */
    uint8_t lo = 255, hi = 0;
    for (size_t i = 0; i < (size_t)ox * oy * 3; i++) {
      if (rs[i] < lo)
        lo = rs[i];
      if (rs[i] > hi)
        hi = rs[i];
    }
    double range = hi > lo ? (double)(hi - lo) : 1e-8;
    for (int ch = 0; ch < 3; ch++)
      for (size_t i = 0; i < (size_t)S * S; i++)
        t[(size_t)ch * S * S + i] =
            (float)((double)(rs[i * 3 + ch] - lo) / range);
  } else {
    for (int ch = 0; ch < 3; ch++) {
      float m = c->pixel_mean[ch], sd = c->pixel_std[ch];
      for (int y = 0; y < oy; y++)
        for (int x = 0; x < ox; x++)
          t[((size_t)ch * S + y) * S + x] =
              ((float)rs[((size_t)y * ox + x) * 3 + ch] - m) / sd;
    }
  }
  *out = t;
  t = NULL;
  *in_ny = oy;
  *in_nx = ox;
  if (resized) {
    *resized = rs;
    rs = NULL;
  }
  goto out;
oom:
  rc = sf_err_set(err, SF_ENOMEM, "preprocess: out of memory");
out:
  free(rgb);
  free(rs);
  free(t);
  return rc;
}
