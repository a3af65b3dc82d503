/*
 * sam_zoom.c - the zoom predictor (sf_model.h, sam_model_predict_image):
 * views of an image centred on the clicks, at the fractions the model
 * config names, each encoded and prompted; the best uncut view wins.
 *
 * Why: a SAM-format model sees its input at image_size. A model trained
 * from scratch on synthetic corpora learns the range of object sizes of
 * its corpus (as a fraction of its input); a real structure of a few
 * percent of a CT slice, or a fetal head of half an ultrasound frame, may
 * lie outside that range. Views of several sizes bring the object into
 * the range; the IoU head, trained on such views (the trainer's
 * crop_scale), says which view segmented it best. A mask that touches a
 * view edge lying inside the image is an object cut by the view (its
 * predicted IoU is about the visible part only), so such views lose to
 * uncut ones.
 */
#include "sf_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Does the mask (h, w) touch a view edge that is not an image edge? */
static int cut_by_view(
    const uint8_t* mask,
    int w,
    int h,
    int x0,
    int y0,
    int nx,
    int ny) {
  int left = x0 > 0, top = y0 > 0, right = x0 + w < nx, bottom = y0 + h < ny;
  for (int x = 0; x < w; x++)
    if ((top && mask[x]) || (bottom && mask[(size_t)(h - 1) * w + x]))
      return 1;
  for (int y = 0; y < h; y++)
    if ((left && mask[(size_t)y * w]) || (right && mask[(size_t)y * w + w - 1]))
      return 1;
  return 0;
}

/* The prediction of view (x0, y0, w, h) pasted into the full image. */
static int paste(
    const sam_prediction* v,
    int x0,
    int y0,
    int nx,
    int ny,
    sam_prediction** out,
    sf_err* err) {
  sam_prediction* r = calloc(1, sizeof *r);
  size_t npx = (size_t)nx * ny, vpx = (size_t)v->nx * v->ny;
  size_t M = (size_t)v->n_masks, L = (size_t)v->low_res_side;
  if (!r || !(r->masks = calloc(M, npx)) ||
      !(r->iou = malloc(M * sizeof *r->iou)) ||
      !(r->low_res = malloc(M * L * L * sizeof *r->low_res)) ||
      (v->logits && !(r->logits = malloc(M * npx * sizeof *r->logits)))) {
    sam_prediction_free(r);
    return sf_err_set(err, SF_ENOMEM, "out of memory");
  }
  r->n_masks = v->n_masks;
  r->nx = nx;
  r->ny = ny;
  r->best = v->best;
  r->low_res_side = v->low_res_side;
  memcpy(r->iou, v->iou, M * sizeof *r->iou);
  memcpy(r->low_res, v->low_res, M * L * L * sizeof *r->low_res);
  for (size_t k = 0; k < M; k++) {
    if (r->logits)
      for (size_t i = 0; i < npx; i++)
        r->logits[k * npx + i] = -1.0f;
    for (int y = 0; y < v->ny; y++) {
      size_t src = k * vpx + (size_t)y * v->nx;
      size_t dst = k * npx + (size_t)(y0 + y) * nx + x0;
      memcpy(r->masks + dst, v->masks + src, (size_t)v->nx);
      if (r->logits)
        memcpy(
            r->logits + dst,
            v->logits + src,
            (size_t)v->nx * sizeof *r->logits);
    }
  }
  *out = r;
  return SF_OK;
}

int sam_model_predict_image(
    sam_model* m,
    const uint8_t* px,
    int nx,
    int ny,
    int channels,
    const sam_prompt* p,
    sam_prediction** out,
    int* view_out,
    sf_err* err) {
  if (!m || !px || !p || !out)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  *out = NULL;
  const sam_config* c = sam_model_config(m);
  int rc;
  if (c->n_zoom == 0) {
    if ((rc = sam_model_set_image(m, px, nx, ny, channels, err)))
      return rc;
    if (view_out)
      view_out[0] = 0, view_out[1] = 0, view_out[2] = nx, view_out[3] = ny;
    return sam_model_predict(m, p, out, err);
  }
  if (p->mask_input)
    return sf_err_set(
        err,
        SF_EUNSUPPORTED,
        "a mask input with the zoom predictor (its frame is one view's)");
  if (channels != 1 && channels != 3)
    return sf_err_set(err, SF_EINVAL, "channels must be 1 or 3");
  if (p->n_points < 0 || p->n_points > 4096 ||
      (p->n_points && (!p->points || !p->labels)))
    return sf_err_set(err, SF_EINVAL, "bad points");
  double cx = 0, cy = 0;
  int n_pos = 0;
  for (int i = 0; i < p->n_points; i++)
    if (p->labels[i] == 1) {
      cx += p->points[2 * i] + 0.5;
      cy += p->points[2 * i + 1] + 0.5;
      n_pos++;
    }
  if (!n_pos)
    return sf_err_set(
        err, SF_EINVAL, "the zoom predictor needs a positive click");
  cx /= n_pos;
  cy /= n_pos;
  float* pts = malloc(((size_t)p->n_points + 1) * 2 * sizeof *pts);
  int* lab = malloc(((size_t)p->n_points + 1) * sizeof *lab);
  uint8_t* view = malloc((size_t)nx * ny * (size_t)channels);
  sam_prediction *best = NULL, *cur = NULL;
  int best_cut = 1, best_side = 0, bx = 0, by = 0, bw = 0, bh = 0;
  rc = SF_ENOMEM;
  if (!pts || !lab || !view) {
    sf_err_set(err, SF_ENOMEM, "out of memory");
    goto out;
  }
  for (int z = 0; z < c->n_zoom; z++) {
    int side = (int)lround(c->zoom[z] * (nx > ny ? nx : ny));
    if (side < 8)
      side = 8;
    int w = side < nx ? side : nx, h = side < ny ? side : ny;
    int x0 = (int)lround(cx - w / 2.0), y0 = (int)lround(cy - h / 2.0);
    x0 = x0 < 0 ? 0 : x0 > nx - w ? nx - w : x0;
    y0 = y0 < 0 ? 0 : y0 > ny - h ? ny - h : y0;
    for (int y = 0; y < h; y++)
      memcpy(
          view + (size_t)y * w * channels,
          px + ((size_t)(y0 + y) * nx + x0) * channels,
          (size_t)w * channels);
    int n = 0;
    for (int i = 0; i < p->n_points; i++) {
      float x = p->points[2 * i] - (float)x0,
            y = p->points[2 * i + 1] - (float)y0;
      if (p->labels[i] != -1 && (x < 0 || y < 0 || x >= w || y >= h))
        continue; /* outside the view */
      pts[2 * n] = x;
      pts[2 * n + 1] = y;
      lab[n++] = p->labels[i];
    }
    sam_prompt q = *p;
    q.n_points = n;
    q.points = pts;
    q.labels = lab;
    float box[4];
    if (p->box) { /* the box moves with the view */
      for (int i = 0; i < 4; i++)
        box[i] = p->box[i] - (float)(i % 2 ? y0 : x0);
      q.box = box;
    }
    if ((rc = sam_model_set_image(m, view, w, h, channels, err)) ||
        (rc = sam_model_predict(m, &q, &cur, err)))
      goto out;
    int k = q.multimask ? cur->best : 0;
    int cut = cut_by_view(cur->masks + (size_t)k * w * h, w, h, x0, y0, nx, ny);
    int better = !best || (best_cut && !cut) ||
        (best_cut == cut &&
         (cut ? side > best_side : cur->iou[k] > best->iou[best->best]));
    if (better) {
      sam_prediction_free(best);
      best = cur;
      best->best = k;
      best_cut = cut;
      best_side = side;
      bx = x0, by = y0, bw = w, bh = h;
    } else {
      sam_prediction_free(cur);
    }
    cur = NULL;
  }
  rc = paste(best, bx, by, nx, ny, out, err);
  if (rc == SF_OK && view_out)
    view_out[0] = bx, view_out[1] = by, view_out[2] = bw, view_out[3] = bh;
out:
  sam_prediction_free(cur);
  sam_prediction_free(best);
  free(pts);
  free(lab);
  free(view);
  return rc;
}
