/*
 * sam2.h - libsam's SAM 2 / SAM 2.1: the Hiera image predictor and the
 * video predictor (slice-to-slice propagation through volumes) of
 * facebookresearch/sam2, in libtorch, behind a plain C API. Included by
 * sf_model.h; the C++ modules are in sam2_net.h (model/ C++ files only).
 *
 * Conventions as sf_model.h: SF_OK or a negative SF_E* code, messages in
 * a caller-owned sf_err (NULL allowed), results through T **out owned by
 * the caller, every _free accepts NULL, no C++ exception crosses this
 * header, one thread at a time per handle.
 *
 * Coordinates are (x, y) in pixels of the ORIGINAL image or frame, as in
 * the reference's SAM2ImagePredictor / SAM2VideoPredictor.
 */
#ifndef SAM2_H
#define SAM2_H

#include <stddef.h>
#include <stdint.h>

#include "sf_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --------------------------------------------------------------- config */

#define SAM2_MAX_STAGES 8 /* Hiera stages (4 in every official model) */
#define SAM2_MAX_LIST 64 /* global_att_blocks and other int lists */

/* PositionEmbeddingSine(num_pos_feats, temperature, normalize, scale). */
typedef struct sam2_pos_enc_config {
  int num_pos_feats;
  double temperature; /* 10000 */
  int normalize; /* 1 */
  double scale; /* 0 = null (2 pi) */
} sam2_pos_enc_config;

/* RoPEAttention (sam2.modeling.sam.transformer). */
typedef struct sam2_rope_attention_config {
  double rope_theta; /* 10000 */
  int feat_sizes[2]; /* (w, h); recomputed as sqrt(L) when they differ */
  int rope_k_repeat;
  int embedding_dim, num_heads, downsample_rate;
  double dropout; /* inference: unused */
  int kv_in_dim; /* 0 = embedding_dim (the reference's None) */
} sam2_rope_attention_config;

enum sam2_interp {
  SAM2_INTERP_NEAREST = 0,
  SAM2_INTERP_BILINEAR = 1,
  SAM2_INTERP_BICUBIC = 2
};
enum sam2_activation { SAM2_ACT_RELU = 0, SAM2_ACT_GELU = 1 };

/*
 * The model configuration: the official config files' tree
 * (sam2/configs/sam2.1/sam2.1_hiera_X.yaml, under `model:`) with the same
 * names, plus the constructors' defaults for what those files leave out, plus
 * the overrides build_sam.py adds (apply_postprocessing) and what SAM2Base
 * fixes in code. A value read off an official config carries over by its
 * path: model.image_encoder.trunk.embed_dim is image_encoder.trunk.embed_dim
 * here.
 */
typedef struct sam2_config {
  struct {
    int scalp;
    struct {
      int embed_dim, num_heads;
      double drop_path_rate; /* inference: unused */
      int q_pool;
      int q_stride[2];
      int n_stages;
      int stages[SAM2_MAX_STAGES];
      double dim_mul, head_mul;
      int window_pos_embed_bkg_spatial_size[2];
      int n_window_spec;
      int window_spec[SAM2_MAX_STAGES];
      int n_global_att_blocks;
      int global_att_blocks[SAM2_MAX_LIST];
      int return_interm_layers;
    } trunk;
    struct {
      sam2_pos_enc_config position_encoding;
      int d_model;
      int n_backbone_channel_list;
      int backbone_channel_list[SAM2_MAX_STAGES];
      int kernel_size, stride, padding;
      int fpn_interp_model; /* enum sam2_interp */
      int fuse_type; /* 0 sum, 1 avg */
      int n_fpn_top_down_levels; /* -1: null (every level) */
      int fpn_top_down_levels[SAM2_MAX_STAGES];
    } neck;
  } image_encoder;
  struct {
    int d_model, pos_enc_at_input, num_layers, batch_first;
    struct {
      int activation; /* enum sam2_activation */
      int dim_feedforward;
      double dropout;
      int pos_enc_at_attn, pos_enc_at_cross_attn_keys;
      int pos_enc_at_cross_attn_queries;
      int d_model;
      sam2_rope_attention_config self_attention, cross_attention;
    } layer;
  } memory_attention;
  struct {
    int out_dim, in_dim;
    sam2_pos_enc_config position_encoding;
    struct {
      int embed_dim, kernel_size, stride, padding, total_stride;
      int activation; /* enum sam2_activation */
    } mask_downsampler;
    struct {
      int num_layers, dim, input_projection;
      struct {
        int dim, kernel_size, padding;
        double drop_path, layer_scale_init_value;
        int use_dwconv;
      } layer;
    } fuser;
  } memory_encoder;
  /* SAM2Base */
  int num_maskmem, image_size, backbone_stride;
  double sigmoid_scale_for_mem_enc, sigmoid_bias_for_mem_enc;
  int binarize_mask_from_pts_for_mem_enc;
  int use_mask_input_as_output_without_sam;
  int max_cond_frames_in_attn;
  int directly_add_no_mem_embed, no_obj_embed_spatial;
  int use_high_res_features_in_sam, multimask_output_in_sam;
  int multimask_min_pt_num, multimask_max_pt_num;
  int multimask_output_for_tracking, use_multimask_token_for_obj_ptr;
  int iou_prediction_use_sigmoid, memory_temporal_stride_for_eval;
  int add_all_frames_to_correct_as_cond, non_overlap_masks_for_mem_enc;
  int use_obj_ptrs_in_encoder, max_obj_ptrs_in_encoder;
  int add_tpos_enc_to_obj_ptrs, proj_tpos_enc_in_obj_ptrs;
  int use_signed_tpos_enc_to_obj_ptrs, only_obj_ptrs_in_the_past_for_eval;
  int pred_obj_scores, pred_obj_scores_mlp, fixed_no_obj_ptr;
  int soft_no_obj_ptr, use_mlp_for_obj_ptr_proj, compile_image_encoder;
  struct {
    int dynamic_multimask_via_stability;
    double dynamic_multimask_stability_delta;
    double dynamic_multimask_stability_thresh;
  } sam_mask_decoder_extra_args;
  /* SAM2VideoPredictor (build_sam2_video_predictor) */
  int fill_hole_area, non_overlap_masks, clear_non_cond_mem_around_input;
  /* fixed by SAM2Base._build_sam_heads (not in any config file) */
  int mask_in_chans; /* 16 */
  int decoder_depth, decoder_mlp_dim, decoder_num_heads; /* 2, 2048, 8 */
  int attention_downsample_rate, num_multimask_outputs; /* 2, 3 */
  int iou_head_depth, iou_head_hidden_dim; /* 3, 256 */
  /* SAM2Transforms / load_video_frames: on the 0..1 scale */
  float pixel_mean[3], pixel_std[3];
} sam2_config;

/* Fill `out` with a built-in model: "sam2.1_hiera_t", "sam2.1_hiera_s",
 * "sam2.1_hiera_b+", "sam2.1_hiera_l" (the official configs' values with
 * build_sam's apply_postprocessing overrides). SF_EINVAL if unknown. */
int sam2_config_preset(const char* name, sam2_config* out, sf_err* err);
/* 1 when `name` is a preset name above. */
int sam2_config_is_preset(const char* name);
/*
 * `spec` is a preset name or a YAML file in the official config layout:
 * a top-level `model:` mapping nesting image_encoder (trunk, neck),
 * memory_attention (layer: self_attention, cross_attention),
 * memory_encoder (mask_downsampler, fuser: layer) and SAM2Base's flags,
 * with the official parameter names. `_target_` lines may be left out;
 * when present they must name the class the official file names there.
 * Keys the official constructors give defaults to may be left out (they
 * get those defaults); a missing required key, an unknown key, a wrong
 * type or an invalid value fail with SF_ECONFIG, the key's dotted path
 * and file:line:col. Also accepted under `model:`: the overrides of
 * build_sam.py (sam_mask_decoder_extra_args.*,
 * binarize_mask_from_pts_for_mem_enc, fill_hole_area, non_overlap_masks,
 * clear_non_cond_mem_around_input).
 */
int sam2_config_load(const char* spec, sam2_config* out, sf_err* err);
/* Same from a memory buffer; `name` is used in error positions. */
int sam2_config_parse(
    const char* name,
    const char* text,
    size_t n,
    sam2_config* out,
    sf_err* err);
/* Cross-field checks (trunk/neck channels, strides, divisibility,
 * ranges): SF_ECONFIG naming the key. */
int sam2_config_validate(const sam2_config* c, sf_err* err);
/* 1 when `spec` names a SAM 2 model: a preset above, or a YAML file whose
 * first key is `model`. Cheap (reads at most the file's first 64 KiB);
 * 0 for anything else, including unreadable files. */
int sam2_config_spec_is_sam2(const char* spec);

/* ---------------------------------------------------------------- model */

typedef struct sam2_model sam2_model;

/* Build a model from `c` with random weights seeded by `seed` (for
 * benchmarks and tests). SF_EUNSUPPORTED if CUDA is asked for and absent. */
int sam2_model_new(
    const sam2_config* c,
    int device,
    uint64_t seed,
    sam2_model** out,
    sf_err* err);
/* Load an official checkpoint ({"model": state_dict} as released, or a
 * bare state_dict) strictly, as sam_model_load: missing, unexpected and
 * mismatched keys (each with both shapes) fail together with SF_ECORRUPT;
 * a SAM 1 checkpoint is named as such; truncation and anything that is
 * not a checkpoint give SF_EFORMAT. */
int sam2_model_load(
    const char* ckpt_path,
    const sam2_config* c,
    int device,
    sam2_model** out,
    sf_err* err);
void sam2_model_free(sam2_model* m);
/* Borrowed; valid until sam2_model_free. */
const sam2_config* sam2_model_config(const sam2_model* m);

/* Image predictor (SAM2ImagePredictor). The image (channels 1 or 3,
 * (ny, nx, channels) row-major 8-bit) is divided by 255, stretched to
 * image_size x image_size (bilinear, antialiased), normalised and
 * encoded; no_mem_embed is added to the embedding as the reference does.
 * SF_EINVAL on bad arguments. */
int sam2_model_set_image(
    sam2_model* m,
    const uint8_t* px,
    int nx,
    int ny,
    int channels,
    sf_err* err);
/* Predict masks for one prompt on the image set last: points (labels 1,
 * 0, or -1 padding), an optional box (placed first, as two points with
 * labels 2 and 3), an optional mask_input ((1, 4E, 4E) low-res logits)
 * and multimask. With multimask 0 the single-mask output falls back to
 * the best multimask token when the stability score is low (the
 * reference's dynamic_multimask_via_stability). sam_prediction as SAM 1:
 * masks at the original size (logit > 0), low_res clamped to +-32. */
int sam2_model_predict(
    sam2_model* m,
    const sam_prompt* p,
    sam_prediction** out,
    sf_err* err);

/* --------------------------------------------------------- video / volume */

typedef struct sam2_video sam2_video;

/* A propagation session over `n_frames` frames (slices) of nx x ny,
 * `frames` = (n_frames, ny, nx, channels) 8-bit, channels 1 or 3,
 * borrowed until sam2_video_free. Frames are resized to image_size as the
 * reference's frame loader does (PIL bicubic on the 8-bit RGB image; the
 * identity when the size already matches), divided by 255 and
 * normalised when first needed. One object. */
int sam2_video_new(
    sam2_model* m,
    const uint8_t* frames,
    int n_frames,
    int nx,
    int ny,
    int channels,
    sam2_video** out,
    sf_err* err);
void sam2_video_free(sam2_video* v);
/* add_new_points_or_box on `frame`: points / labels / box of `p` in frame
 * pixels (mask_input, multimask and want_logits are ignored). Clicks
 * outside the frame are allowed, as in the reference. */
int sam2_video_add_points(
    sam2_video* v,
    int frame,
    const sam_prompt* p,
    sf_err* err);
/* add_new_mask on `frame`: mask (ny, nx), nonzero = object. */
int sam2_video_add_mask(
    sam2_video* v,
    int frame,
    const uint8_t* mask,
    sf_err* err);

/* Called once per propagated frame with the frame's mask logits at the
 * frame's size ((ny, nx), > 0 = object), its object score logit and the
 * seconds its inference took. A non-zero return stops the propagation
 * with SF_ECANCEL. `logits` is borrowed for the call. */
typedef int (*sam2_frame_fn)(
    void* ctx,
    int frame,
    const float* logits,
    float object_score,
    double seconds);
/* propagate_in_video: from `start` (-1: the first prompted frame) over at
 * most max_frames + 1 frames (-1: to the end), forward or (reverse 1)
 * backward, as the reference (memory bank of num_maskmem frames, object
 * pointers, bf16 memory storage, hole filling). Call it twice (forward,
 * then reverse) to cover a volume in both directions from a prompted
 * slice. SF_EINVAL when no frame has a prompt. */
int sam2_video_propagate(
    sam2_video* v,
    int start,
    int max_frames,
    int reverse,
    sam2_frame_fn fn,
    void* ctx,
    sf_err* err);

/* ---------------------------------------------------- preprocessing */

/* Pillow's bicubic Image.resize on 8-bit data (what the reference's video
 * loader does to frames), reproduced in fixed point: src (ny, nx, nc) ->
 * dst (oy, ox, nc). SF_EINVAL on bad sizes, SF_ENOMEM. */
int sam2_resize_bicubic_u8(
    const uint8_t* src,
    int nx,
    int ny,
    int nc,
    uint8_t* dst,
    int ox,
    int oy,
    sf_err* err);

/* ------------------------------------------------------ debugging hooks */

/* Record named intermediate tensors (1) or stop (0); recording clears
 * what was kept. Names are the golden set's (sam2_tiny/README.md):
 * image side "input_tensor", "debug/trunk_patch_embed",
 * "debug/trunk_pos_embed", "debug/trunk_block<i>_out", "debug/neck_fpn<l>"
 * (full size), "vision_features", "vision_pos_enc", "feat_s0", "feat_s1",
 * "image_embed", "dense_pe", "prompt_coords", "prompt_labels",
 * "sparse_embeddings", "dense_embeddings", "all_low_res_masks",
 * "all_iou_predictions", "object_score_logits"; video side "frame<k>/<file>"
 * for the per-frame files, "frame<k>/vision_features",
 * "frame<k>/video_res_logits" (what sam2_frame_fn gets) and "maskmem_pos_enc".
 */
void sam2__trace(sam2_model* m, int on);
void sam2__video_trace(sam2_video* v, int on);
/* A copy of recorded tensor `name` as float32 (or int32 for labels)
 * sam_npy; SF_EINVAL naming it when absent. Caller frees. */
int sam2__trace_get(
    const sam2_model* m,
    const char* name,
    sam_npy** out,
    sf_err* err);
int sam2__video_trace_get(
    const sam2_video* v,
    const char* name,
    sam_npy** out,
    sf_err* err);
/* Prompt encoder + mask decoder only on the image set last (benchmarks). */
int sam2__model_decode_only(sam2_model* m, const sam_prompt* p, sf_err* err);

#ifdef __cplusplus
}
#endif
#endif /* SAM2_H */
