// train_config.cpp - the training config (train_int.h): parsing and
// validation of the YAML (through the YAML kit, sf_yaml.h), the resolved
// config and model config written back as YAML, the on-the-fly source's
// identity and the learning-rate schedule. No libtorch here.
#include "sf_yaml.h"
#include "train_int.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace sam_train {

namespace {
// Every key of the training config, for unknown-key suggestions: a new key
// goes into parse_config's chain and here.
const char* const kTrainKeys[] = {
    "model",
    "init",
    "seed",
    "on_the_fly_seed",
    "lr",
    "lr_min",
    "weight_decay",
    "min_area_frac",
    "iou_loss_weight",
    "single_click_frac",
    "crop_scale",
    "corrective_iters",
    "encoder_lr_scale",
    "warmup_steps",
    "images_per_epoch",
    "epochs",
    "batch_size",
    "ring_width_px",
    "val_instances_per_image",
    "val_max_images",
    "threads",
    "instances_per_step",
    "multimask",
    "freeze_image_encoder",
    "loss",
    "n_pos",
    "n_neg",
    "precision",
    "device"};

const char* scalar(const yaml_node_t* n) {
  return n->type == YAML_SCALAR_NODE ? (const char*)n->data.scalar.value
                                     : nullptr;
}

bool to_double(const char* s, double* v) {
  if (!s)
    return false;
  char* end;
  errno = 0;
  *v = strtod(s, &end);
  return end != s && !*end && !errno && std::isfinite(*v);
}

bool to_long(const char* s, long* v) {
  if (!s)
    return false;
  char* end;
  errno = 0;
  *v = strtol(s, &end, 10);
  return end != s && !*end && !errno;
}

bool to_bool(const char* s, int* v) {
  if (!s)
    return false;
  if (!strcmp(s, "true") || !strcmp(s, "yes")) {
    *v = 1;
    return true;
  }
  if (!strcmp(s, "false") || !strcmp(s, "no")) {
    *v = 0;
    return true;
  }
  return false;
}

std::string read_file(const char* path, int* ok) {
  std::ifstream f(path, std::ios::binary);
  *ok = bool(f);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string dirname_of(const std::string& p) {
  auto s = p.find_last_of('/');
  return s == std::string::npos ? std::string(".") : p.substr(0, s);
}

} // namespace

// The model config back as YAML, in the reference's names (what
// `synthfm predict --model-config` reads).
std::string model_yaml(const sam_config& c) {
  std::ostringstream o;
  o << "image_size: " << c.image_size << "\npatch_size: " << c.patch_size
    << "\nencoder_embed_dim: " << c.encoder_embed_dim
    << "\nencoder_depth: " << c.encoder_depth
    << "\nencoder_num_heads: " << c.encoder_num_heads
    << "\nencoder_global_attn_indexes: [";
  for (int i = 0; i < c.n_encoder_global_attn_indexes; i++)
    o << (i ? ", " : "") << c.encoder_global_attn_indexes[i];
  o << "]\nwindow_size: " << c.window_size
    << "\nprompt_embed_dim: " << c.prompt_embed_dim;
  if (c.high_res_features > 0)
    o << "\nhigh_res_features: " << c.high_res_features;
  if (c.conv_stem)
    o << "\nconv_stem: " << c.conv_stem;
  o << "\npreprocess: " << sam_preprocess_name(c.preprocess)
    << "\nmultimask_trained: " << (c.multimask_trained ? "true" : "false")
    << "\n";
  if (c.n_zoom > 0) {
    o << "zoom: [";
    for (int i = 0; i < c.n_zoom; i++)
      o << (i ? ", " : "") << c.zoom[i];
    o << "]\n";
  }
  return o.str();
}

// A model mapping node back to YAML text for sam_config_parse.
static std::string node_text(const sf_yaml* d, yaml_node_t* n) {
  std::ostringstream o;
  for (auto* p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
       p++) {
    auto* k = sf_yaml_node(d, p->key);
    auto* v = sf_yaml_node(d, p->value);
    o << (scalar(k) ? scalar(k) : "?") << ": ";
    if (v->type == YAML_SEQUENCE_NODE) {
      o << "[";
      for (auto* it = v->data.sequence.items.start;
           it < v->data.sequence.items.top;
           it++) {
        auto* e = sf_yaml_node(d, *it);
        o << (it == v->data.sequence.items.start ? "" : ", ")
          << (scalar(e) ? scalar(e) : "?");
      }
      o << "]";
    } else {
      o << (scalar(v) ? scalar(v) : "?");
    }
    o << "\n";
  }
  return o.str();
}

// Long by design (~235 lines): one branch per key with its own check and
// message, then the checks between keys; the chain is the config's schema
// (a new key goes here and into kTrainKeys).
int parse_config(const char* path, TrainConfig* out, sf_err* err) {
  int ok = 0;
  std::string text = read_file(path, &ok);
  if (!ok)
    return sf_err_set(err, SF_ECONFIG, "%s: cannot read training config", path);
  TrainConfig c;
  sf_yaml y{};
  int rc = sf_yaml_load(&y, path, text.data(), text.size(), err);
  bool have_model = false;
  yaml_node_t* root = sf_yaml_root(&y);
  const yaml_node_t* dup = nullptr;
  if (rc != SF_OK)
    goto out;
  if (!root || root->type != YAML_MAPPING_NODE) {
    rc = sf_err_at(
        err, SF_ECONFIG, path, 1, 1, "training config must be a mapping");
    goto out;
  }
  if ((dup = sf_yaml_duplicate(&y, root))) {
    rc = sf_yaml_error(&y, dup, "duplicate key '%s'", sf_yaml_scalar(dup));
    goto out;
  }
  for (auto* p = root->data.mapping.pairs.start;
       p < root->data.mapping.pairs.top && rc == SF_OK;
       p++) {
    auto* k = sf_yaml_node(&y, p->key);
    auto* v = sf_yaml_node(&y, p->value);
    const char* key = scalar(k);
    const char* s = scalar(v);
    double d;
    long l;
    int b;
    char msg[200];
    auto bad = [&](const char* what) {
      snprintf(msg, sizeof msg, "%s: expected %s", key ? key : "?", what);
      return sf_yaml_error(&y, v, "%s", msg);
    };
    auto range = [&](int* lo, int* hi) -> int {
      long a, z;
      if (v->type != YAML_SEQUENCE_NODE ||
          v->data.sequence.items.top - v->data.sequence.items.start != 2 ||
          !to_long(
              scalar(sf_yaml_node(&y, v->data.sequence.items.start[0])), &a) ||
          !to_long(
              scalar(sf_yaml_node(&y, v->data.sequence.items.start[1])), &z) ||
          a < 0 || z < a || z > SF_PROMPT_MAX_CLICKS)
        return bad("[lo, hi] with 0 <= lo <= hi <= 256");
      *lo = int(a);
      *hi = int(z);
      return SF_OK;
    };
    if (!key) {
      rc = sf_yaml_error(&y, k, "keys must be scalars");
    } else if (!strcmp(key, "model")) {
      have_model = true;
      if (v->type == YAML_MAPPING_NODE) {
        c.model_text = node_text(&y, v);
        rc = sam_config_parse(
            path, c.model_text.data(), c.model_text.size(), &c.model, err);
      } else if (s) {
        // preset name or a file (relative to the training config)
        std::string spec = s;
        if (sam_config_preset(s, &c.model, nullptr) != SF_OK) {
          if (spec[0] != '/' && access(spec.c_str(), R_OK) != 0)
            spec = dirname_of(path) + "/" + spec;
          rc = sam_config_load(spec.c_str(), &c.model, err);
        }
      } else {
        rc = bad("a mapping, a preset name or a model config file");
      }
      if (rc == SF_OK)
        c.model_text = model_yaml(c.model);
    } else if (!strcmp(key, "init")) {
      if (!s)
        rc = bad("a checkpoint path");
      else
        c.init = s;
    } else if (!strcmp(key, "seed") || !strcmp(key, "on_the_fly_seed")) {
      if (!to_long(s, &l) || l < 0)
        rc = bad("a non-negative integer");
      else if (!strcmp(key, "seed"))
        c.seed = uint64_t(l);
      else
        c.on_the_fly_seed = l;
    } else if (
        !strcmp(key, "lr") || !strcmp(key, "lr_min") ||
        !strcmp(key, "weight_decay") || !strcmp(key, "min_area_frac")) {
      if (!to_double(s, &d) || d < 0 || d > 1)
        rc = bad("a number in [0, 1]");
      else
        *(!strcmp(key, "lr")                 ? &c.lr
              : !strcmp(key, "lr_min")       ? &c.lr_min
              : !strcmp(key, "weight_decay") ? &c.weight_decay
                                             : &c.min_area_frac) = d;
    } else if (
        !strcmp(key, "iou_loss_weight") || !strcmp(key, "single_click_frac")) {
      if (!to_double(s, &d) || d < 0 || d > (key[0] == 'i' ? 100 : 1))
        rc = bad(key[0] == 'i' ? "a number in [0, 100]" : "a number in [0, 1]");
      else
        *(key[0] == 'i' ? &c.iou_loss_weight : &c.single_click_frac) = d;
    } else if (!strcmp(key, "crop_scale")) {
      double a, z;
      if (v->type != YAML_SEQUENCE_NODE ||
          v->data.sequence.items.top - v->data.sequence.items.start != 2 ||
          !to_double(
              scalar(sf_yaml_node(&y, v->data.sequence.items.start[0])), &a) ||
          !to_double(
              scalar(sf_yaml_node(&y, v->data.sequence.items.start[1])), &z) ||
          !(a > 0) || z < a || z > 1)
        rc = bad("[lo, hi] with 0 < lo <= hi <= 1 (crop side / image side)");
      else
        c.crop_lo = a, c.crop_hi = z;
    } else if (!strcmp(key, "corrective_iters")) {
      if (!to_long(s, &l) || l < 0 || l > 16)
        rc = bad("an integer in [0, 16]");
      else
        c.corrective_iters = int(l);
    } else if (!strcmp(key, "encoder_lr_scale")) {
      if (!to_double(s, &d) || !(d > 0) || d > 100)
        rc = bad("a number in (0, 100]");
      else
        c.encoder_lr_scale = d;
    } else if (
        !strcmp(key, "warmup_steps") || !strcmp(key, "images_per_epoch")) {
      if (!to_long(s, &l) || l < 0)
        rc = bad("a non-negative integer");
      else
        *(!strcmp(key, "warmup_steps") ? &c.warmup_steps
                                       : &c.images_per_epoch) = l;
    } else if (
        !strcmp(key, "epochs") || !strcmp(key, "batch_size") ||
        !strcmp(key, "ring_width_px") ||
        !strcmp(key, "val_instances_per_image") ||
        !strcmp(key, "val_max_images") || !strcmp(key, "threads") ||
        !strcmp(key, "instances_per_step")) {
      long lo =
          !strcmp(key, "val_max_images") || !strcmp(key, "threads") ? 0 : 1;
      if (!to_long(s, &l) || l < lo || l > 1000000)
        rc = bad(lo ? "a positive integer" : "a non-negative integer");
      else
        *(!strcmp(key, "epochs")              ? &c.epochs
              : !strcmp(key, "batch_size")    ? &c.batch_size
              : !strcmp(key, "ring_width_px") ? &c.ring_width_px
              : !strcmp(key, "val_instances_per_image")
              ? &c.val_instances_per_image
              : !strcmp(key, "val_max_images")     ? &c.val_max_images
              : !strcmp(key, "instances_per_step") ? &c.instances_per_step
                                                   : &c.threads) = int(l);
    } else if (
        !strcmp(key, "multimask") || !strcmp(key, "freeze_image_encoder")) {
      if (!to_bool(s, &b))
        rc = bad("true or false");
      else
        *(!strcmp(key, "multimask") ? &c.multimask : &c.freeze_image_encoder) =
            b;
    } else if (!strcmp(key, "loss")) {
      if (s && !strcmp(s, "dice"))
        c.loss_bce = 0;
      else if (s && !strcmp(s, "dice+bce"))
        c.loss_bce = 1;
      else if (s && !strcmp(s, "dice+plain_bce"))
        c.loss_bce = 2;
      else
        rc = bad("dice, dice+bce or dice+plain_bce");
    } else if (!strcmp(key, "n_pos")) {
      rc = range(&c.n_pos_lo, &c.n_pos_hi);
      if (rc == SF_OK && c.n_pos_lo < 1)
        rc = bad("at least one positive click (lo >= 1)");
    } else if (!strcmp(key, "n_neg")) {
      rc = range(&c.n_neg_lo, &c.n_neg_hi);
    } else if (!strcmp(key, "precision")) {
      if (s && !strcmp(s, "fp32"))
        c.bf16 = 0;
      else if (s && !strcmp(s, "bf16"))
        c.bf16 = 1;
      else
        rc = bad("fp32 or bf16");
    } else if (!strcmp(key, "device")) {
      int dv = sam_device_parse(s);
      if (dv < 0)
        rc = bad("cpu or cuda");
      else
        c.device = dv;
    } else {
      char hint[300];
      rc = sf_yaml_error(
          &y,
          k,
          "unknown key '%s'%s",
          key,
          sf_yaml_hint(
              key, kTrainKeys, std::size(kTrainKeys), hint, sizeof hint));
    }
  }
  if (rc == SF_OK && !have_model)
    rc = sf_err_at(err, SF_ECONFIG, path, 1, 1, "missing key 'model'");
  if (rc == SF_OK && c.multimask && !(c.iou_loss_weight > 0))
    rc = sf_err_at(
        err,
        SF_ECONFIG,
        path,
        1,
        1,
        "multimask: true needs iou_loss_weight > 0 (one click asks for "
        "three masks and keeps the one of highest predicted IoU: the IoU "
        "head must be trained)");
  if (rc == SF_OK && c.single_click_frac > 0 && !c.multimask)
    rc = sf_err_at(
        err,
        SF_ECONFIG,
        path,
        1,
        1,
        "single_click_frac needs multimask: true (one-click steps train "
        "the three masks)");
  if (rc == SF_OK) { // what model.yaml tells predict/eval
    c.model.multimask_trained = c.multimask;
    c.model_text = model_yaml(c.model);
  }
  if (rc == SF_OK && c.lr_min > c.lr)
    rc = sf_err_at(err, SF_ECONFIG, path, 1, 1, "lr_min must be <= lr");
  if (rc == SF_OK && c.init.size() && c.init[0] != '/' &&
      access(c.init.c_str(), R_OK) != 0)
    c.init = dirname_of(path) + "/" + c.init; // relative to the config
  if (rc == SF_OK)
    *out = c;
out:
  sf_yaml_free(&y);
  return rc;
}

std::string config_yaml(const TrainConfig& c) {
  std::ostringstream o;
  o.precision(17);
  o << "# resolved training config (synthfm train)\nmodel:\n";
  std::istringstream m(c.model_text);
  for (std::string line; std::getline(m, line);)
    o << "  " << line << "\n";
  if (c.init.size())
    o << "init: " << c.init << "\n";
  if (c.on_the_fly_seed >= 0)
    o << "on_the_fly_seed: " << c.on_the_fly_seed << "\n";
  if (c.encoder_lr_scale != 1.0) // absent = 1: older runs' text unchanged
    o << "encoder_lr_scale: " << c.encoder_lr_scale << "\n";
  if (c.iou_loss_weight > 0) // new keys: written only when set
    o << "iou_loss_weight: " << c.iou_loss_weight << "\n";
  if (c.single_click_frac > 0)
    o << "single_click_frac: " << c.single_click_frac << "\n";
  if (c.corrective_iters > 0)
    o << "corrective_iters: " << c.corrective_iters << "\n";
  if (c.crop_lo > 0)
    o << "crop_scale: [" << c.crop_lo << ", " << c.crop_hi << "]\n";
  o << "seed: " << c.seed << "\nlr: " << c.lr << "\nlr_min: " << c.lr_min
    << "\nweight_decay: " << c.weight_decay
    << "\nwarmup_steps: " << c.warmup_steps << "\nepochs: " << c.epochs
    << "\nimages_per_epoch: " << c.images_per_epoch
    << "\nbatch_size: " << c.batch_size
    << "\ninstances_per_step: " << c.instances_per_step << "\nloss: "
    << (c.loss_bce == 2  ? "dice+plain_bce"
            : c.loss_bce ? "dice+bce"
                         : "dice")
    << "\nmultimask: " << (c.multimask ? "true" : "false") << "\nn_pos: ["
    << c.n_pos_lo << ", " << c.n_pos_hi << "]\nn_neg: [" << c.n_neg_lo << ", "
    << c.n_neg_hi << "]\nring_width_px: " << c.ring_width_px
    << "\nmin_area_frac: " << c.min_area_frac
    << "\nfreeze_image_encoder: " << (c.freeze_image_encoder ? "true" : "false")
    << "\nval_instances_per_image: " << c.val_instances_per_image
    << "\nval_max_images: " << c.val_max_images
    << "\ndevice: " << (c.device == SAM_DEVICE_CUDA ? "cuda" : "cpu")
    << "\nprecision: " << (c.bf16 ? "bf16" : "fp32")
    << "\nthreads: " << c.threads << "\n";
  return o.str();
}

int factory_identity(
    const sf_config& f,
    uint64_t seed,
    std::string* yaml,
    std::string* id,
    sf_err* err) {
  char* text = nullptr;
  int rc = sf_config_to_yaml(&f, &text, err);
  if (rc)
    return rc;
  *yaml = text;
  free(text);
  std::string h = *yaml + "\nmaster_seed: " + std::to_string(seed) + "\n";
  char hex[65];
  if (sf_sha256_hex(h.data(), h.size(), hex) != SF_OK)
    return sf_err_set(err, SF_ENOMEM, "SHA-256 failed");
  *id = hex;
  return SF_OK;
}

double cosine_lr(const TrainConfig& c, long step, long total) {
  if (c.warmup_steps > 0 && step < c.warmup_steps)
    return c.lr * double(step + 1) / double(c.warmup_steps);
  long span = std::max(1L, total - c.warmup_steps);
  double t = double(step - c.warmup_steps) / double(span);
  return c.lr_min + 0.5 * (c.lr - c.lr_min) * (1.0 + std::cos(M_PI * t));
}

} // namespace sam_train
