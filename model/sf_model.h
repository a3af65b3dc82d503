/*
 * sf_model.h - libsam: the Segment Anything architecture (image encoder,
 * prompt encoder, mask decoder) in libtorch, behind a plain C API.
 *
 * One implementation runs SynthFM, SAM (vit_b, vit_l, vit_h) and MedSAM:
 * the same architecture with other weights. Official `.pth` checkpoints
 * (a state_dict written by torch.save) load unchanged and strictly, and
 * checkpoints we write load in the official Python code.
 *
 * Conventions (STYLE.md): fallible calls return SF_OK (0) or a negative
 * SF_E* code (factory/sf.h) and fill a caller-owned sf_err (NULL allowed);
 * results come back through T **out and belong to the caller; every _free
 * accepts NULL. No C++ exception crosses this header. A sam_model is not
 * thread-safe: one thread at a time per handle.
 *
 * Coordinates are (x, y) in pixels of the ORIGINAL image, as in the
 * reference SamPredictor; pixel centres sit at integer + 0.5.
 */
#ifndef SF_MODEL_H
#define SF_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "sf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --------------------------------------------------------------- config */

#define SAM_MAX_DEPTH 64 /* encoder blocks */
#define SAM_MAX_ZOOM 8 /* zoom views */

enum sam_preprocess {
  /* ResizeLongestSide (PIL bilinear), (x - mean) / std on the 0..255
   * scale, zero padding bottom/right; masks: logit > 0. */
  SAM_PREPROCESS_SAM = 0,
  /* Square resize to image_size x image_size (aspect not kept), min-max
   * to [0,1], no mean/std, no padding; masks: sigmoid > 0.5. */
  SAM_PREPROCESS_MEDSAM = 1
};

/* Model configuration. The first block uses the reference's own parameter
 * names (segment_anything/build_sam.py); the rest is fixed by the
 * reference builder for every official model and kept here so that the
 * architecture code has no magic numbers. */
typedef struct sam_config {
  int image_size; /* encoder input side, px (1024) */
  int patch_size; /* ViT patch side, px (16) */
  int encoder_embed_dim; /* 768 / 1024 / 1280 */
  int encoder_depth; /* 12 / 24 / 32 */
  int encoder_num_heads; /* 12 / 16 / 16 */
  int encoder_global_attn_indexes[SAM_MAX_DEPTH];
  int n_encoder_global_attn_indexes;
  int window_size; /* 14; 0 = every block global */
  int prompt_embed_dim; /* 256: encoder out_chans = decoder dim */
  /* Width of a convolutional stem whose stride patch/4 and patch/2
   * features feed the decoder's upscaling as SAM 2's
   * use_high_res_features_in_sam does (conv_s0, conv_s1); 0 = off, as in
   * SAM and every official checkpoint. */
  int high_res_features;
  /* 1: the patch embedding reads the stem's stride patch/2 features (a
   * 2x2 convolution) instead of the pixels (a patch x patch one): the
   * "early convolutions" ViT stem, which trains faster from scratch. Needs
   * high_res_features. 0 = SAM. */
  int conv_stem;
  int preprocess; /* enum sam_preprocess */
  /* The output contract the weights were trained for: 1 = SAM's (one
   * click asks for the three disambiguating masks, the one of highest
   * predicted IoU is kept; every official checkpoint), 0 = only the
   * single-mask output (token 0) and no IoU head were trained (our
   * trainer with multimask: false): callers then ask for one mask.
   * YAML key `multimask_trained: true|false` (default true). */
  int multimask_trained;
  /* The zoom predictor (sam_model_predict_image): views whose side is
   * zoom[i] x the image's longer side, centred on the positive clicks;
   * the best view wins. YAML `zoom: [1, 0.5, 0.25]`; n_zoom 0 = off (the
   * whole image, as SAM). Each in (0, 1]. */
  float zoom[SAM_MAX_ZOOM];
  int n_zoom;

  /* fixed by _build_sam */
  double mlp_ratio; /* 4 */
  int mask_in_chans; /* 16 */
  int decoder_depth; /* TwoWayTransformer depth, 2 */
  int decoder_mlp_dim; /* 2048 */
  int decoder_num_heads; /* 8 */
  int attention_downsample_rate; /* 2 */
  int num_multimask_outputs; /* 3 */
  int iou_head_depth; /* 3 */
  int iou_head_hidden_dim; /* 256 */
  float pixel_mean[3]; /* RGB, 0..255 scale */
  float pixel_std[3];
} sam_config;

/* Fill `out` with a built-in preset: "vit_b", "vit_l", "vit_h" (SAM) or
 * "medsam" (vit_b with MedSAM preprocessing). SF_EINVAL if unknown. */
int sam_config_preset(const char* name, sam_config* out, sf_err* err);
/* `spec` is a preset name or a YAML file path. A file is a mapping with
 * the reference's keys (image_size, patch_size, encoder_embed_dim,
 * encoder_depth, encoder_num_heads, encoder_global_attn_indexes,
 * window_size, prompt_embed_dim), our high_res_features (0 = off) and
 * conv_stem (0/1),
 * `preprocess: sam|medsam`, and an
 * optional `preset:` naming the base (default vit_b). Unknown keys, wrong
 * types and invalid values fail with SF_ECONFIG and file:line:col. */
int sam_config_load(const char* spec, sam_config* out, sf_err* err);
/* Same from a memory buffer; `name` is used in error positions. */
int sam_config_parse(
    const char* name,
    const char* text,
    size_t n,
    sam_config* out,
    sf_err* err);
/* Cross-field checks (divisibility, ranges); SF_ECONFIG. */
int sam_config_validate(const sam_config* c, sf_err* err);
const char* sam_preprocess_name(int preprocess);

/* ---------------------------------------------------------------- model */

typedef struct sam_model sam_model;

enum sam_device { SAM_DEVICE_CPU = 0, SAM_DEVICE_CUDA = 1 };
/* "cpu" or "cuda" (also "cuda:N" is refused: one device); -1 if unknown. */
int sam_device_parse(const char* s);
/* 1 when this build and machine can run on CUDA. */
int sam_cuda_available(void);
/* Set the CPU thread count used by libtorch (n <= 0: all cores). Called
 * implicitly, with all cores, by the first model creation. */
void sam_set_num_threads(int n);

/* Build a model from `c` with the reference's random initialisation,
 * seeded by `seed` (torch::manual_seed). For training from scratch and for
 * benchmarks. SF_EUNSUPPORTED if CUDA is asked for and absent. */
int sam_model_new(
    const sam_config* c,
    int device,
    uint64_t seed,
    sam_model** out,
    sf_err* err);
/* Load an official-format checkpoint (a state_dict written by torch.save:
 * zip + pickle) into a model built from `c`, strictly: missing keys,
 * unexpected keys and shape mismatches fail together with SF_ECORRUPT and
 * one message listing them. A non-checkpoint or truncated file gives
 * SF_EFORMAT; a pickle that asks for anything but the state_dict subset
 * (other opcodes, other globals) gives SF_EFORMAT; no code in a file is
 * ever run. float16/bfloat16/float64 tensors are converted to float32. */
int sam_model_load(
    const char* ckpt_path,
    const sam_config* c,
    int device,
    sam_model** out,
    sf_err* err);
/* Write the weights as a state_dict checkpoint with the official key
 * names, loadable by torch.load + Sam.load_state_dict. Written to a
 * temporary name next to `path`, then renamed. */
int sam_model_save(const sam_model* m, const char* path, sf_err* err);
void sam_model_free(sam_model* m);
/* Borrowed; valid until sam_model_free. */
const sam_config* sam_model_config(const sam_model* m);
int sam_model_device(const sam_model* m);

/* ---------------------------------------------------------- predictor */

/* Preprocess an 8-bit image (channels 1 = gray, replicated to RGB, or
 * 3 = RGB interleaved, row-major (ny, nx, channels)) and run the image
 * encoder; the embedding is kept for any number of sam_model_predict
 * calls. SF_EINVAL on NULL/size/channel errors (sides 1..SF_PNG_MAX_SIDE). */
int sam_model_set_image(
    sam_model* m,
    const uint8_t* px,
    int nx,
    int ny,
    int channels,
    sf_err* err);
/* Use a precomputed embedding (prompt_embed_dim, E, E), E = image_size /
 * patch_size, for an original image of nx x ny (as the reference's
 * set_image_embedding). */
int sam_model_set_embeddings(
    sam_model* m,
    const float* emb,
    int nx,
    int ny,
    sf_err* err);
/* Shape of the image embedding: channels and side E. */
void sam_model_embedding_shape(const sam_model* m, int* channels, int* side);
/* Copy the current image embedding (C, E, E) into `out` (n_floats >= C*E*E).
 * SF_EINVAL if no image is set. Both this and sam_model_set_embeddings
 * give SF_EUNSUPPORTED for a high_res_features model (its decoder also
 * reads the stem's features of the image). */
int sam_model_get_embeddings(
    const sam_model* m,
    float* out,
    size_t n_floats,
    sf_err* err);

typedef struct sam_prompt {
  int n_points;
  const float* points; /* (n_points, 2) x, y in original pixels */
  const int* labels; /* (n_points) 1 foreground, 0 background, -1 padding
                        (a "not a point" token, as in the reference) */
  const float* box; /* NULL or x0, y0, x1, y1 in original pixels */
  const float* mask_input; /* NULL or (1, 4E, 4E) low-res logits, e.g.
                              a previous prediction's low_res[best] */
  int multimask; /* 1: the 3 disambiguating masks, 0: one mask */
  int want_logits; /* 1: fill sam_prediction.logits */
} sam_prompt;

typedef struct sam_prediction {
  int n_masks; /* 3 with multimask, else 1 */
  int nx, ny; /* original image size */
  uint8_t* masks; /* (n_masks, ny, nx), 0/1 */
  float* iou; /* (n_masks) predicted IoU */
  int best; /* index of the highest predicted IoU */
  int low_res_side; /* 4E (256) */
  float* low_res; /* (n_masks, low_res_side, low_res_side) logits */
  float* logits; /* want_logits: (n_masks, ny, nx) scores whose sign
                    is the mask: SAM upscaled logits; MedSAM upscaled
                    sigmoid - 0.5. Else NULL. */
} sam_prediction;

/* Predict masks for one prompt on the image set last. Points, box and
 * mask_input are each optional (with none at all the reference predicts
 * from the no-mask embedding alone, and so do we). Masks come back at the
 * original image size. SF_EINVAL if no image is set or on bad arguments
 * (labels other than 1/0/-1, non-finite coordinates). Points outside the
 * image are allowed, as in the reference. Caller frees *out with
 * sam_prediction_free. */
int sam_model_predict(
    sam_model* m,
    const sam_prompt* p,
    sam_prediction** out,
    sf_err* err);
void sam_prediction_free(sam_prediction* p);

/* Predict on an image with the model config's zoom policy. Without zoom
 * (n_zoom 0): sam_model_set_image + sam_model_predict. With zoom, for
 * each fraction f of cfg.zoom: a view of side round(f * max(nx, ny))
 * (at most the image's sides), centred on the mean of the positive
 * clicks (pixel centres) and shifted to lie inside the image, is encoded
 * and prompted with the clicks inside it (moved into the view; clicks
 * outside are left out, a box moves with it); the mask scored for the
 * view is the best by
 * predicted IoU (multimask) or the single one. The chosen view: among
 * the views whose scored mask does not touch a view edge that lies
 * inside the image (a cut object), the one of highest predicted IoU;
 * when every view's mask is cut, the largest view. Its masks are pasted
 * into the full image (0 elsewhere); iou/best are the view's; low_res
 * and logits are those of the view (low_res_side of the view's frame;
 * logits pasted, -1 outside the view). `p` needs at least one positive
 * click with zoom; mask_input is refused with zoom (SF_EUNSUPPORTED).
 * *view_out (may be NULL) gets x0, y0, width, height of the chosen view.
 * The image set in m afterwards is the last view encoded. */
int sam_model_predict_image(
    sam_model* m,
    const uint8_t* px,
    int nx,
    int ny,
    int channels,
    const sam_prompt* p,
    sam_prediction** out,
    int* view_out,
    sf_err* err);

/* ------------------------------------------------------- preprocessing */

/* ResizeLongestSide.get_preprocess_shape: the long side becomes
 * `long_side`, the other int(side * scale + 0.5). */
void sam_preprocess_shape(
    int ny,
    int nx,
    int long_side,
    int* out_ny,
    int* out_nx);
/* PIL's bilinear resize (Image.resize(..., BILINEAR), Pillow 9),
 * reproduced bit-exactly: separable, horizontal pass first, 22-bit fixed
 * point, antialiased when downscaling. `src` (ny, nx, nc) -> `dst`
 * (oy, ox, nc). SF_EINVAL on bad sizes, SF_ENOMEM. */
int sam_resize_bilinear_u8(
    const uint8_t* src,
    int nx,
    int ny,
    int nc,
    uint8_t* dst,
    int ox,
    int oy,
    sf_err* err);
/* The encoder input for an image: (3, S, S) float32, S = image_size, by
 * the config's preprocessing. *in_ny/in_nx get the size of the resized
 * image inside the padded square (SAM) or S x S (MedSAM). If `resized` is
 * non-NULL it receives the resized uint8 RGB image (in_ny, in_nx, 3).
 * Caller frees *out and *resized. */
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
    sf_err* err);

/* ----------------------------------------------------------------- npy */

/* A NumPy .npy array (format 1.x/2.x, little-endian, C order). */
typedef struct sam_npy {
  char dtype; /* 'f' float, 'i' signed int, 'u' unsigned, 'b' bool */
  int elsize; /* bytes per element */
  int ndim;
  int64_t shape[8];
  int64_t numel;
  void* data;
} sam_npy;

/* Read a .npy file; SF_EFORMAT on anything else (big-endian, Fortran
 * order, object arrays, truncation). Caller frees with sam_npy_free. */
int sam_npy_read(const char* path, sam_npy** out, sf_err* err);
/* Write `data` as a little-endian C-order .npy (dtype 'f'4, 'u'1, 'i'4). */
int sam_npy_write(
    const char* path,
    char dtype,
    int elsize,
    int ndim,
    const int64_t* shape,
    const void* data,
    sf_err* err);
void sam_npy_free(sam_npy* a);

/* -------------------------------------------------------- training runs */

/* The one training loss the trainer reports (progress and epoch lines,
 * the learning curve's dark line, the demo's table): the mean of the
 * losses of the last SAM_TRAIN_LOSS_WINDOW steps (fewer at the start). */
#define SAM_TRAIN_LOSS_WINDOW 100

/* Draw a training run's learning curve (per-step loss and its trailing
 * mean over SAM_TRAIN_LOSS_WINDOW steps, per-epoch validation Dice) from
 * RUN/run.sqlite into png_path (written through png_path.tmp + rename). The
 * trainer calls it after every validation with RUN/curve.png; the report draws
 * each --runs RUN's (model/train_plot.c). SF_EIO without run.sqlite, SF_EDB
 * without its tables, SF_EFORMAT when there is nothing to draw. The rest of the
 * trainer's API (sam_train_run) is model/train.h, for `synthfm train`. */
int sam_train_plot(const char* run_dir, const char* png_path, sf_err* err);

#ifdef __cplusplus
}
#endif

/* SAM 2 / 2.1: the Hiera image predictor and the video predictor. */
#include "sam2.h"

#endif /* SF_MODEL_H */
