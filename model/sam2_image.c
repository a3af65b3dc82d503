/*
 * sam2_image.c - the frame resize of SAM 2's video loader, in plain C.
 *
 * sam2/utils/misc.py::_load_img_as_tensor resizes every frame with
 * PIL's Image.resize((S, S)), whose default filter (Pillow >= 7) is
 * BICUBIC: Pillow's separable fixed-point resampler (Resample.c), the same
 * scheme sam_image.c reproduces for BILINEAR (horizontal pass first,
 * rounded and clipped to uint8; weights normalised to sum 1, 22-bit fixed
 * point, accumulation from 2^21, >> 22, clip), with the cubic convolution
 * kernel a = -0.5 whose support, 2 source pixels, grows with the
 * downscale factor.
 */
#include "sam2.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2)

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

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc. */
static int coeffs(
    int in_size,
    int out_size,
    int** bounds_out,
    int32_t** kk_out,
    int* ksize_out) {
  double scale = (double)in_size / out_size, filterscale = scale;
  if (filterscale < 1.0)
    filterscale = 1.0;
  double support = 2.0 * filterscale;
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
      double w = bicubic((x + xmin - center + 0.5) * ss);
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
  v >>= PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
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
  if (!src || !dst || nx < 1 || ny < 1 || ox < 1 || oy < 1 || nc < 1 ||
      nc > 4 || nx > SF_PNG_MAX_SIDE || ny > SF_PNG_MAX_SIDE ||
      ox > SF_PNG_MAX_SIDE || oy > SF_PNG_MAX_SIDE)
    return sf_err_set(
        err,
        SF_EINVAL,
        "resize: bad size %dx%dx%d -> %dx%d",
        nx,
        ny,
        nc,
        ox,
        oy);
  int rc = SF_OK, kx = 0, ky = 0;
  int *bx = NULL, *by = NULL;
  int32_t *wx = NULL, *wy = NULL;
  uint8_t* tmp = NULL;
  if ((rc = coeffs(nx, ox, &bx, &wx, &kx)) ||
      (rc = coeffs(ny, oy, &by, &wy, &ky)))
    goto out;
  const uint8_t* h = src;
  if (ox != nx) { /* horizontal pass (skipped when the width is kept) */
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
  if (oy != ny) { /* vertical pass */
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
