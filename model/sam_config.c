/*
 * sam_config.c - model configurations: the built-in presets (the
 * reference's build_sam_vit_{b,l,h} and MedSAM) and YAML model configs
 * that use the reference's parameter names.
 */
#include "sam_int.h"
#include "sf_yaml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char* const sam__preset_names[] =
    {"vit_b", "vit_l", "vit_h", "medsam", NULL};

/* _build_sam's fixed parts, shared by every preset. */
static void base_config(sam_config* c) {
  memset(c, 0, sizeof *c);
  c->image_size = 1024;
  c->patch_size = 16;
  c->window_size = 14;
  c->prompt_embed_dim = 256;
  c->preprocess = SAM_PREPROCESS_SAM;
  c->multimask_trained = 1;
  c->mlp_ratio = 4.0;
  c->mask_in_chans = 16;
  c->decoder_depth = 2;
  c->decoder_mlp_dim = 2048;
  c->decoder_num_heads = 8;
  c->attention_downsample_rate = 2;
  c->num_multimask_outputs = 3;
  c->iou_head_depth = 3;
  c->iou_head_hidden_dim = 256;
  const float mean[3] = {123.675f, 116.28f, 103.53f};
  const float std[3] = {58.395f, 57.12f, 57.375f};
  memcpy(c->pixel_mean, mean, sizeof mean);
  memcpy(c->pixel_std, std, sizeof std);
}

static void encoder(
    sam_config* c,
    int dim,
    int depth,
    int heads,
    const int* global,
    int n_global) {
  c->encoder_embed_dim = dim;
  c->encoder_depth = depth;
  c->encoder_num_heads = heads;
  c->n_encoder_global_attn_indexes = n_global;
  for (int i = 0; i < n_global; i++)
    c->encoder_global_attn_indexes[i] = global[i];
}

int sam_config_preset(const char* name, sam_config* out, sf_err* err) {
  sam_config c;
  base_config(&c);
  if (!name)
    return sf_err_set(err, SF_EINVAL, "no preset name");
  if (!strcmp(name, "vit_b") || !strcmp(name, "medsam")) {
    encoder(&c, 768, 12, 12, (const int[]){2, 5, 8, 11}, 4);
    if (!strcmp(name, "medsam"))
      c.preprocess = SAM_PREPROCESS_MEDSAM;
  } else if (!strcmp(name, "vit_l")) {
    encoder(&c, 1024, 24, 16, (const int[]){5, 11, 17, 23}, 4);
  } else if (!strcmp(name, "vit_h")) {
    encoder(&c, 1280, 32, 16, (const int[]){7, 15, 23, 31}, 4);
  } else {
    return sf_err_set(
        err,
        SF_EINVAL,
        "unknown model preset '%s' (known: "
        "vit_b, vit_l, vit_h, medsam)",
        name);
  }
  *out = c;
  return SF_OK;
}

const char* sam_preprocess_name(int preprocess) {
  return preprocess == SAM_PREPROCESS_MEDSAM ? "medsam" : "sam";
}

int sam_config_validate(const sam_config* c, sf_err* err) {
#define REQ(cond, ...) \
  if (!(cond))         \
  return sf_err_set(err, SF_ECONFIG, __VA_ARGS__)
  REQ(c->image_size >= 16 && c->image_size <= 8192,
      "image_size %d out of range 16..8192",
      c->image_size);
  REQ(c->patch_size >= 1 && c->image_size % c->patch_size == 0,
      "image_size %d is not a multiple of patch_size %d",
      c->image_size,
      c->patch_size);
  REQ(c->encoder_depth >= 1 && c->encoder_depth <= SAM_MAX_DEPTH,
      "encoder_depth %d out of range 1..%d",
      c->encoder_depth,
      SAM_MAX_DEPTH);
  REQ(c->encoder_num_heads >= 1 && c->encoder_embed_dim >= 1 &&
          c->encoder_embed_dim % c->encoder_num_heads == 0,
      "encoder_embed_dim %d is not a multiple of encoder_num_heads %d",
      c->encoder_embed_dim,
      c->encoder_num_heads);
  REQ(c->window_size >= 0 && c->window_size <= c->image_size / c->patch_size,
      "window_size %d out of range 0..%d",
      c->window_size,
      c->image_size / c->patch_size);
  REQ(c->n_encoder_global_attn_indexes >= 0 &&
          c->n_encoder_global_attn_indexes <= c->encoder_depth,
      "too many encoder_global_attn_indexes");
  for (int i = 0; i < c->n_encoder_global_attn_indexes; i++)
    REQ(c->encoder_global_attn_indexes[i] >= 0 &&
            c->encoder_global_attn_indexes[i] < c->encoder_depth,
        "encoder_global_attn_indexes[%d] = %d is not a block index "
        "(0..%d)",
        i,
        c->encoder_global_attn_indexes[i],
        c->encoder_depth - 1);
  /* The decoder attention runs at prompt_embed_dim / downsample with
   * decoder_num_heads heads; the PE splits the dim in sin/cos halves and
   * the upscaling divides it by 8. */
  REQ(c->decoder_num_heads >= 1 && c->attention_downsample_rate >= 1 &&
          c->prompt_embed_dim % 8 == 0 &&
          (c->prompt_embed_dim / c->attention_downsample_rate) %
                  c->decoder_num_heads ==
              0 &&
          c->prompt_embed_dim % c->decoder_num_heads == 0,
      "prompt_embed_dim %d must be a multiple of 8 and of the decoder "
      "heads (%d) times the attention downsample rate (%d)",
      c->prompt_embed_dim,
      c->decoder_num_heads,
      c->attention_downsample_rate);
  /* The stem halves the side per convolution: it reaches patch/4 and
   * patch/2 only for a power-of-two patch of at least 8. */
  REQ(c->high_res_features >= 0 &&
          (c->high_res_features == 0 ||
           (c->patch_size >= 8 && (c->patch_size & (c->patch_size - 1)) == 0)),
      "high_res_features needs a power-of-two patch_size >= 8 (got %d)",
      c->patch_size);
  REQ(c->conv_stem == 0 || (c->conv_stem == 1 && c->high_res_features > 0),
      "conv_stem: expected 0, or 1 with high_res_features > 0 (got %d)",
      c->conv_stem);
  REQ(c->mask_in_chans >= 4 && c->mask_in_chans % 4 == 0,
      "mask_in_chans %d must be a positive multiple of 4",
      c->mask_in_chans);
  REQ(c->mlp_ratio > 0 && c->decoder_depth >= 1 && c->decoder_mlp_dim >= 1 &&
          c->num_multimask_outputs >= 1 && c->iou_head_depth >= 1 &&
          c->iou_head_hidden_dim >= 1,
      "decoder settings out of range");
  REQ(c->preprocess == SAM_PREPROCESS_SAM ||
          c->preprocess == SAM_PREPROCESS_MEDSAM,
      "preprocess must be sam or medsam");
  for (int i = 0; i < 3; i++)
    REQ(c->pixel_std[i] > 0, "pixel_std must be positive");
#undef REQ
  return SF_OK;
}

/* ------------------------------------------------------------- YAML */

/* SF_ECONFIG at node n: fmt takes the key (or ""). */
static int at(
    const sf_yaml* y,
    const yaml_node_t* n,
    const char* fmt,
    const char* key) {
  char msg[300];
  snprintf(msg, sizeof msg, fmt, key);
  return sf_yaml_error(y, n, "%s", msg);
}

static int scalar_int(const yaml_node_t* n, int* out) {
  if (n->type != YAML_SCALAR_NODE)
    return -1;
  const char* s = (const char*)n->data.scalar.value;
  char* end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end || errno || v < -1000000 || v > 1000000)
    return -1;
  *out = (int)v;
  return 0;
}

/* Long by design (~190 lines): the schema walk of one model config, preset
 * first, then each key in place with its own check: the list of keys is
 * the function. */
int sam_config_parse(
    const char* name,
    const char* text,
    size_t n,
    sam_config* out,
    sf_err* err) {
  sf_yaml y = {0};
  int rc = SF_OK;
  sam_config c;
  sam_config_preset("vit_b", &c, NULL);
  if ((rc = sf_yaml_load(&y, name, text, n, err)))
    goto out;
  yaml_node_t* root = sf_yaml_root(&y);
  if (!root) {
    rc = sf_err_at(err, SF_ECONFIG, name, 0, 0, "empty model config");
    goto out;
  }
  if (root->type != YAML_MAPPING_NODE) {
    rc = at(&y, root, "model config must be a mapping%s", "");
    goto out;
  }
  const yaml_node_t* dup = sf_yaml_duplicate(&y, root);
  if (dup) {
    rc = at(&y, dup, "duplicate key '%s'", sf_yaml_scalar(dup));
    goto out;
  }
  /* `preset` first, whatever its position: it sets the base. */
  for (yaml_node_pair_t* p = root->data.mapping.pairs.start;
       p < root->data.mapping.pairs.top;
       p++) {
    yaml_node_t* k = sf_yaml_node(&y, p->key);
    yaml_node_t* v = sf_yaml_node(&y, p->value);
    if (k->type == YAML_SCALAR_NODE &&
        !strcmp((const char*)k->data.scalar.value, "preset")) {
      if (v->type != YAML_SCALAR_NODE ||
          sam_config_preset((const char*)v->data.scalar.value, &c, NULL)) {
        rc =
            at(&y,
               v,
               "preset: expected one of vit_b, "
               "vit_l, vit_h, medsam%s",
               "");
        goto out;
      }
    }
  }
  static const struct {
    const char* key;
    size_t off;
    int lo;
  } ints[] = {
      {"image_size", offsetof(sam_config, image_size), 16},
      {"patch_size", offsetof(sam_config, patch_size), 1},
      {"encoder_embed_dim", offsetof(sam_config, encoder_embed_dim), 1},
      {"encoder_depth", offsetof(sam_config, encoder_depth), 1},
      {"encoder_num_heads", offsetof(sam_config, encoder_num_heads), 1},
      {"window_size", offsetof(sam_config, window_size), 0},
      {"prompt_embed_dim", offsetof(sam_config, prompt_embed_dim), 8},
      {"high_res_features", offsetof(sam_config, high_res_features), 0},
      {"conv_stem", offsetof(sam_config, conv_stem), 0},
  };
  for (yaml_node_pair_t* p = root->data.mapping.pairs.start;
       p < root->data.mapping.pairs.top;
       p++) {
    yaml_node_t* k = sf_yaml_node(&y, p->key);
    yaml_node_t* v = sf_yaml_node(&y, p->value);
    if (k->type != YAML_SCALAR_NODE) {
      rc = at(&y, k, "keys must be scalars%s", "");
      goto out;
    }
    const char* key = (const char*)k->data.scalar.value;
    int known = 0;
    if (!strcmp(key, "preset"))
      continue;
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
      if (strcmp(key, ints[i].key))
        continue;
      known = 1;
      int x;
      if (scalar_int(v, &x) || x < ints[i].lo) {
        rc = at(&y, v, "%s: expected an integer", key);
        goto out;
      }
      *(int*)((char*)&c + ints[i].off) = x;
    }
    if (known)
      continue;
    if (!strcmp(key, "encoder_global_attn_indexes")) {
      if (v->type != YAML_SEQUENCE_NODE) {
        rc = at(&y, v, "%s: expected a list of block indexes", key);
        goto out;
      }
      int cnt = 0;
      memset(
          c.encoder_global_attn_indexes,
          0,
          sizeof c.encoder_global_attn_indexes);
      for (yaml_node_item_t* it = v->data.sequence.items.start;
           it < v->data.sequence.items.top;
           it++) {
        yaml_node_t* e = sf_yaml_node(&y, *it);
        int x;
        if (cnt >= SAM_MAX_DEPTH || scalar_int(e, &x) || x < 0) {
          rc = at(&y, e, "%s: expected a block index", key);
          goto out;
        }
        c.encoder_global_attn_indexes[cnt++] = x;
      }
      c.n_encoder_global_attn_indexes = cnt;
    } else if (!strcmp(key, "zoom")) {
      if (v->type != YAML_SEQUENCE_NODE) {
        rc = at(&y, v, "%s: expected a list of view fractions", key);
        goto out;
      }
      int cnt = 0;
      for (yaml_node_item_t* it = v->data.sequence.items.start;
           it < v->data.sequence.items.top;
           it++) {
        yaml_node_t* e = sf_yaml_node(&y, *it);
        char* end = NULL;
        const char* sv = e->type == YAML_SCALAR_NODE
            ? (const char*)e->data.scalar.value
            : "";
        double x = strtod(sv, &end);
        if (cnt >= SAM_MAX_ZOOM || end == sv || *end || !(x > 0) || x > 1) {
          rc = at(&y, e, "%s: expected at most 8 fractions in (0, 1]", key);
          goto out;
        }
        c.zoom[cnt++] = (float)x;
      }
      c.n_zoom = cnt;
    } else if (!strcmp(key, "multimask_trained")) {
      const char* s =
          v->type == YAML_SCALAR_NODE ? (const char*)v->data.scalar.value : "";
      if (!strcmp(s, "true") || !strcmp(s, "1")) {
        c.multimask_trained = 1;
      } else if (!strcmp(s, "false") || !strcmp(s, "0")) {
        c.multimask_trained = 0;
      } else {
        rc = at(&y, v, "%s: expected true or false", key);
        goto out;
      }
    } else if (!strcmp(key, "preprocess")) {
      const char* s =
          v->type == YAML_SCALAR_NODE ? (const char*)v->data.scalar.value : "";
      if (!strcmp(s, "sam")) {
        c.preprocess = SAM_PREPROCESS_SAM;
      } else if (!strcmp(s, "medsam")) {
        c.preprocess = SAM_PREPROCESS_MEDSAM;
      } else {
        rc = at(&y, v, "%s: expected sam or medsam", key);
        goto out;
      }
    } else {
      static const char* const kKeys[] = {
          "preset",
          "image_size",
          "patch_size",
          "encoder_embed_dim",
          "encoder_depth",
          "encoder_num_heads",
          "window_size",
          "prompt_embed_dim",
          "high_res_features",
          "conv_stem",
          "encoder_global_attn_indexes",
          "zoom",
          "multimask_trained",
          "preprocess"};
      char hint[300];
      rc = sf_yaml_error(
          &y,
          k,
          "unknown key '%s'%s",
          key,
          sf_yaml_hint(
              key, kKeys, sizeof kKeys / sizeof *kKeys, hint, sizeof hint));
      goto out;
    }
  }
  if ((rc = sam_config_validate(&c, err))) {
    sf_err_wrap(err, "%s", name);
    goto out;
  }
  *out = c;
out:
  sf_yaml_free(&y);
  return rc;
}

int sam_config_load(const char* spec, sam_config* out, sf_err* err) {
  if (!spec || !out)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  for (int i = 0; sam__preset_names[i]; i++)
    if (!strcmp(spec, sam__preset_names[i]))
      return sam_config_preset(spec, out, err);
  FILE* f = fopen(spec, "rb");
  if (!f)
    return sf_err_set(
        err,
        SF_EIO,
        "%s: %s (not a preset: vit_b, vit_l, "
        "vit_h, medsam)",
        spec,
        strerror(errno));
  char* buf = NULL;
  size_t n = 0, cap = 0;
  int rc = SF_OK;
  for (;;) {
    if (n + 4096 > cap) {
      cap = cap ? 2 * cap : 8192;
      if (cap > (1u << 20)) {
        rc = sf_err_set(err, SF_ECONFIG, "%s: model config over 1 MiB", spec);
        goto out;
      }
      char* q = realloc(buf, cap);
      if (!q) {
        rc = sf_err_set(err, SF_ENOMEM, "out of memory");
        goto out;
      }
      buf = q;
    }
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (r == 0)
      break;
  }
  if (ferror(f)) {
    rc = sf_err_set(err, SF_EIO, "%s: read error", spec);
    goto out;
  }
  rc = sam_config_parse(spec, buf, n, out, err);
out:
  fclose(f);
  free(buf);
  return rc;
}
