/*
 * sam2_config.c - SAM 2 model configurations: the official config files'
 * tree (sam2/configs/sam2.1/sam2.1_hiera_X.yaml) read by path, the
 * constructors' defaults for what a file leaves out, the four official models
 * built in, and the cross-field checks the official code makes by assertion (or
 * by crashing on a shape).
 */
#include "sam2.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ------------------------------------------------------------ defaults */

/* The constructors' defaults (sam2/modeling/...), build_sam.py's
 * apply_postprocessing overrides, and what SAM2Base fixes in code. */
static void defaults(sam2_config* c) {
  memset(c, 0, sizeof *c);
  /* Hiera */
  c->image_encoder.trunk.embed_dim = 96;
  c->image_encoder.trunk.num_heads = 1;
  c->image_encoder.trunk.q_pool = 3;
  c->image_encoder.trunk.q_stride[0] = c->image_encoder.trunk.q_stride[1] = 2;
  c->image_encoder.trunk.n_stages = 4;
  const int stages[4] = {2, 3, 16, 3}, wspec[4] = {8, 4, 14, 7};
  const int glob[3] = {12, 16, 20};
  memcpy(c->image_encoder.trunk.stages, stages, sizeof stages);
  c->image_encoder.trunk.n_window_spec = 4;
  memcpy(c->image_encoder.trunk.window_spec, wspec, sizeof wspec);
  c->image_encoder.trunk.n_global_att_blocks = 3;
  memcpy(c->image_encoder.trunk.global_att_blocks, glob, sizeof glob);
  c->image_encoder.trunk.dim_mul = c->image_encoder.trunk.head_mul = 2.0;
  c->image_encoder.trunk.window_pos_embed_bkg_spatial_size[0] = 14;
  c->image_encoder.trunk.window_pos_embed_bkg_spatial_size[1] = 14;
  c->image_encoder.trunk.return_interm_layers = 1;
  /* FpnNeck */
  c->image_encoder.neck.position_encoding.temperature = 10000;
  c->image_encoder.neck.position_encoding.normalize = 1;
  c->image_encoder.neck.kernel_size = 1;
  c->image_encoder.neck.stride = 1;
  c->image_encoder.neck.fpn_interp_model = SAM2_INTERP_BILINEAR;
  c->image_encoder.neck.n_fpn_top_down_levels = -1;
  /* MemoryAttention(Layer), RoPEAttention */
  c->memory_attention.batch_first = 1;
  sam2_rope_attention_config* a[2] = {
      &c->memory_attention.layer.self_attention,
      &c->memory_attention.layer.cross_attention};
  for (int i = 0; i < 2; i++) {
    a[i]->rope_theta = 10000.0;
    a[i]->feat_sizes[0] = a[i]->feat_sizes[1] = 32;
    a[i]->downsample_rate = 1;
  }
  /* MemoryEncoder, MaskDownSampler, Fuser, CXBlock */
  c->memory_encoder.in_dim = 256;
  c->memory_encoder.position_encoding.temperature = 10000;
  c->memory_encoder.position_encoding.normalize = 1;
  c->memory_encoder.mask_downsampler.embed_dim = 256;
  c->memory_encoder.mask_downsampler.kernel_size = 4;
  c->memory_encoder.mask_downsampler.stride = 4;
  c->memory_encoder.mask_downsampler.total_stride = 16;
  c->memory_encoder.mask_downsampler.activation = SAM2_ACT_GELU;
  c->memory_encoder.fuser.layer.kernel_size = 7;
  c->memory_encoder.fuser.layer.padding = 3;
  c->memory_encoder.fuser.layer.layer_scale_init_value = 1e-6;
  c->memory_encoder.fuser.layer.use_dwconv = 1;
  /* SAM2Base */
  c->num_maskmem = 7;
  c->image_size = 512;
  c->backbone_stride = 16;
  c->sigmoid_scale_for_mem_enc = 1.0;
  c->max_cond_frames_in_attn = -1;
  c->multimask_min_pt_num = c->multimask_max_pt_num = 1;
  c->memory_temporal_stride_for_eval = 1;
  c->max_obj_ptrs_in_encoder = 16;
  c->add_tpos_enc_to_obj_ptrs = 1;
  /* build_sam.py, apply_postprocessing=True */
  c->sam_mask_decoder_extra_args.dynamic_multimask_via_stability = 1;
  c->sam_mask_decoder_extra_args.dynamic_multimask_stability_delta = 0.05;
  c->sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh = 0.98;
  c->binarize_mask_from_pts_for_mem_enc = 1;
  c->fill_hole_area = 8;
  /* SAM2Base._build_sam_heads */
  c->mask_in_chans = 16;
  c->decoder_depth = 2;
  c->decoder_mlp_dim = 2048;
  c->decoder_num_heads = 8;
  c->attention_downsample_rate = 2;
  c->num_multimask_outputs = 3;
  c->iou_head_depth = 3;
  c->iou_head_hidden_dim = 256;
  const float mean[3] = {0.485f, 0.456f, 0.406f};
  const float sd[3] = {0.229f, 0.224f, 0.225f};
  memcpy(c->pixel_mean, mean, sizeof mean);
  memcpy(c->pixel_std, sd, sizeof sd);
}

/* What every sam2.1_hiera_X.yaml shares (all but trunk, neck channels and
 * the RoPE feat_sizes). */
static void official_common(sam2_config* c) {
  defaults(c);
  c->image_encoder.scalp = 1;
  c->image_encoder.neck.position_encoding.num_pos_feats = 256;
  c->image_encoder.neck.d_model = 256;
  c->image_encoder.neck.n_fpn_top_down_levels = 2;
  c->image_encoder.neck.fpn_top_down_levels[0] = 2;
  c->image_encoder.neck.fpn_top_down_levels[1] = 3;
  c->image_encoder.neck.fpn_interp_model = SAM2_INTERP_NEAREST;
  c->memory_attention.d_model = 256;
  c->memory_attention.pos_enc_at_input = 1;
  c->memory_attention.num_layers = 4;
  c->memory_attention.layer.activation = SAM2_ACT_RELU;
  c->memory_attention.layer.dim_feedforward = 2048;
  c->memory_attention.layer.dropout = 0.1;
  c->memory_attention.layer.pos_enc_at_cross_attn_keys = 1;
  c->memory_attention.layer.d_model = 256;
  sam2_rope_attention_config* a[2] = {
      &c->memory_attention.layer.self_attention,
      &c->memory_attention.layer.cross_attention};
  for (int i = 0; i < 2; i++) {
    a[i]->feat_sizes[0] = a[i]->feat_sizes[1] = 64;
    a[i]->embedding_dim = 256;
    a[i]->num_heads = 1;
    a[i]->dropout = 0.1;
  }
  c->memory_attention.layer.cross_attention.rope_k_repeat = 1;
  c->memory_attention.layer.cross_attention.kv_in_dim = 64;
  c->memory_encoder.out_dim = 64;
  c->memory_encoder.position_encoding.num_pos_feats = 64;
  c->memory_encoder.mask_downsampler.kernel_size = 3;
  c->memory_encoder.mask_downsampler.stride = 2;
  c->memory_encoder.mask_downsampler.padding = 1;
  c->memory_encoder.fuser.num_layers = 2;
  c->memory_encoder.fuser.layer.dim = 256;
  c->image_size = 1024;
  c->sigmoid_scale_for_mem_enc = 20.0;
  c->sigmoid_bias_for_mem_enc = -10.0;
  c->use_mask_input_as_output_without_sam = 1;
  c->directly_add_no_mem_embed = 1;
  c->no_obj_embed_spatial = 1;
  c->use_high_res_features_in_sam = 1;
  c->multimask_output_in_sam = 1;
  c->iou_prediction_use_sigmoid = 1;
  c->use_obj_ptrs_in_encoder = 1;
  c->add_tpos_enc_to_obj_ptrs = 1;
  c->proj_tpos_enc_in_obj_ptrs = 1;
  c->use_signed_tpos_enc_to_obj_ptrs = 1;
  c->only_obj_ptrs_in_the_past_for_eval = 1;
  c->pred_obj_scores = 1;
  c->pred_obj_scores_mlp = 1;
  c->fixed_no_obj_ptr = 1;
  c->multimask_output_for_tracking = 1;
  c->use_multimask_token_for_obj_ptr = 1;
  c->multimask_min_pt_num = 0;
  c->multimask_max_pt_num = 1;
  c->use_mlp_for_obj_ptr_proj = 1;
}

static void set_list(int* dst, int* n, const int* v, int k) {
  memcpy(dst, v, (size_t)k * sizeof *v);
  *n = k;
}

static const char* const preset_names[] = {
    "sam2.1_hiera_t",
    "sam2.1_hiera_s",
    "sam2.1_hiera_b+",
    "sam2.1_hiera_l",
    NULL};

int sam2_config_is_preset(const char* name) {
  for (int i = 0; name && preset_names[i]; i++)
    if (!strcmp(name, preset_names[i]))
      return 1;
  return 0;
}

int sam2_config_preset(const char* name, sam2_config* out, sf_err* err) {
  sam2_config c;
  if (!name || !out)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  official_common(&c);
  __typeof__(c.image_encoder.trunk)* t = &c.image_encoder.trunk;
  int rope = 64;
  if (!strcmp(name, "sam2.1_hiera_t") || !strcmp(name, "sam2.1_hiera_s")) {
    int tiny = !strcmp(name, "sam2.1_hiera_t");
    t->embed_dim = 96;
    t->num_heads = 1;
    set_list(
        t->stages,
        &t->n_stages,
        tiny ? (const int[]){1, 2, 7, 2} : (const int[]){1, 2, 11, 2},
        4);
    set_list(
        t->global_att_blocks,
        &t->n_global_att_blocks,
        tiny ? (const int[]){5, 7, 9} : (const int[]){7, 10, 13},
        3);
    t->window_pos_embed_bkg_spatial_size[0] = 7;
    t->window_pos_embed_bkg_spatial_size[1] = 7;
    rope = tiny ? 64 : 32; /* the official files' (stale) values */
  } else if (!strcmp(name, "sam2.1_hiera_b+")) {
    t->embed_dim = 112;
    t->num_heads = 2;
  } else if (!strcmp(name, "sam2.1_hiera_l")) {
    t->embed_dim = 144;
    t->num_heads = 2;
    set_list(t->stages, &t->n_stages, (const int[]){2, 6, 36, 4}, 4);
    set_list(
        t->global_att_blocks,
        &t->n_global_att_blocks,
        (const int[]){23, 33, 43},
        3);
    t->window_pos_embed_bkg_spatial_size[0] = 7;
    t->window_pos_embed_bkg_spatial_size[1] = 7;
    set_list(t->window_spec, &t->n_window_spec, (const int[]){8, 4, 16, 8}, 4);
    rope = 32;
  } else {
    return sf_err_set(
        err,
        SF_EINVAL,
        "unknown SAM 2 model '%s' (known: sam2.1_hiera_t, sam2.1_hiera_s, "
        "sam2.1_hiera_b+, sam2.1_hiera_l)",
        name);
  }
  /* backbone_channel_list = the trunk's stage widths, deepest first */
  c.image_encoder.neck.n_backbone_channel_list = 4;
  for (int i = 0; i < 4; i++)
    c.image_encoder.neck.backbone_channel_list[i] = t->embed_dim << (3 - i);
  sam2_rope_attention_config* a[2] = {
      &c.memory_attention.layer.self_attention,
      &c.memory_attention.layer.cross_attention};
  for (int i = 0; i < 2; i++)
    a[i]->feat_sizes[0] = a[i]->feat_sizes[1] = rope;
  *out = c;
  return SF_OK;
}

/* ------------------------------------------------------------ validate */

/* Per-block geometry of the Hiera trunk, as Hiera.__init__ builds it. */
typedef struct hiera_plan {
  int depth, n_out;
  int stage_end[SAM2_MAX_STAGES];
  int out_dim[SAM2_MAX_STAGES]; /* channels of each stage's output */
  int out_side[SAM2_MAX_STAGES]; /* its side for the config's image_size */
} hiera_plan;

static int plan_hiera(const sam2_config* c, hiera_plan* p, sf_err* err) {
  const __typeof__(c->image_encoder.trunk)* t = &c->image_encoder.trunk;
#define REQ(cond, ...) \
  if (!(cond))         \
  return sf_err_set(err, SF_ECONFIG, __VA_ARGS__)
  REQ(t->n_stages >= 1 && t->n_stages <= SAM2_MAX_STAGES,
      "model.image_encoder.trunk.stages: 1..%d stages expected",
      SAM2_MAX_STAGES);
  REQ(t->n_window_spec == t->n_stages,
      "model.image_encoder.trunk.window_spec has %d entries, stages %d",
      t->n_window_spec,
      t->n_stages);
  REQ(t->q_pool >= 0 && t->q_pool <= t->n_stages - 1,
      "model.image_encoder.trunk.q_pool %d out of range 0..%d",
      t->q_pool,
      t->n_stages - 1);
  REQ(t->q_stride[0] >= 1 && t->q_stride[0] == t->q_stride[1],
      "model.image_encoder.trunk.q_stride: two equal positive values "
      "expected");
  REQ(t->embed_dim >= 1 && t->num_heads >= 1 && t->dim_mul > 0 &&
          t->head_mul > 0,
      "model.image_encoder.trunk: embed_dim, num_heads, dim_mul and "
      "head_mul must be positive");
  REQ(t->window_pos_embed_bkg_spatial_size[0] >= 1 &&
          t->window_pos_embed_bkg_spatial_size[1] >= 1,
      "model.image_encoder.trunk.window_pos_embed_bkg_spatial_size must be "
      "positive");
  int depth = 0;
  for (int s = 0; s < t->n_stages; s++) {
    REQ(t->stages[s] >= 1 && t->stages[s] <= 256,
        "model.image_encoder.trunk.stages[%d] = %d out of range 1..256",
        s,
        t->stages[s]);
    REQ(t->window_spec[s] >= 0,
        "model.image_encoder.trunk.window_spec[%d] is negative",
        s);
    depth += t->stages[s];
    p->stage_end[s] = depth - 1;
  }
  p->depth = depth;
  for (int i = 0; i < t->n_global_att_blocks; i++)
    REQ(t->global_att_blocks[i] >= 0 && t->global_att_blocks[i] < depth,
        "model.image_encoder.trunk.global_att_blocks[%d] = %d is not a "
        "block (0..%d)",
        i,
        t->global_att_blocks[i],
        depth - 1);
  int q = t->q_stride[0], side = c->image_size / 4;
  REQ(c->image_size % 4 == 0,
      "model.image_size %d is not a multiple of the patch stride 4",
      c->image_size);
  REQ(t->window_spec[0] >= 1 && side % t->window_spec[0] == 0,
      "model.image_size / 4 = %d is not a multiple of "
      "model.image_encoder.trunk.window_spec[0] = %d (pos_embed_window is "
      "tiled over the patch grid)",
      side,
      t->window_spec[0]);
  int dim = t->embed_dim, heads = t->num_heads, stage = 0, n_out = 0;
  for (int i = 0; i < depth; i++) {
    int dim_out = dim, window = t->window_spec[stage];
    for (int g = 0; g < t->n_global_att_blocks; g++)
      if (t->global_att_blocks[g] == i)
        window = 0;
    int pool = 0;
    if (i > 0 && stage < t->n_stages - 1 && i - 1 == p->stage_end[stage]) {
      dim_out = (int)(dim * t->dim_mul);
      heads = (int)(heads * t->head_mul);
      stage++;
      pool = stage <= t->q_pool;
    }
    REQ(heads >= 1 && dim_out >= 1 && dim_out % heads == 0,
        "model.image_encoder.trunk: block %d has %d channels for %d heads",
        i,
        dim_out,
        heads);
    if (pool) {
      REQ(dim_out != dim,
          "model.image_encoder.trunk: q-pooling block %d must change the "
          "width (dim_mul)",
          i);
      REQ(window > 0 && window % q == 0,
          "model.image_encoder.trunk: window %d of q-pooling block %d is not "
          "a positive multiple of q_stride %d (global attention cannot "
          "pool)",
          window,
          i,
          q);
      REQ(side % q == 0,
          "model.image_size %d: the feature side %d at block %d is not a "
          "multiple of q_stride %d",
          c->image_size,
          side,
          i,
          q);
      side /= q;
    }
    dim = dim_out;
    if (i == p->stage_end[stage]) {
      p->out_dim[n_out] = dim;
      p->out_side[n_out++] = side;
    }
  }
  p->n_out = n_out;
  return SF_OK;
}

static int check_rope(
    const sam2_rope_attention_config* a,
    const char* key,
    int d_model,
    int kv_dim,
    sf_err* err) {
  REQ(a->embedding_dim == d_model,
      "%s.embedding_dim %d differs from memory_attention.d_model %d",
      key,
      a->embedding_dim,
      d_model);
  REQ(a->downsample_rate >= 1 && a->num_heads >= 1 &&
          a->embedding_dim % a->downsample_rate == 0 &&
          (a->embedding_dim / a->downsample_rate) % a->num_heads == 0 &&
          (a->embedding_dim / a->downsample_rate / a->num_heads) % 4 == 0,
      "%s: embedding_dim / downsample_rate / num_heads must be a multiple "
      "of 4 (axial RoPE)",
      key);
  REQ((a->kv_in_dim ? a->kv_in_dim : a->embedding_dim) == kv_dim,
      "%s.kv_in_dim is %d, the keys have %d channels",
      key,
      a->kv_in_dim ? a->kv_in_dim : a->embedding_dim,
      kv_dim);
  REQ(a->rope_theta > 0 && a->feat_sizes[0] >= 1 && a->feat_sizes[1] >= 1,
      "%s: rope_theta and feat_sizes must be positive",
      key);
  return SF_OK;
}

int sam2_config_validate(const sam2_config* c, sf_err* err) {
  if (!c)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  REQ(c->image_size >= 16 && c->image_size <= 8192,
      "model.image_size %d out of range 16..8192",
      c->image_size);
  hiera_plan p;
  memset(&p, 0, sizeof p);
  int rc = plan_hiera(c, &p, err);
  if (rc)
    return rc;
  const __typeof__(c->image_encoder.neck)* nk = &c->image_encoder.neck;
  int n_lv = c->image_encoder.trunk.return_interm_layers ? p.n_out : 1;
  REQ(nk->n_backbone_channel_list == n_lv,
      "model.image_encoder.neck.backbone_channel_list has %d entries, the "
      "trunk gives %d feature maps",
      nk->n_backbone_channel_list,
      n_lv);
  for (int i = 0; i < n_lv; i++) {
    int want = p.out_dim[p.n_out - 1 - i];
    REQ(nk->backbone_channel_list[i] == want,
        "model.image_encoder.neck.backbone_channel_list[%d] = %d, the trunk "
        "gives %d channels there",
        i,
        nk->backbone_channel_list[i],
        want);
  }
  REQ(c->image_encoder.scalp >= 0 && c->image_encoder.scalp < n_lv,
      "model.image_encoder.scalp %d out of range 0..%d",
      c->image_encoder.scalp,
      n_lv - 1);
  REQ(nk->kernel_size == 2 * nk->padding + 1 && nk->stride == 1,
      "model.image_encoder.neck: kernel_size, stride, padding must keep "
      "the size (kernel 2 * padding + 1, stride 1)");
  for (int i = 0; i < nk->n_fpn_top_down_levels; i++)
    REQ(nk->fpn_top_down_levels[i] >= 0 && nk->fpn_top_down_levels[i] < n_lv,
        "model.image_encoder.neck.fpn_top_down_levels[%d] = %d is not a "
        "level",
        i,
        nk->fpn_top_down_levels[i]);
  /* sides of the levels kept (finest first), the last one is the
   * decoder's image embedding */
  int kept = n_lv - c->image_encoder.scalp, side[SAM2_MAX_STAGES];
  for (int i = 0; i < kept; i++)
    side[i] = n_lv == 1 ? p.out_side[p.n_out - 1] : p.out_side[i];
  /* the top-down path upsamples the coarser level by 2 */
  for (int i = 0; i + 1 < n_lv; i++) {
    int td = nk->n_fpn_top_down_levels < 0;
    for (int j = 0; j < nk->n_fpn_top_down_levels; j++)
      td |= nk->fpn_top_down_levels[j] == i;
    REQ(!td || p.out_side[i] == 2 * p.out_side[i + 1],
        "model.image_encoder.neck.fpn_top_down_levels: level %d (side %d) "
        "is not twice level %d (side %d)",
        i,
        p.out_side[i],
        i + 1,
        p.out_side[i + 1]);
  }
  REQ(c->backbone_stride >= 1 && c->image_size % c->backbone_stride == 0 &&
          side[kept - 1] == c->image_size / c->backbone_stride,
      "model.backbone_stride %d: the trunk's level used by the decoder has "
      "side %d, not image_size / backbone_stride",
      c->backbone_stride,
      side[kept - 1]);
  int E = side[kept - 1], C = c->memory_attention.d_model;
  if (c->use_high_res_features_in_sam)
    REQ(kept == 3 && side[0] == 4 * E && side[1] == 2 * E,
        "model.use_high_res_features_in_sam needs exactly three levels "
        "after the scalp, at 4x, 2x and 1x the embedding's side (%d kept)",
        kept);
  REQ(C >= 8 && C % 8 == 0 && nk->d_model == C,
      "model.image_encoder.neck.d_model %d must equal "
      "model.memory_attention.d_model %d (a multiple of 8)",
      nk->d_model,
      C);
  REQ(nk->position_encoding.num_pos_feats == C &&
          nk->position_encoding.num_pos_feats % 4 == 0,
      "model.image_encoder.neck.position_encoding.num_pos_feats %d must "
      "equal d_model %d",
      nk->position_encoding.num_pos_feats,
      C);
  REQ(nk->position_encoding.temperature > 0,
      "model.image_encoder.neck.position_encoding.temperature must be "
      "positive");
  /* memory attention */
  const __typeof__(c->memory_attention)* ma = &c->memory_attention;
  const __typeof__(c->memory_encoder)* me = &c->memory_encoder;
  int mem_dim = me->out_dim;
  REQ(ma->num_layers >= 0 && ma->num_layers <= 64,
      "model.memory_attention.num_layers %d out of range 0..64",
      ma->num_layers);
  REQ(ma->layer.d_model == C,
      "model.memory_attention.layer.d_model %d differs from d_model %d",
      ma->layer.d_model,
      C);
  REQ(ma->layer.dim_feedforward >= 1,
      "model.memory_attention.layer.dim_feedforward must be positive");
  REQ(ma->batch_first, "model.memory_attention.batch_first: only true");
  if ((rc = check_rope(
           &ma->layer.self_attention,
           "model.memory_attention.layer.self_attention",
           C,
           C,
           err)) ||
      (rc = check_rope(
           &ma->layer.cross_attention,
           "model.memory_attention.layer.cross_attention",
           C,
           mem_dim,
           err)))
    return rc;
  /* memory encoder */
  REQ(mem_dim >= 1 && mem_dim <= C && C % mem_dim == 0,
      "model.memory_encoder.out_dim %d must divide d_model %d",
      mem_dim,
      C);
  REQ(me->in_dim == C,
      "model.memory_encoder.in_dim %d differs from the features' %d",
      me->in_dim,
      C);
  REQ(me->mask_downsampler.embed_dim == me->in_dim,
      "model.memory_encoder.mask_downsampler.embed_dim %d differs from "
      "in_dim %d",
      me->mask_downsampler.embed_dim,
      me->in_dim);
  REQ(me->fuser.layer.dim == me->in_dim &&
          (!me->fuser.input_projection || me->fuser.dim == me->in_dim),
      "model.memory_encoder.fuser: layer.dim (and dim) must equal in_dim %d",
      me->in_dim);
  REQ(me->fuser.num_layers >= 0 && me->fuser.num_layers <= 64 &&
          me->fuser.layer.kernel_size >= 1 &&
          me->fuser.layer.kernel_size == 2 * me->fuser.layer.padding + 1,
      "model.memory_encoder.fuser: num_layers 0..64, kernel_size = 2 * "
      "padding + 1");
  REQ(me->position_encoding.num_pos_feats == mem_dim && mem_dim % 4 == 0 &&
          me->position_encoding.temperature > 0,
      "model.memory_encoder.position_encoding.num_pos_feats %d must equal "
      "out_dim %d (a multiple of 4)",
      me->position_encoding.num_pos_feats,
      mem_dim);
  {
    const __typeof__(me->mask_downsampler)* md = &me->mask_downsampler;
    REQ(md->stride >= 2 && md->total_stride >= md->stride &&
            md->kernel_size >= 1 && md->padding >= 0,
        "model.memory_encoder.mask_downsampler: stride >= 2, total_stride "
        ">= stride");
    int n = 0, t = 1;
    while (t < md->total_stride && n < 16) {
      t *= md->stride;
      n++;
    }
    REQ(t == md->total_stride,
        "model.memory_encoder.mask_downsampler.total_stride %d is not a "
        "power of stride %d",
        md->total_stride,
        md->stride);
    int s = c->image_size;
    for (int i = 0; i < n; i++)
      s = (s + 2 * md->padding - md->kernel_size) / md->stride + 1;
    REQ(s == E,
        "model.memory_encoder.mask_downsampler turns a %d px mask into %d x "
        "%d, the features are %d x %d",
        c->image_size,
        s,
        s,
        E,
        E);
  }
  /* SAM2Base */
  REQ(c->num_maskmem >= 0 && c->num_maskmem <= 64,
      "model.num_maskmem %d out of range 0..64",
      c->num_maskmem);
  REQ(c->memory_temporal_stride_for_eval >= 1,
      "model.memory_temporal_stride_for_eval must be >= 1");
  REQ(c->max_obj_ptrs_in_encoder >= 1,
      "model.max_obj_ptrs_in_encoder must be >= 1");
  REQ(c->max_cond_frames_in_attn == -1 || c->max_cond_frames_in_attn >= 2,
      "model.max_cond_frames_in_attn: -1 or >= 2");
  REQ(c->multimask_min_pt_num >= 0 &&
          c->multimask_min_pt_num <= c->multimask_max_pt_num,
      "model.multimask_min_pt_num / multimask_max_pt_num out of order");
  REQ(!c->proj_tpos_enc_in_obj_ptrs || c->add_tpos_enc_to_obj_ptrs,
      "model.proj_tpos_enc_in_obj_ptrs needs add_tpos_enc_to_obj_ptrs");
  REQ(!c->fixed_no_obj_ptr ||
          (c->pred_obj_scores && c->use_obj_ptrs_in_encoder),
      "model.fixed_no_obj_ptr needs pred_obj_scores and "
      "use_obj_ptrs_in_encoder");
  REQ(c->fill_hole_area >= 0 && c->fill_hole_area <= 1 << 24,
      "model.fill_hole_area must be >= 0");
  REQ(c->sam_mask_decoder_extra_args.dynamic_multimask_stability_delta >= 0,
      "model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta "
      "must be >= 0");
  REQ((C / c->attention_downsample_rate) % c->decoder_num_heads == 0,
      "d_model %d does not split into %d decoder heads",
      C,
      c->decoder_num_heads);
  for (int i = 0; i < 3; i++)
    REQ(c->pixel_std[i] > 0, "pixel_std must be positive");
#undef REQ
  return SF_OK;
}

/* ---------------------------------------------------------------- YAML */

enum ftype {
  F_INT,
  F_BOOL,
  F_DOUBLE,
  F_SCALE, /* double or null (0) */
  F_INT_OR_NULL, /* int or null (0) */
  F_PAIR, /* [a, b] */
  F_LIST, /* [..] with a count */
  F_LIST_OR_NULL, /* [..] or null (count -1) */
  F_INTERP,
  F_ACT,
  F_FUSE
};

typedef struct field {
  const char* path; /* below `model.` */
  int type;
  size_t off;
  size_t count_off; /* F_LIST*: the count's offset */
  int max; /* F_LIST*: capacity */
  int required; /* no default in the official constructor */
} field;

#define O(m) offsetof(sam2_config, m)
#define IE "image_encoder."
#define TR IE "trunk."
#define NK IE "neck."
#define MA "memory_attention."
#define LY MA "layer."
#define ME "memory_encoder."
#define ATT(P, M)                                                  \
  {P "rope_theta", F_DOUBLE, O(M.rope_theta), 0, 0, 0},            \
      {P "feat_sizes", F_PAIR, O(M.feat_sizes), 0, 0, 0},          \
      {P "rope_k_repeat", F_BOOL, O(M.rope_k_repeat), 0, 0, 0},    \
      {P "embedding_dim", F_INT, O(M.embedding_dim), 0, 0, 1},     \
      {P "num_heads", F_INT, O(M.num_heads), 0, 0, 1},             \
      {P "downsample_rate", F_INT, O(M.downsample_rate), 0, 0, 0}, \
      {P "dropout", F_DOUBLE, O(M.dropout), 0, 0, 0}, {            \
    P "kv_in_dim", F_INT_OR_NULL, O(M.kv_in_dim), 0, 0, 0          \
  }
#define PE(P, M)                                              \
  {P "num_pos_feats", F_INT, O(M.num_pos_feats), 0, 0, 1},    \
      {P "temperature", F_DOUBLE, O(M.temperature), 0, 0, 0}, \
      {P "normalize", F_BOOL, O(M.normalize), 0, 0, 0}, {     \
    P "scale", F_SCALE, O(M.scale), 0, 0, 0                   \
  }
#define B(name) \
  { #name, F_BOOL, O(name), 0, 0, 0 }

static const field fields[] = {
    {IE "scalp", F_INT, O(image_encoder.scalp), 0, 0, 0},
    {TR "embed_dim", F_INT, O(image_encoder.trunk.embed_dim), 0, 0, 0},
    {TR "num_heads", F_INT, O(image_encoder.trunk.num_heads), 0, 0, 0},
    {TR "drop_path_rate",
     F_DOUBLE,
     O(image_encoder.trunk.drop_path_rate),
     0,
     0,
     0},
    {TR "q_pool", F_INT, O(image_encoder.trunk.q_pool), 0, 0, 0},
    {TR "q_stride", F_PAIR, O(image_encoder.trunk.q_stride), 0, 0, 0},
    {TR "stages",
     F_LIST,
     O(image_encoder.trunk.stages),
     O(image_encoder.trunk.n_stages),
     SAM2_MAX_STAGES,
     0},
    {TR "dim_mul", F_DOUBLE, O(image_encoder.trunk.dim_mul), 0, 0, 0},
    {TR "head_mul", F_DOUBLE, O(image_encoder.trunk.head_mul), 0, 0, 0},
    {TR "window_pos_embed_bkg_spatial_size",
     F_PAIR,
     O(image_encoder.trunk.window_pos_embed_bkg_spatial_size),
     0,
     0,
     0},
    {TR "window_spec",
     F_LIST,
     O(image_encoder.trunk.window_spec),
     O(image_encoder.trunk.n_window_spec),
     SAM2_MAX_STAGES,
     0},
    {TR "global_att_blocks",
     F_LIST,
     O(image_encoder.trunk.global_att_blocks),
     O(image_encoder.trunk.n_global_att_blocks),
     SAM2_MAX_LIST,
     0},
    {TR "return_interm_layers",
     F_BOOL,
     O(image_encoder.trunk.return_interm_layers),
     0,
     0,
     0},
    PE(NK "position_encoding.", image_encoder.neck.position_encoding),
    {NK "d_model", F_INT, O(image_encoder.neck.d_model), 0, 0, 1},
    {NK "backbone_channel_list",
     F_LIST,
     O(image_encoder.neck.backbone_channel_list),
     O(image_encoder.neck.n_backbone_channel_list),
     SAM2_MAX_STAGES,
     1},
    {NK "kernel_size", F_INT, O(image_encoder.neck.kernel_size), 0, 0, 0},
    {NK "stride", F_INT, O(image_encoder.neck.stride), 0, 0, 0},
    {NK "padding", F_INT, O(image_encoder.neck.padding), 0, 0, 0},
    {NK "fpn_interp_model",
     F_INTERP,
     O(image_encoder.neck.fpn_interp_model),
     0,
     0,
     0},
    {NK "fuse_type", F_FUSE, O(image_encoder.neck.fuse_type), 0, 0, 0},
    {NK "fpn_top_down_levels",
     F_LIST_OR_NULL,
     O(image_encoder.neck.fpn_top_down_levels),
     O(image_encoder.neck.n_fpn_top_down_levels),
     SAM2_MAX_STAGES,
     0},
    {MA "d_model", F_INT, O(memory_attention.d_model), 0, 0, 1},
    {MA "pos_enc_at_input",
     F_BOOL,
     O(memory_attention.pos_enc_at_input),
     0,
     0,
     1},
    {MA "num_layers", F_INT, O(memory_attention.num_layers), 0, 0, 1},
    {MA "batch_first", F_BOOL, O(memory_attention.batch_first), 0, 0, 0},
    {LY "activation", F_ACT, O(memory_attention.layer.activation), 0, 0, 1},
    {LY "dim_feedforward",
     F_INT,
     O(memory_attention.layer.dim_feedforward),
     0,
     0,
     1},
    {LY "dropout", F_DOUBLE, O(memory_attention.layer.dropout), 0, 0, 1},
    {LY "pos_enc_at_attn",
     F_BOOL,
     O(memory_attention.layer.pos_enc_at_attn),
     0,
     0,
     1},
    {LY "pos_enc_at_cross_attn_keys",
     F_BOOL,
     O(memory_attention.layer.pos_enc_at_cross_attn_keys),
     0,
     0,
     1},
    {LY "pos_enc_at_cross_attn_queries",
     F_BOOL,
     O(memory_attention.layer.pos_enc_at_cross_attn_queries),
     0,
     0,
     1},
    {LY "d_model", F_INT, O(memory_attention.layer.d_model), 0, 0, 1},
    ATT(LY "self_attention.", memory_attention.layer.self_attention),
    ATT(LY "cross_attention.", memory_attention.layer.cross_attention),
    {ME "out_dim", F_INT, O(memory_encoder.out_dim), 0, 0, 1},
    {ME "in_dim", F_INT, O(memory_encoder.in_dim), 0, 0, 0},
    PE(ME "position_encoding.", memory_encoder.position_encoding),
    {ME "mask_downsampler.embed_dim",
     F_INT,
     O(memory_encoder.mask_downsampler.embed_dim),
     0,
     0,
     0},
    {ME "mask_downsampler.kernel_size",
     F_INT,
     O(memory_encoder.mask_downsampler.kernel_size),
     0,
     0,
     0},
    {ME "mask_downsampler.stride",
     F_INT,
     O(memory_encoder.mask_downsampler.stride),
     0,
     0,
     0},
    {ME "mask_downsampler.padding",
     F_INT,
     O(memory_encoder.mask_downsampler.padding),
     0,
     0,
     0},
    {ME "mask_downsampler.total_stride",
     F_INT,
     O(memory_encoder.mask_downsampler.total_stride),
     0,
     0,
     0},
    {ME "mask_downsampler.activation",
     F_ACT,
     O(memory_encoder.mask_downsampler.activation),
     0,
     0,
     0},
    {ME "fuser.num_layers", F_INT, O(memory_encoder.fuser.num_layers), 0, 0, 1},
    {ME "fuser.dim", F_INT_OR_NULL, O(memory_encoder.fuser.dim), 0, 0, 0},
    {ME "fuser.input_projection",
     F_BOOL,
     O(memory_encoder.fuser.input_projection),
     0,
     0,
     0},
    {ME "fuser.layer.dim", F_INT, O(memory_encoder.fuser.layer.dim), 0, 0, 1},
    {ME "fuser.layer.kernel_size",
     F_INT,
     O(memory_encoder.fuser.layer.kernel_size),
     0,
     0,
     0},
    {ME "fuser.layer.padding",
     F_INT,
     O(memory_encoder.fuser.layer.padding),
     0,
     0,
     0},
    {ME "fuser.layer.drop_path",
     F_DOUBLE,
     O(memory_encoder.fuser.layer.drop_path),
     0,
     0,
     0},
    {ME "fuser.layer.layer_scale_init_value",
     F_DOUBLE,
     O(memory_encoder.fuser.layer.layer_scale_init_value),
     0,
     0,
     0},
    {ME "fuser.layer.use_dwconv",
     F_BOOL,
     O(memory_encoder.fuser.layer.use_dwconv),
     0,
     0,
     0},
    {"num_maskmem", F_INT, O(num_maskmem), 0, 0, 0},
    {"image_size", F_INT, O(image_size), 0, 0, 0},
    {"backbone_stride", F_INT, O(backbone_stride), 0, 0, 0},
    {"sigmoid_scale_for_mem_enc",
     F_DOUBLE,
     O(sigmoid_scale_for_mem_enc),
     0,
     0,
     0},
    {"sigmoid_bias_for_mem_enc",
     F_DOUBLE,
     O(sigmoid_bias_for_mem_enc),
     0,
     0,
     0},
    B(binarize_mask_from_pts_for_mem_enc),
    B(use_mask_input_as_output_without_sam),
    {"max_cond_frames_in_attn", F_INT, O(max_cond_frames_in_attn), 0, 0, 0},
    B(directly_add_no_mem_embed),
    B(no_obj_embed_spatial),
    B(use_high_res_features_in_sam),
    B(multimask_output_in_sam),
    {"multimask_min_pt_num", F_INT, O(multimask_min_pt_num), 0, 0, 0},
    {"multimask_max_pt_num", F_INT, O(multimask_max_pt_num), 0, 0, 0},
    B(multimask_output_for_tracking),
    B(use_multimask_token_for_obj_ptr),
    B(iou_prediction_use_sigmoid),
    {"memory_temporal_stride_for_eval",
     F_INT,
     O(memory_temporal_stride_for_eval),
     0,
     0,
     0},
    B(add_all_frames_to_correct_as_cond),
    B(non_overlap_masks_for_mem_enc),
    B(use_obj_ptrs_in_encoder),
    {"max_obj_ptrs_in_encoder", F_INT, O(max_obj_ptrs_in_encoder), 0, 0, 0},
    B(add_tpos_enc_to_obj_ptrs),
    B(proj_tpos_enc_in_obj_ptrs),
    B(use_signed_tpos_enc_to_obj_ptrs),
    B(only_obj_ptrs_in_the_past_for_eval),
    B(pred_obj_scores),
    B(pred_obj_scores_mlp),
    B(fixed_no_obj_ptr),
    B(soft_no_obj_ptr),
    B(use_mlp_for_obj_ptr_proj),
    B(compile_image_encoder),
    {"sam_mask_decoder_extra_args.dynamic_multimask_via_stability",
     F_BOOL,
     O(sam_mask_decoder_extra_args.dynamic_multimask_via_stability),
     0,
     0,
     0},
    {"sam_mask_decoder_extra_args.dynamic_multimask_stability_delta",
     F_DOUBLE,
     O(sam_mask_decoder_extra_args.dynamic_multimask_stability_delta),
     0,
     0,
     0},
    {"sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh",
     F_DOUBLE,
     O(sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh),
     0,
     0,
     0},
    {"fill_hole_area", F_INT, O(fill_hole_area), 0, 0, 0},
    B(non_overlap_masks),
    B(clear_non_cond_mem_around_input),
};
#define N_FIELDS (sizeof fields / sizeof fields[0])

/* Mappings, with the class their `_target_` must name (NULL: none) and
 * whether the official constructor requires them. */
static const struct section {
  const char* path; /* below `model.`; "" = model itself */
  const char* target;
  const char* target2;
  int required;
} sections[] = {
    {"",
     "sam2.modeling.sam2_base.SAM2Base",
     "sam2.sam2_video_predictor.SAM2VideoPredictor",
     1},
    {"image_encoder",
     "sam2.modeling.backbones.image_encoder.ImageEncoder",
     NULL,
     1},
    {"image_encoder.trunk", "sam2.modeling.backbones.hieradet.Hiera", NULL, 1},
    {"image_encoder.neck",
     "sam2.modeling.backbones.image_encoder.FpnNeck",
     NULL,
     1},
    {"image_encoder.neck.position_encoding",
     "sam2.modeling.position_encoding.PositionEmbeddingSine",
     NULL,
     1},
    {"memory_attention",
     "sam2.modeling.memory_attention.MemoryAttention",
     NULL,
     1},
    {"memory_attention.layer",
     "sam2.modeling.memory_attention.MemoryAttentionLayer",
     NULL,
     1},
    {"memory_attention.layer.self_attention",
     "sam2.modeling.sam.transformer.RoPEAttention",
     NULL,
     1},
    {"memory_attention.layer.cross_attention",
     "sam2.modeling.sam.transformer.RoPEAttention",
     NULL,
     1},
    {"memory_encoder", "sam2.modeling.memory_encoder.MemoryEncoder", NULL, 1},
    {"memory_encoder.position_encoding",
     "sam2.modeling.position_encoding.PositionEmbeddingSine",
     NULL,
     1},
    {"memory_encoder.mask_downsampler",
     "sam2.modeling.memory_encoder.MaskDownSampler",
     NULL,
     1},
    {"memory_encoder.fuser", "sam2.modeling.memory_encoder.Fuser", NULL, 1},
    {"memory_encoder.fuser.layer",
     "sam2.modeling.memory_encoder.CXBlock",
     NULL,
     1},
    {"sam_mask_decoder_extra_args", NULL, NULL, 0},
};
#define N_SECTIONS (sizeof sections / sizeof sections[0])

typedef struct yctx {
  const char* name;
  yaml_document_t* doc;
  sam2_config* c;
  unsigned char seen_field[N_FIELDS];
  unsigned char seen_section[N_SECTIONS];
  const yaml_node_t* section_node[N_SECTIONS];
  sf_err* err;
} yctx;

static int at(yctx* y, const yaml_node_t* n, const char* fmt, const char* a) {
  return sf_err_at(
      y->err,
      SF_ECONFIG,
      y->name,
      (int)n->start_mark.line + 1,
      (int)n->start_mark.column + 1,
      fmt,
      a);
}

static const char* scalar(const yaml_node_t* n) {
  return n->type == YAML_SCALAR_NODE ? (const char*)n->data.scalar.value : NULL;
}

static int is_null(const yaml_node_t* n) {
  const char* s = scalar(n);
  return s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
      (!*s || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL") ||
       !strcmp(s, "~"));
}

static int parse_int(const yaml_node_t* n, int* out) {
  const char* s = scalar(n);
  if (!s || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return -1;
  char* end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end || errno || v < -100000000 || v > 100000000)
    return -1;
  *out = (int)v;
  return 0;
}

static int parse_double(const yaml_node_t* n, double* out) {
  const char* s = scalar(n);
  if (!s || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return -1;
  char* end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end || errno || !isfinite(v) || strchr(s, 'x') ||
      strchr(s, 'X'))
    return -1;
  *out = v;
  return 0;
}

static int parse_bool(const yaml_node_t* n, int* out) {
  const char* s = scalar(n);
  if (!s || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return -1;
  if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
    *out = 1;
  else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
    *out = 0;
  else
    return -1;
  return 0;
}

static int parse_list(yctx* y, const yaml_node_t* v, int* dst, int max) {
  if (v->type != YAML_SEQUENCE_NODE)
    return -1;
  int n = 0;
  for (yaml_node_item_t* it = v->data.sequence.items.start;
       it < v->data.sequence.items.top;
       it++) {
    const yaml_node_t* e = yaml_document_get_node(y->doc, *it);
    if (n >= max || !e || parse_int(e, &dst[n]))
      return -1;
    n++;
  }
  return n;
}

static int set_field(
    yctx* y,
    const field* f,
    const yaml_node_t* v,
    const char* full) {
  char* base = (char*)y->c;
  int* ip = (int*)(base + f->off);
  double* dp = (double*)(base + f->off);
  const char* s = scalar(v);
  int ok = 0, tmp[SAM2_MAX_LIST];
  switch (f->type) {
    case F_INT:
      ok = !parse_int(v, ip);
      break;
    case F_BOOL:
      ok = !parse_bool(v, ip);
      break;
    case F_DOUBLE:
      ok = !parse_double(v, dp);
      break;
    case F_SCALE:
      if (is_null(v)) {
        *dp = 0;
        ok = 1;
      } else {
        ok = !parse_double(v, dp) && *dp > 0;
      }
      break;
    case F_INT_OR_NULL:
      if (is_null(v)) {
        *ip = 0;
        ok = 1;
      } else {
        ok = !parse_int(v, ip) && *ip > 0;
      }
      break;
    case F_PAIR: {
      int n = parse_list(y, v, tmp, 2);
      if ((ok = n == 2))
        ip[0] = tmp[0], ip[1] = tmp[1];
      break;
    }
    case F_LIST_OR_NULL:
      if (is_null(v)) {
        *(int*)(base + f->count_off) = -1;
        ok = 1;
        break;
      }
      /* fall through */
    case F_LIST: {
      int n = parse_list(y, v, tmp, f->max);
      if ((ok = n >= 0)) {
        memcpy(ip, tmp, (size_t)n * sizeof(int));
        *(int*)(base + f->count_off) = n;
      }
      break;
    }
    case F_INTERP:
      if ((ok = s != NULL)) {
        if (!strcmp(s, "nearest"))
          *ip = SAM2_INTERP_NEAREST;
        else if (!strcmp(s, "bilinear"))
          *ip = SAM2_INTERP_BILINEAR;
        else if (!strcmp(s, "bicubic"))
          *ip = SAM2_INTERP_BICUBIC;
        else
          ok = 0;
      }
      break;
    case F_ACT:
      if ((ok = s != NULL)) {
        if (!strcmp(s, "relu"))
          *ip = SAM2_ACT_RELU;
        else if (!strcmp(s, "gelu"))
          *ip = SAM2_ACT_GELU;
        else
          ok = 0;
      }
      break;
    case F_FUSE:
      if ((ok = s != NULL)) {
        if (!strcmp(s, "sum"))
          *ip = 0;
        else if (!strcmp(s, "avg"))
          *ip = 1;
        else
          ok = 0;
      }
      break;
  }
  if (ok)
    return SF_OK;
  static const char* const what[] = {
      "an integer",
      "true or false",
      "a number",
      "a positive number or null",
      "a positive integer or null",
      "a list of two integers",
      "a list of integers",
      "a list of integers or null",
      "nearest, bilinear or bicubic",
      "relu or gelu",
      "sum or avg"};
  char m[300];
  snprintf(m, sizeof m, "model.%.200s: expected %s", full, what[f->type]);
  return at(y, v, "%s", m);
}

static int walk(yctx* y, const yaml_node_t* map, const char* prefix) {
  int si = -1;
  for (size_t i = 0; i < N_SECTIONS; i++)
    if (!strcmp(sections[i].path, prefix))
      si = (int)i;
  y->seen_section[si] = 1;
  y->section_node[si] = map;
  for (yaml_node_pair_t* p = map->data.mapping.pairs.start;
       p < map->data.mapping.pairs.top;
       p++) {
    const yaml_node_t* k = yaml_document_get_node(y->doc, p->key);
    const yaml_node_t* v = yaml_document_get_node(y->doc, p->value);
    const char* key = k ? scalar(k) : NULL;
    if (!key || !v)
      return at(y, k ? k : map, "keys must be plain strings%s", "");
    char full[256];
    if (snprintf(
            full, sizeof full, "%s%s%s", prefix, *prefix ? "." : "", key) >=
        (int)sizeof full)
      return at(y, k, "key path too long at '%.100s'", key);
    if (!strcmp(key, "_target_")) {
      const char* t = scalar(v);
      if (!sections[si].target)
        return at(y, k, "unknown key 'model.%s' (no _target_ here)", full);
      if (!t ||
          (strcmp(t, sections[si].target) &&
           (!sections[si].target2 || strcmp(t, sections[si].target2)))) {
        char m[400];
        snprintf(
            m,
            sizeof m,
            "model.%.150s: expected %.150s",
            full,
            sections[si].target);
        return at(y, v, "%s", m);
      }
      continue;
    }
    int sub = -1;
    for (size_t i = 0; i < N_SECTIONS; i++)
      if (!strcmp(sections[i].path, full))
        sub = (int)i;
    if (sub >= 0) {
      if (y->seen_section[sub])
        return at(y, k, "duplicate key 'model.%s'", full);
      if (v->type != YAML_MAPPING_NODE)
        return at(y, v, "model.%s: expected a mapping", full);
      int rc = walk(y, v, full);
      if (rc)
        return rc;
      continue;
    }
    size_t fi = 0;
    while (fi < N_FIELDS && strcmp(fields[fi].path, full))
      fi++;
    if (fi == N_FIELDS)
      return at(y, k, "unknown key 'model.%s'", full);
    if (y->seen_field[fi])
      return at(y, k, "duplicate key 'model.%s'", full);
    y->seen_field[fi] = 1;
    int rc = set_field(y, &fields[fi], v, full);
    if (rc)
      return rc;
  }
  return SF_OK;
}

/* The innermost section seen that holds `path` (for a missing key's
 * position). */
static const yaml_node_t* holder(const yctx* y, const char* path) {
  const yaml_node_t* best = y->section_node[0];
  size_t best_len = 0;
  for (size_t i = 1; i < N_SECTIONS; i++) {
    size_t n = strlen(sections[i].path);
    if (y->seen_section[i] && n > best_len &&
        !strncmp(path, sections[i].path, n) && path[n] == '.') {
      best = y->section_node[i];
      best_len = n;
    }
  }
  return best;
}

int sam2_config_parse(
    const char* name,
    const char* text,
    size_t n,
    sam2_config* out,
    sf_err* err) {
  yaml_parser_t parser;
  yaml_document_t doc;
  int rc = SF_OK, have_doc = 0;
  yctx* y = NULL;
  sam2_config c;
  defaults(&c);
  if (!name)
    name = "<model config>";
  if (!text || !out)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  if (!yaml_parser_initialize(&parser))
    return sf_err_set(err, SF_ENOMEM, "out of memory");
  yaml_parser_set_input_string(&parser, (const unsigned char*)text, n);
  if (!yaml_parser_load(&parser, &doc)) {
    rc = sf_err_at(
        err,
        SF_ECONFIG,
        name,
        (int)parser.problem_mark.line + 1,
        (int)parser.problem_mark.column + 1,
        "YAML: %s",
        parser.problem ? parser.problem : "syntax error");
    goto out;
  }
  have_doc = 1;
  if (!(y = calloc(1, sizeof *y))) {
    rc = sf_err_set(err, SF_ENOMEM, "out of memory");
    goto out;
  }
  y->name = name;
  y->doc = &doc;
  y->c = &c;
  y->err = err;
  yaml_node_t* root = yaml_document_get_root_node(&doc);
  if (!root) {
    rc = sf_err_at(err, SF_ECONFIG, name, 1, 1, "empty model config");
    goto out;
  }
  if (root->type != YAML_MAPPING_NODE) {
    rc = at(y, root, "a SAM 2 model config is a mapping with `model:`%s", "");
    goto out;
  }
  const yaml_node_t* model = NULL;
  for (yaml_node_pair_t* p = root->data.mapping.pairs.start;
       p < root->data.mapping.pairs.top;
       p++) {
    const yaml_node_t* k = yaml_document_get_node(&doc, p->key);
    const yaml_node_t* v = yaml_document_get_node(&doc, p->value);
    const char* key = k ? scalar(k) : NULL;
    if (!key || strcmp(key, "model")) {
      rc =
          at(y,
             k ? k : root,
             "unknown top-level key '%.100s' (expected "
             "model)",
             key ? key : "?");
      goto out;
    }
    if (model) {
      rc = at(y, k, "duplicate key 'model'%s", "");
      goto out;
    }
    if (!v || v->type != YAML_MAPPING_NODE) {
      rc = at(y, v ? v : k, "model: expected a mapping%s", "");
      goto out;
    }
    model = v;
  }
  if (!model) {
    rc = sf_err_at(err, SF_ECONFIG, name, 1, 1, "missing key 'model'");
    goto out;
  }
  if ((rc = walk(y, model, "")))
    goto out;
  for (size_t i = 0; i < N_SECTIONS; i++)
    if (sections[i].required && !y->seen_section[i]) {
      const yaml_node_t* h = holder(y, sections[i].path);
      char m[300];
      snprintf(m, sizeof m, "missing key 'model.%s'", sections[i].path);
      rc = at(y, h, "%s", m);
      goto out;
    }
  for (size_t i = 0; i < N_FIELDS; i++)
    if (fields[i].required && !y->seen_field[i]) {
      const yaml_node_t* h = holder(y, fields[i].path);
      char m[300];
      snprintf(m, sizeof m, "missing key 'model.%s'", fields[i].path);
      rc = at(y, h, "%s", m);
      goto out;
    }
  if ((rc = sam2_config_validate(&c, err))) {
    sf_err_wrap(err, "%s", name);
    goto out;
  }
  *out = c;
out:
  free(y);
  if (have_doc)
    yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  return rc;
}

#define MAX_CONFIG_BYTES (1u << 20)

static int read_text(
    const char* path,
    size_t limit,
    char** out,
    size_t* n,
    int quiet,
    sf_err* err) {
  FILE* f = fopen(path, "rb");
  if (!f)
    return quiet ? SF_EIO
                 : sf_err_set(
                       err,
                       SF_EIO,
                       "%s: %s (not a SAM 2 preset: sam2.1_hiera_t, "
                       "sam2.1_hiera_s, sam2.1_hiera_b+, sam2.1_hiera_l)",
                       path,
                       strerror(errno));
  char* buf = malloc(limit + 1);
  int rc = SF_OK;
  if (!buf) {
    rc = quiet ? SF_ENOMEM : sf_err_set(err, SF_ENOMEM, "out of memory");
    goto out;
  }
  size_t k = fread(buf, 1, limit + 1, f);
  if (ferror(f)) {
    rc = quiet ? SF_EIO : sf_err_set(err, SF_EIO, "%s: read error", path);
    goto out;
  }
  if (k > limit && !quiet) {
    rc = sf_err_set(err, SF_ECONFIG, "%s: model config over 1 MiB", path);
    goto out;
  }
  if (k > limit)
    k = limit;
  buf[k] = '\0';
  *out = buf;
  *n = k;
  buf = NULL;
out:
  free(buf);
  fclose(f);
  return rc;
}

int sam2_config_load(const char* spec, sam2_config* out, sf_err* err) {
  if (!spec || !out)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  if (sam2_config_is_preset(spec))
    return sam2_config_preset(spec, out, err);
  char* buf = NULL;
  size_t n = 0;
  int rc = read_text(spec, MAX_CONFIG_BYTES, &buf, &n, 0, err);
  if (rc == SF_OK)
    rc = sam2_config_parse(spec, buf, n, out, err);
  free(buf);
  return rc;
}

int sam2_config_spec_is_sam2(const char* spec) {
  if (!spec)
    return 0;
  if (sam2_config_is_preset(spec))
    return 1;
  char* buf = NULL;
  size_t n = 0;
  if (read_text(spec, 65536, &buf, &n, 1, NULL))
    return 0;
  int yes = 0;
  /* The first line that is not blank, a comment or a directive. */
  for (char* line = buf; line && *line;) {
    char* nl = strchr(line, '\n');
    char* s = line;
    while (*s == ' ' || *s == '\t' || *s == '\r')
      s++;
    if (*s && *s != '#' && *s != '%' && *s != '\n' && strncmp(s, "---", 3)) {
      yes = !strncmp(s, "model:", 6) && s == line;
      break;
    }
    line = nl ? nl + 1 : NULL;
  }
  free(buf);
  return yes;
}
