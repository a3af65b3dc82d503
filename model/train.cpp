// train.cpp - the trainer (train.h): config, data order, click sampling,
// Dice loss, AdamW + cosine LR, validation through the public predictor,
// run records (run.sqlite, last/best.pth, model.yaml, DONE) and exact
// resume. Read top to bottom: config -> data -> run dir -> loop.
#include "train.h"

#include <dlfcn.h>
#include <openssl/sha.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/autocast_mode.h>

#include "sam.h"

using torch::Tensor;

// OpenBLAS (Debian's libtorch BLAS) runs its own pthread pool beside
// libtorch's OpenMP one; with both on 2 cores the trainer spends most of
// its time in sched_yield (measured: 1.3 vs 6.6 steps/s). Training keeps
// BLAS single-threaded and lets libtorch parallelise. Weak: absent BLAS
// builds simply skip the call (looked up at run time: libtorch, not we,
// links the BLAS).
static void blas_single_thread() {
  using fn_t = void (*)(int);
  if (auto f = reinterpret_cast<fn_t>(
          dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    f(1);
}

namespace {

double now_s() {
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  return double(tv.tv_sec) + 1e-6 * double(tv.tv_usec);
}

// ------------------------------------------------------------------ config

struct TrainConfig {
  std::string model_text; // model config YAML (sam_config_parse input)
  sam_config model{};
  std::string init; // "" = from scratch
  uint64_t seed = 0;
  long on_the_fly_seed = -1; // -1: the run seed
  double lr = 1e-4, lr_min = 0.0, weight_decay = 0.01;
  double encoder_lr_scale = 1.0; // image encoder's lr = scale x lr
  long warmup_steps = 0;
  int epochs = 1;
  long images_per_epoch = 0; // 0 = size of the training corpora
  int batch_size = 1;
  int instances_per_step = 1; // masks decoded per image per step
  int loss_bce = 0; // loss: dice (0), dice+bce (1), dice+plain_bce (2)
  int multimask = 0; // 1-click prompts train the 3 disambiguating masks
  double iou_loss_weight = 0; // IoU head: MSE to the true IoU (SAM)
  double single_click_frac = 0; // share of steps prompted by one click
  int corrective_iters = 0; // extra clicks from the previous error
  double crop_lo = 0, crop_hi = 0; // crop_scale: zoomed views (0: off)
  int n_pos_lo = 1, n_pos_hi = 3, n_neg_lo = 0, n_neg_hi = 3;
  int ring_width_px = SF_PROMPT_RING_WIDTH_DEFAULT;
  double min_area_frac = 0.002;
  int freeze_image_encoder = 0;
  int val_instances_per_image = 4;
  int val_max_images = 0; // 0 = all
  int device = SAM_DEVICE_CPU;
  int bf16 = 0; // precision: bf16 (CUDA autocast) or fp32
  int threads = 0;
};

int yerr(sf_err* err, const char* name, const yaml_node_t* n, const char* m) {
  return sf_err_at(
      err,
      SF_ECONFIG,
      name,
      int(n->start_mark.line) + 1,
      int(n->start_mark.column) + 1,
      "%s",
      m);
}

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
std::string node_text(yaml_document_t* d, yaml_node_t* n) {
  std::ostringstream o;
  for (auto* p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
       p++) {
    auto* k = yaml_document_get_node(d, p->key);
    auto* v = yaml_document_get_node(d, p->value);
    o << (scalar(k) ? scalar(k) : "?") << ": ";
    if (v->type == YAML_SEQUENCE_NODE) {
      o << "[";
      for (auto* it = v->data.sequence.items.start;
           it < v->data.sequence.items.top;
           it++) {
        auto* e = yaml_document_get_node(d, *it);
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

int parse_config(const char* path, TrainConfig* out, sf_err* err) {
  int ok = 0;
  std::string text = read_file(path, &ok);
  if (!ok)
    return sf_err_set(err, SF_ECONFIG, "%s: cannot read training config", path);
  TrainConfig c;
  yaml_parser_t parser;
  yaml_document_t doc;
  if (!yaml_parser_initialize(&parser))
    return sf_err_set(err, SF_ENOMEM, "out of memory");
  yaml_parser_set_input_string(
      &parser, (const unsigned char*)text.data(), text.size());
  if (!yaml_parser_load(&parser, &doc)) {
    int rc = sf_err_at(
        err,
        SF_ECONFIG,
        path,
        int(parser.problem_mark.line) + 1,
        int(parser.problem_mark.column) + 1,
        "YAML: %s",
        parser.problem ? parser.problem : "syntax error");
    yaml_parser_delete(&parser);
    return rc;
  }
  int rc = SF_OK;
  bool have_model = false;
  yaml_node_t* root = yaml_document_get_root_node(&doc);
  if (!root || root->type != YAML_MAPPING_NODE) {
    rc = sf_err_at(
        err, SF_ECONFIG, path, 1, 1, "training config must be a mapping");
    goto out;
  }
  for (auto* p = root->data.mapping.pairs.start;
       p < root->data.mapping.pairs.top && rc == SF_OK;
       p++) {
    auto* k = yaml_document_get_node(&doc, p->key);
    auto* v = yaml_document_get_node(&doc, p->value);
    const char* key = scalar(k);
    const char* s = scalar(v);
    double d;
    long l;
    int b;
    char msg[200];
    auto bad = [&](const char* what) {
      snprintf(msg, sizeof msg, "%s: expected %s", key ? key : "?", what);
      return yerr(err, path, v, msg);
    };
    auto range = [&](int* lo, int* hi) -> int {
      long a, z;
      if (v->type != YAML_SEQUENCE_NODE ||
          v->data.sequence.items.top - v->data.sequence.items.start != 2 ||
          !to_long(
              scalar(yaml_document_get_node(
                  &doc, v->data.sequence.items.start[0])),
              &a) ||
          !to_long(
              scalar(yaml_document_get_node(
                  &doc, v->data.sequence.items.start[1])),
              &z) ||
          a < 0 || z < a || z > SF_PROMPT_MAX_CLICKS)
        return bad("[lo, hi] with 0 <= lo <= hi <= 256");
      *lo = int(a);
      *hi = int(z);
      return SF_OK;
    };
    if (!key) {
      rc = yerr(err, path, k, "keys must be scalars");
    } else if (!strcmp(key, "model")) {
      have_model = true;
      if (v->type == YAML_MAPPING_NODE) {
        c.model_text = node_text(&doc, v);
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
        !strcmp(key, "iou_loss_weight") ||
        !strcmp(key, "single_click_frac")) {
      if (!to_double(s, &d) || d < 0 || d > (key[0] == 'i' ? 100 : 1))
        rc = bad(key[0] == 'i' ? "a number in [0, 100]" : "a number in [0, 1]");
      else
        *(key[0] == 'i' ? &c.iou_loss_weight : &c.single_click_frac) = d;
    } else if (!strcmp(key, "crop_scale")) {
      double a, z;
      if (v->type != YAML_SEQUENCE_NODE ||
          v->data.sequence.items.top - v->data.sequence.items.start != 2 ||
          !to_double(
              scalar(yaml_document_get_node(
                  &doc, v->data.sequence.items.start[0])),
              &a) ||
          !to_double(
              scalar(yaml_document_get_node(
                  &doc, v->data.sequence.items.start[1])),
              &z) ||
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
      else if (!strcmp(key, "batch_size") && l != 1)
        rc =
            bad("1 (the recipe's batch size; larger batches are not "
                "implemented)");
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
      snprintf(msg, sizeof msg, "unknown key '%s'", key);
      rc = yerr(err, path, k, msg);
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
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
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
    << "\ninstances_per_step: " << c.instances_per_step
    << "\nloss: "
    << (c.loss_bce == 2 ? "dice+plain_bce" : c.loss_bce ? "dice+bce" : "dice")
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

// -------------------------------------------------------------------- data

struct Item {
  int corpus;
  uint64_t pos;
  std::vector<int> labels; // eligible instances (area >= min area)
};

struct DataSet {
  std::vector<sf_corpus*> corpora;
  std::vector<std::string> dirs, identities;
  std::vector<Item> items;
  ~DataSet() {
    for (auto* c : corpora)
      sf_corpus_close(c);
  }
};

// Open corpora and list, per sample, the instances a step may pick.
// Validation keeps the largest `per_image` eligible instances.
int open_data(
    const std::vector<std::string>& dirs,
    double min_area_frac,
    int per_image,
    int max_images,
    DataSet* ds,
    sf_err* err) {
  for (size_t ci = 0; ci < dirs.size(); ci++) {
    sf_corpus* c = nullptr;
    int rc = sf_corpus_open(dirs[ci].c_str(), &c, err);
    if (rc)
      return rc;
    ds->corpora.push_back(c);
    ds->dirs.push_back(dirs[ci]);
    char hex[65];
    if ((rc = sf_corpus_identity(c, hex, err)))
      return rc;
    ds->identities.push_back(hex);
    uint64_t n = sf_corpus_count(c);
    for (uint64_t pos = 0; pos < n; pos++) {
      if (max_images > 0 && ds->items.size() >= size_t(max_images))
        break;
      sf_corpus_sample s;
      sf_instance* inst = nullptr;
      int n_inst = 0;
      if ((rc = sf_corpus_sample_at(c, pos, &s, err)) ||
          (rc = sf_corpus_instances(c, pos, &inst, &n_inst, err)))
        return rc;
      // Cheap up-front check (no decoding): every file has the size the
      // manifest recorded, so a truncated corpus fails before RUN exists.
      for (int f = 0; f < 2; f++) {
        std::string fp = dirs[ci] + "/" + (f ? s.label_path : s.image_path);
        uint64_t want = f ? s.label_bytes : s.image_bytes;
        struct stat st;
        if (stat(fp.c_str(), &st) || uint64_t(st.st_size) != want) {
          free(inst);
          return sf_err_set(
              err,
              SF_ECORRUPT,
              "%s: %s (the manifest says %llu bytes): corrupt or incomplete "
              "corpus (see synthfm verify)",
              fp.c_str(),
              stat(fp.c_str(), &st) ? "missing" : "wrong size",
              (unsigned long long)want);
        }
      }
      double min_area = min_area_frac * double(s.nx) * double(s.ny);
      std::vector<std::pair<long, int>> el;
      for (int i = 0; i < n_inst; i++)
        if (double(inst[i].area) >= min_area && inst[i].area > 0)
          el.push_back({inst[i].area, inst[i].label});
      free(inst);
      if (el.empty())
        continue;
      if (per_image > 0) {
        std::stable_sort(el.begin(), el.end(), [](auto& a, auto& b) {
          return a.first > b.first;
        });
        if (el.size() > size_t(per_image))
          el.resize(size_t(per_image));
      }
      Item it{int(ci), pos, {}};
      for (auto& e : el)
        it.labels.push_back(e.second);
      ds->items.push_back(std::move(it));
    }
    if (n == 0)
      return sf_err_set(
          err,
          SF_ECORRUPT,
          "%s: the corpus holds no samples",
          dirs[ci].c_str());
  }
  if (ds->items.empty())
    return sf_err_set(
        err,
        SF_ECORRUPT,
        "%s: no sample has an instance of at least min_area_frac of the "
        "image",
        dirs.empty() ? "?" : dirs[0].c_str());
  return SF_OK;
}

// Position g of the endless data order: round r = g / n is a permutation
// of the n items (Fisher-Yates on the counter RNG keyed by (seed, r)).
struct Order {
  uint64_t seed = 0, n = 0, round = UINT64_MAX;
  std::vector<uint32_t> perm;
  uint32_t at(uint64_t g) {
    uint64_t r = g / n;
    if (r != round) {
      perm.resize(n);
      for (uint64_t i = 0; i < n; i++)
        perm[i] = uint32_t(i);
      sf_rng_key k = sf_prompt_key(seed, "train-order", r, 0);
      for (uint64_t i = n - 1; i > 0; i--)
        std::swap(perm[i], perm[sf_rng_u64(k, i) % (i + 1)]);
      round = r;
    }
    return perm[g % n];
  }
};

struct Loaded {
  uint8_t* image = nullptr;
  uint16_t* labels = nullptr;
  int nx = 0, ny = 0;
  ~Loaded() {
    free(image);
    free(labels);
  }
};

// ---------------------------------------------------------------- run dir

struct Db {
  sqlite3* db = nullptr;
  ~Db() {
    if (db)
      sqlite3_close(db);
  }
  int exec(const char* sql, sf_err* err) {
    char* m = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &m) != SQLITE_OK) {
      int rc = sf_err_set(err, SF_EDB, "run.sqlite: %s", m ? m : "?");
      sqlite3_free(m);
      return rc;
    }
    return SF_OK;
  }
  void set(const char* key, const std::string& value) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(
        db,
        "INSERT OR REPLACE INTO run(key, value) VALUES(?, ?)",
        -1,
        &st,
        nullptr);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, value.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_step(st);
    sqlite3_finalize(st);
  }
};

const char* kSchema =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS run(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS corpora(role TEXT, dir TEXT, identity TEXT,"
    " n_samples INTEGER);"
    "CREATE TABLE IF NOT EXISTS steps(step INTEGER PRIMARY KEY, epoch "
    "INTEGER, loss REAL, lr REAL, wall_s REAL);"
    "CREATE TABLE IF NOT EXISTS epochs(epoch INTEGER PRIMARY KEY, step "
    "INTEGER, val_dice REAL, n_val INTEGER, train_loss REAL, wall_s REAL);"
    // One row per validation instance and epoch: where the mean comes
    // from (a model that ignores the image predicts one blob size for
    // every instance: compare area with pred_area).
    "CREATE TABLE IF NOT EXISTS val_instances(epoch INTEGER, sample INTEGER,"
    " label INTEGER, area INTEGER, pred_area INTEGER, dice REAL,"
    " PRIMARY KEY(epoch, sample, label));";

int write_text(const std::string& path, const std::string& text, sf_err* err) {
  std::string tmp = path + ".tmp";
  FILE* f = fopen(tmp.c_str(), "wb");
  if (!f || fwrite(text.data(), 1, text.size(), f) != text.size() ||
      fflush(f) || fsync(fileno(f))) {
    if (f)
      fclose(f);
    return sf_err_set(err, SF_EIO, "%s: %s", tmp.c_str(), strerror(errno));
  }
  fclose(f);
  if (rename(tmp.c_str(), path.c_str()))
    return sf_err_set(err, SF_EIO, "%s: %s", path.c_str(), strerror(errno));
  return SF_OK;
}

bool exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

// ------------------------------------------------------------------- model

// logits (1, M, H, W), gt (H, W) in {0, 1} -> per-mask loss (M): the soft
// Dice loss on sigmoid(logits), plus, with `bce`, a class-balanced binary
// cross entropy of the logits (half the weight on the instance's pixels,
// half on the rest). Dice alone has a trivial basin: a from-scratch decoder
// first predicts (almost) everything, where sigmoid saturates and the Dice
// gradient p(1-p) vanishes (measured: 56849 of 65536 pixels on, whatever the
// click); plain BCE has the opposite one (nothing on, the instance being a
// few % of the image). The balanced term penalises both and never
// saturates, so the gradient that teaches the mask to follow the click
// stays alive.
//
// plain_bce (2): BCE averaged over all pixels (as MedSAM trains). Every
// pixel weighs the same, so a false positive costs as much as a missed
// pixel: the balanced term gives a 100-pixel object's false positives
// 1/160 of its misses' weight, and the model settled on one blob of a
// typical size whatever the object (measured: predicted area 1450 px for
// true areas 84..2557).
Tensor seg_loss(const Tensor& logits, const Tensor& gt, int bce) {
  auto x = logits[0].flatten(1);
  auto p = torch::sigmoid(x);
  auto g = gt.flatten().unsqueeze(0);
  auto inter = (p * g).sum(1);
  auto loss = 1.0 - (2.0 * inter + 1.0) / (p.sum(1) + g.sum(1) + 1.0);
  if (bce == 2) {
    loss = loss +
        torch::binary_cross_entropy_with_logits(
            x, g.expand_as(x), {}, {}, torch::Reduction::None)
            .mean(1);
  } else if (bce) {
    double n = double(g.numel()), n_fg = g.sum().item<double>();
    auto w = g * (0.5 / std::max(n_fg, 1.0)) +
        (1 - g) * (0.5 / std::max(n - n_fg, 1.0));
    loss = loss +
        (torch::binary_cross_entropy_with_logits(
             x, g.expand_as(x), {}, {}, torch::Reduction::None) *
         w)
            .sum(1);
  }
  return loss;
}

// The on-the-fly source's identity: SHA-256 of the factory's canonical
// YAML and the master seed (what corpora.identity records for it).
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
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(h.data()), h.size(), md);
  char hex[2 * SHA256_DIGEST_LENGTH + 1];
  for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
    snprintf(hex + 2 * i, 3, "%02x", md[i]);
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

// CUDA autocast to bfloat16 for the forward pass while alive (precision:
// bf16); off() ends it before the loss and the backward pass.
struct Autocast {
  bool on;
  explicit Autocast(bool enable) : on(enable) {
    if (on) {
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
      at::autocast::set_enabled(true);
    }
  }
  void off() {
    if (on) {
      at::autocast::set_enabled(false);
      at::autocast::clear_cache();
      on = false;
    }
  }
  ~Autocast() {
    off();
  }
};

struct Trainer {
  TrainConfig cfg;
  std::string out;
  sam_model* model = nullptr;
  std::unique_ptr<torch::optim::AdamW> opt;
  DataSet train, val;
  Order order;
  std::vector<Tensor> emb_cache, val_cache; // frozen encoder only
  bool otf = false; // on-the-fly mode: samples from the factory
  sf_config fcfg{};
  uint64_t otf_seed = 0;
  Db db;
  long step = 0, total = 0, best_step = -1;
  double best = NAN, last_val = NAN, wall_before = 0, t0 = 0;
  long encoder_calls = 0;
  std::vector<double> recent;
  ~Trainer() {
    sam_model_free(model);
  }

  torch::Device dev() {
    return sam::device(model);
  }

  int load_sample(const DataSet& ds, const Item& it, Loaded* l, sf_err* err) {
    return sf_corpus_load(
        ds.corpora[size_t(it.corpus)],
        it.pos,
        &l->image,
        &l->labels,
        &l->nx,
        &l->ny,
        err);
  }

  // On-the-fly sample for step g (see train.h): factory sample g, or
  // g + k * total when g has no instance of at least the minimum area.
  int otf_sample(
      uint64_t g,
      Loaded* l,
      std::vector<int>* labels,
      uint64_t* index,
      sf_err* err) {
    for (uint64_t k = 0; k < 8; k++) {
      uint64_t ix = g + k * uint64_t(total);
      sf_sample* s = nullptr;
      int rc = sf_sample_generate(&fcfg, otf_seed, ix, &s, err);
      if (rc)
        return sf_err_wrap(err, "on-the-fly sample %llu", (unsigned long long)ix),
               rc;
      size_t npx = size_t(s->nx) * size_t(s->ny);
      std::vector<long> area(size_t(s->n_instances) + 1, 0);
      for (size_t i = 0; i < npx; i++)
        if (s->labels[i] <= s->n_instances)
          area[s->labels[i]]++;
      labels->clear();
      double min_area = cfg.min_area_frac * double(npx);
      for (int i = 1; i <= s->n_instances; i++)
        if (area[size_t(i)] > 0 && double(area[size_t(i)]) >= min_area)
          labels->push_back(i);
      if (!labels->empty()) {
        l->image = static_cast<uint8_t*>(malloc(npx));
        l->labels = static_cast<uint16_t*>(malloc(npx * sizeof(uint16_t)));
        if (!l->image || !l->labels) {
          sf_sample_free(s);
          return sf_err_set(err, SF_ENOMEM, "out of memory");
        }
        memcpy(l->image, s->image, npx);
        memcpy(l->labels, s->labels, npx * sizeof(uint16_t));
        l->nx = s->nx;
        l->ny = s->ny;
        *index = ix;
        sf_sample_free(s);
        return SF_OK;
      }
      sf_sample_free(s);
    }
    return sf_err_set(
        err,
        SF_EINVAL,
        "on-the-fly: 8 factory samples in a row have no instance of at "
        "least min_area_frac %g of the image",
        cfg.min_area_frac);
  }

  // crop_scale: a zoomed view of the sample, as the zoom predictor sees
  // an image. An eligible instance (uniform) is clicked as for the step
  // (its positives' centroid is the view's centre, the predictor's rule);
  // the view's side is a log-uniform fraction of the image's longer side,
  // shifted to lie inside the image. Instances eligible in the view
  // (min_area_frac of the view) replace *el; no eligible instance: the
  // whole image is used. Draws: key "train-crop" (seed, step).
  int crop_view(
      Loaded* l,
      const std::vector<int>& el,
      uint64_t pos,
      std::vector<int>* out_labels,
      bool* cropped,
      sf_err* err) {
    *cropped = false;
    sf_rng_key kc = sf_prompt_key(cfg.seed, "train-crop", uint64_t(step), 0);
    const int nx = l->nx, ny = l->ny;
    const size_t npx = size_t(nx) * size_t(ny);
    int label = el[size_t(sf_rng_u64(kc, 0) % el.size())];
    std::vector<uint8_t> mask(npx);
    sf_mask_from_labels(l->labels, npx, uint16_t(label), mask.data());
    sf_prompt_opts po;
    sf_prompt_opts_init(
        &po,
        cfg.n_pos_lo +
            int(sf_rng_u64(kc, 1) % uint64_t(cfg.n_pos_hi - cfg.n_pos_lo + 1)),
        0);
    std::vector<sf_click> ck(size_t(po.n_pos));
    int nc = 0;
    int rc = sf_prompts_simulate(
        mask.data(),
        nx,
        ny,
        &po,
        sf_prompt_key(cfg.seed, "train-crop-click", pos, uint64_t(label)),
        ck.data(),
        &nc,
        err);
    if (rc || nc == 0)
      return rc;
    double cx = 0, cy = 0;
    for (int i = 0; i < nc; i++)
      cx += ck[size_t(i)].x + 0.5, cy += ck[size_t(i)].y + 0.5;
    cx /= nc, cy /= nc;
    double u = double(sf_rng_u64(kc, 2) >> 11) * 0x1.0p-53;
    double f = cfg.crop_lo * std::pow(cfg.crop_hi / cfg.crop_lo, u);
    int side = std::max(8, int(std::lround(f * double(std::max(nx, ny)))));
    int wx = std::min(side, nx), wy = std::min(side, ny);
    int x0 = std::clamp(int(std::lround(cx - wx / 2.0)), 0, nx - wx);
    int y0 = std::clamp(int(std::lround(cy - wy / 2.0)), 0, ny - wy);
    if (wx == nx && wy == ny)
      return SF_OK;
    auto* img = static_cast<uint8_t*>(malloc(size_t(wx) * size_t(wy)));
    auto* lab =
        static_cast<uint16_t*>(malloc(size_t(wx) * size_t(wy) * sizeof(uint16_t)));
    if (!img || !lab) {
      free(img);
      free(lab);
      return sf_err_set(err, SF_ENOMEM, "out of memory");
    }
    std::vector<long> area(65536, 0);
    for (int y = 0; y < wy; y++)
      for (int x = 0; x < wx; x++) {
        size_t src = size_t(y0 + y) * size_t(nx) + size_t(x0 + x);
        size_t dst = size_t(y) * size_t(wx) + size_t(x);
        img[dst] = l->image[src];
        lab[dst] = l->labels[src];
        area[lab[dst]]++;
      }
    out_labels->clear();
    double min_area = cfg.min_area_frac * double(wx) * double(wy);
    for (int lb : el)
      if (area[size_t(lb)] > 0 && double(area[size_t(lb)]) >= min_area)
        out_labels->push_back(lb);
    if (out_labels->empty()) {
      free(img);
      free(lab);
      return SF_OK;
    }
    free(l->image);
    free(l->labels);
    l->image = img;
    l->labels = lab;
    l->nx = wx;
    l->ny = wy;
    *cropped = true;
    return SF_OK;
  }

  // One training step on data position `step`. *loss_out gets the loss.
  int train_step(double lr, double* loss_out, sf_err* err) {
    Loaded l;
    std::vector<int> otf_labels;
    const std::vector<int>* el = nullptr;
    uint64_t pos = 0;
    long idx = -1; // embedding cache slot (corpora only)
    int rc;
    if (otf) {
      if ((rc = otf_sample(uint64_t(step), &l, &otf_labels, &pos, err)))
        return rc;
      el = &otf_labels;
    } else {
      idx = long(order.at(uint64_t(step)));
      const Item& it = train.items[size_t(idx)];
      if ((rc = load_sample(train, it, &l, err)))
        return rc;
      el = &it.labels;
      pos = it.pos;
    }
    std::vector<int> crop_labels;
    bool cropped = false;
    if (cfg.crop_lo > 0) {
      if ((rc = crop_view(&l, *el, pos, &crop_labels, &cropped, err)))
        return rc;
      if (cropped)
        el = &crop_labels;
    }
    // K = instances_per_step distinct instances (partial Fisher-Yates on
    // the counter RNG; the first pick is the K = 1 pick), each with its
    // own clicks; the click counts are drawn once per step so that the K
    // prompts batch without padding.
    sf_rng_key kp = sf_prompt_key(cfg.seed, "train-pick", uint64_t(step), 0);
    std::vector<int> picks(*el);
    size_t K = std::min(size_t(cfg.instances_per_step), picks.size());
    for (size_t i = 0; i < K; i++) {
      uint64_t r = sf_rng_u64(kp, i == 0 ? 0 : 16 + i);
      std::swap(picks[i], picks[i + size_t(r % (picks.size() - i))]);
    }
    picks.resize(K);
    sf_prompt_opts po;
    sf_prompt_opts_init(
        &po,
        cfg.n_pos_lo +
            int(sf_rng_u64(kp, 1) % uint64_t(cfg.n_pos_hi - cfg.n_pos_lo + 1)),
        cfg.n_neg_lo +
            int(sf_rng_u64(kp, 2) % uint64_t(cfg.n_neg_hi - cfg.n_neg_lo + 1)));
    // single_click_frac of the steps start from one positive click (the
    // prompt that asks for three masks); draw 3 is used only then, so
    // runs without the key keep their streams.
    if (cfg.single_click_frac > 0 &&
        double(sf_rng_u64(kp, 3) >> 11) * 0x1.0p-53 < cfg.single_click_frac)
      po.n_pos = 1, po.n_neg = 0;
    po.ring_width_px = cfg.ring_width_px;
    size_t npx = size_t(l.nx) * size_t(l.ny);
    std::vector<uint8_t> masks(K * npx);
    std::vector<std::vector<sf_click>> clicks(K);
    int n_max = 0;
    for (size_t k = 0; k < K; k++) {
      uint8_t* mask = masks.data() + k * npx;
      sf_mask_from_labels(l.labels, npx, uint16_t(picks[k]), mask);
      clicks[k].resize(size_t(po.n_pos + po.n_neg));
      int n_clicks = 0;
    sf_rng_key kc = sf_prompt_key(
          cfg.seed,
          "train",
          pos,
          uint64_t(step) * 65536u + uint64_t(picks[k]));
      if ((rc = sf_prompts_simulate(
               mask, l.nx, l.ny, &po, kc, clicks[k].data(), &n_clicks, err)))
        return rc;
      clicks[k].resize(size_t(n_clicks));
      n_max = std::max(n_max, n_clicks);
    }
    const sam_config& mc = cfg.model;
    float* buf = nullptr;
    int in_h = 0, in_w = 0;
    // A high_res_features decoder needs the stem's features of the image
    // too: no embedding cache then (the frozen encoder runs every step).
    const bool cached = cfg.freeze_image_encoder && idx >= 0 &&
        mc.high_res_features == 0 && cfg.crop_lo == 0;
    if (!cached || !emb_cache[size_t(idx)].defined()) {
      if ((rc = sam_preprocess_image(
               &mc, l.image, l.nx, l.ny, 1, &buf, &in_h, &in_w, nullptr, err)))
        return rc;
    } else {
      sam__input_shape(&mc, l.ny, l.nx, &in_h, &in_w);
    }
    std::unique_ptr<float, decltype(&free)> hold(buf, &free);
    auto& net = sam::net(model);
    int64_t S = mc.image_size;
    Autocast ac(cfg.bf16 != 0); // forward in bf16 on CUDA, loss in fp32
    Tensor emb;
    std::vector<Tensor> high_res;
    if (cached) {
      if (!emb_cache[size_t(idx)].defined()) {
        torch::NoGradGuard ng;
        emb_cache[size_t(idx)] =
            net->image_encoder(torch::from_blob(buf, {1, 3, S, S}).to(dev()));
        encoder_calls++;
      }
      emb = emb_cache[size_t(idx)];
    } else {
      c10::AutoGradMode grad(!cfg.freeze_image_encoder);
      auto x = torch::from_blob(buf, {1, 3, S, S}).to(dev());
      emb = net->image_encoder->forward(x, nullptr, &high_res);
      encoder_calls++;
    }
    // Clicks -> input-frame coordinates as the predictor does; a prompt
    // with fewer clicks (the simulator found no room for a negative) is
    // padded with not-a-point (-1) entries, as the reference pads.
    const bool medsam = mc.preprocess == SAM_PREPROCESS_MEDSAM;
    const int64_t Kb = int64_t(K);
    const int n_iter = 1 + cfg.corrective_iters;
    const int n_cols = n_max + cfg.corrective_iters;
    auto coords = torch::zeros({Kb, n_cols, 2});
    auto labels = torch::full({Kb, n_cols}, -1, torch::kInt);
    float* cp = coords.data_ptr<float>();
    int32_t* lp = labels.data_ptr<int32_t>();
    auto put = [&](size_t k, int col, double x, double y, int positive) {
      size_t j = k * size_t(n_cols) + size_t(col);
      cp[2 * j] = float(
          medsam ? x / l.nx * double(S) : x * (double(in_w) / double(l.nx)));
      cp[2 * j + 1] = float(
          medsam ? y / l.ny * double(S) : y * (double(in_h) / double(l.ny)));
      lp[j] = positive;
    };
    for (size_t k = 0; k < K; k++)
      for (size_t i = 0; i < clicks[k].size(); i++)
        put(k,
            int(i),
            clicks[k][i].x,
            clicks[k][i].y,
            clicks[k][i].positive ? 1 : 0);
    Tensor gt = torch::from_blob(masks.data(), {Kb, l.ny, l.nx}, torch::kUInt8)
                    .to(torch::kFloat)
                    .to(dev());
    // SAM's output contract: a one-click prompt asks for the three
    // disambiguating masks and the loss takes the best of them; any other
    // prompt asks for token 0. The IoU head learns the true IoU of every
    // mask it scores. corrective_iters further passes each add one click
    // drawn uniformly from the error region of the previous pass's mask
    // (the one of highest predicted IoU; positive where it missed the
    // instance), with that mask's low-res logits as the mask input, as
    // SAM trains interactive use. The loss is the mean over the passes.
    bool one_click = cfg.multimask != 0;
    for (size_t k = 0; k < K && one_click; k++)
      one_click = clicks[k].size() == 1;
    Tensor loss = torch::zeros({}, torch::TensorOptions().device(dev()));
    Tensor mask_in;
    int n_cur = n_max;
    for (int it = 0; it < n_iter; it++) {
      const bool mm = it == 0 && one_click;
      Autocast ac2(cfg.bf16 != 0 && it > 0);
      auto pe = net->prompt_encoder(
          coords.slice(1, 0, n_cur).to(dev()),
          labels.slice(1, 0, n_cur).to(dev()),
          Tensor(),
          mask_in);
      auto dec = net->mask_decoder(
          emb,
          net->prompt_encoder->get_dense_pe(),
          pe.first,
          pe.second,
          mm,
          high_res);
      ac.off();
      ac2.off();
      // (K, M, H, W) logits at the original size
      Tensor low = dec.first.to(torch::kFloat);
      Tensor up = net->postprocess_masks(low, in_h, in_w, l.ny, l.nx);
      Tensor it_loss = torch::zeros({}, up.options());
      for (int64_t k = 0; k < Kb; k++) // multimask: the best mask
        it_loss = it_loss +
            seg_loss(up.slice(0, k, k + 1), gt[k], cfg.loss_bce).min();
      it_loss = it_loss / double(Kb);
      Tensor pm = (up > 0).to(torch::kFloat); // (K, M, H, W)
      if (cfg.iou_loss_weight > 0) {
        auto g = gt.unsqueeze(1);
        auto inter = (pm * g).flatten(2).sum(2);
        auto uni = ((pm + g) > 0).to(torch::kFloat).flatten(2).sum(2);
        auto iou_true = torch::where(uni > 0, inter / uni.clamp_min(1), 1.0);
        it_loss = it_loss +
            cfg.iou_loss_weight *
                torch::mse_loss(dec.second.to(torch::kFloat), iou_true);
      }
      loss = loss + it_loss;
      if (it + 1 == n_iter)
        break;
      // The next pass: one corrective click per instance.
      auto top = dec.second.argmax(1); // (K)
      auto ar = torch::arange(Kb, top.options());
      Tensor prev = pm.index({ar, top}).to(torch::kCPU, torch::kUInt8)
                        .contiguous(); // (K, H, W)
      mask_in = low.index({ar, top}).unsqueeze(1).detach();
      const uint8_t* pv = prev.data_ptr<uint8_t>();
      for (size_t k = 0; k < K; k++) {
        const uint8_t* g = masks.data() + k * npx;
        const uint8_t* q = pv + k * npx;
        size_t n_err = 0;
        for (size_t i = 0; i < npx; i++)
          n_err += (q[i] != 0) != (g[i] != 0);
        if (!n_err) // nothing to correct: a not-a-point pad
          continue;
        sf_rng_key ke = sf_prompt_key(
            cfg.seed,
            "train-correct",
            pos,
            uint64_t(step) * 65536u + uint64_t(picks[k]));
        size_t want = size_t(sf_rng_u64(ke, uint64_t(it)) % n_err), i = 0;
        for (;; i++)
          if ((q[i] != 0) != (g[i] != 0) && want-- == 0)
            break;
        put(k,
            n_cur,
            double(i % size_t(l.nx)),
            double(i / size_t(l.nx)),
            g[i] ? 1 : 0);
      }
      n_cur++;
    }
    loss = loss / double(n_iter);
    const bool two = opt->param_groups().size() == 2; // encoder first
    for (size_t gi = 0; gi < opt->param_groups().size(); gi++)
      static_cast<torch::optim::AdamWOptions&>(
          opt->param_groups()[gi].options())
          .lr(two && gi == 0 ? lr * cfg.encoder_lr_scale : lr);
    opt->zero_grad();
    loss.backward();
    opt->step();
    *loss_out = loss.item<double>();
    return SF_OK;
  }

  struct ValRow {
    uint64_t sample;
    int label;
    long area, pred_area;
    double dice;
  };
  std::vector<ValRow> val_rows; // the last validation's instances

  int validate(double* dice, long* n_val, sf_err* err) {
    double sum = 0;
    long n = 0;
    val_rows.clear();
    int C = 0, E = 0;
    sam_model_embedding_shape(model, &C, &E);
    for (size_t vi = 0; vi < val.items.size(); vi++) {
      const Item& it = val.items[vi];
      Loaded l;
      int rc = load_sample(val, it, &l, err);
      if (rc)
        return rc;
      const bool zoom = cfg.model.n_zoom > 0; // views per prompt
      const bool cache = cfg.freeze_image_encoder &&
          cfg.model.high_res_features == 0 && !zoom;
      if (zoom) {
        rc = SF_OK;
      } else if (cache && val_cache[vi].defined()) {
        rc = sam_model_set_embeddings(
            model, val_cache[vi].data_ptr<float>(), l.nx, l.ny, err);
      } else {
        rc = sam_model_set_image(model, l.image, l.nx, l.ny, 1, err);
        encoder_calls++;
        if (rc == SF_OK && cache) {
          val_cache[vi] = torch::empty({C, E, E});
          rc = sam_model_get_embeddings(
              model,
              val_cache[vi].data_ptr<float>(),
              size_t(val_cache[vi].numel()),
              err);
        }
      }
      if (rc)
        return rc;
      size_t npx = size_t(l.nx) * size_t(l.ny);
      std::vector<uint8_t> mask(npx);
      for (int label : it.labels) {
        sf_mask_from_labels(l.labels, npx, uint16_t(label), mask.data());
        sf_prompt_opts po;
        sf_prompt_opts_init(&po, 1, 0); // setting (1,0)
        sf_click ck;
        int nc = 0;
        if ((rc = sf_prompts_simulate(
                 mask.data(),
                 l.nx,
                 l.ny,
                 &po,
                 sf_prompt_key(cfg.seed, "val", it.pos, uint64_t(label)),
                 &ck,
                 &nc,
                 err)))
          return rc;
        float pt[2] = {float(ck.x), float(ck.y)};
        int lab = 1;
        sam_prompt p{};
        p.n_points = 1;
        p.points = pt;
        p.labels = &lab;
        // The output the harness scores: with multimask trained, the
        // best of three by predicted IoU; else the single mask.
        p.multimask = cfg.multimask;
        sam_prediction* pr = nullptr;
        if ((rc = zoom ? sam_model_predict_image(
                             model, l.image, l.nx, l.ny, 1, &p, &pr, nullptr, err)
                       : sam_model_predict(model, &p, &pr, err)))
          return rc;
        if (zoom)
          encoder_calls += cfg.model.n_zoom;
        const uint8_t* pm = pr->masks + size_t(p.multimask ? pr->best : 0) * npx;
        long a = 0, b = 0, ab = 0;
        for (size_t i = 0; i < npx; i++) {
          a += pm[i] != 0;
          b += mask[i];
          ab += (pm[i] != 0) && mask[i];
        }
        sam_prediction_free(pr);
        double d = a + b ? 2.0 * double(ab) / double(a + b) : 1.0;
        val_rows.push_back({it.pos, label, b, a, d});
        sum += d;
        n++;
      }
    }
    *dice = n ? sum / double(n) : NAN;
    *n_val = n;
    return SF_OK;
  }

  // Resumable state: weights + optimiser + counters in one archive,
  // written to a temporary name and renamed (atomic).
  int save_state(sf_err* err) {
    std::string p = out + "/state.pt", tmp = p + ".tmp";
    try {
      torch::serialize::OutputArchive ar, am, ao;
      sam::net(model)->save(am);
      opt->save(ao);
      ar.write("model", am);
      ar.write("optim", ao);
      ar.write(
          "counters",
          torch::tensor(
              {double(step), best, double(best_step), last_val, elapsed()},
              torch::kDouble));
      ar.save_to(tmp);
    } catch (const std::exception& e) {
      return sf_err_set(err, SF_EIO, "%s: %s", tmp.c_str(), e.what());
    }
    if (rename(tmp.c_str(), p.c_str()))
      return sf_err_set(err, SF_EIO, "%s: %s", p.c_str(), strerror(errno));
    return sam_model_save(model, (out + "/last.pth").c_str(), err);
  }

  int load_state(sf_err* err) {
    std::string p = out + "/state.pt";
    try {
      torch::serialize::InputArchive ar, am, ao;
      ar.load_from(p);
      ar.read("model", am);
      ar.read("optim", ao);
      sam::net(model)->load(am);
      opt->load(ao);
      Tensor c;
      ar.read("counters", c);
      auto a = c.accessor<double, 1>();
      step = long(a[0]);
      best = a[1];
      best_step = long(a[2]);
      last_val = a[3];
      wall_before = a[4];
    } catch (const std::exception& e) {
      return sf_err_set(
          err,
          SF_ECORRUPT,
          "%s: not a resumable state of this run: %.300s",
          p.c_str(),
          e.what());
    }
    return SF_OK;
  }

  double elapsed() {
    return wall_before + now_s() - t0;
  }

  // RUN/curve.png from run.sqlite; a failure to draw is recorded in
  // run.plot_error, not fatal (the numbers are in run.sqlite).
  void plot() {
    sf_err e{};
    if (sam_train_plot(out.c_str(), (out + "/curve.png").c_str(), &e))
      db.set("plot_error", e.msg);
  }
};

int build_model(Trainer* t, sf_err* err) {
  const TrainConfig& c = t->cfg;
  int rc = sam_model_new(&c.model, c.device, c.seed, &t->model, err);
  if (rc)
    return rc;
  if (c.init.size()) {
    // Encoder + prompt encoder from the checkpoint (strictly loaded);
    // the mask decoder keeps its fresh initialisation (the recipe).
    sam_model* src = nullptr;
    if ((rc = sam_model_load(c.init.c_str(), &c.model, c.device, &src, err)))
      return sf_err_wrap(err, "--init %s", c.init.c_str()), rc;
    torch::NoGradGuard ng;
    auto& d = sam::net(t->model);
    auto& s = sam::net(src);
    auto copy = [](torch::nn::Module& to, torch::nn::Module& from) {
      auto a = to.named_parameters(true), b = from.named_parameters(true);
      for (auto& kv : a)
        kv.value().copy_(b[kv.key()]);
      auto x = to.named_buffers(true), y = from.named_buffers(true);
      for (auto& kv : x)
        kv.value().copy_(y[kv.key()]);
    };
    copy(*d->image_encoder, *s->image_encoder);
    copy(*d->prompt_encoder, *s->prompt_encoder);
    sam_model_free(src);
  }
  auto& net = sam::net(t->model);
  // One parameter group, or two (image encoder first) when the encoder
  // has its own lr scale: a run with the default keeps the optimiser
  // state layout of earlier runs (resume).
  std::vector<Tensor> params, enc_params;
  const bool two = c.encoder_lr_scale != 1.0 && !c.freeze_image_encoder;
  for (auto& kv : net->named_parameters(true)) {
    bool enc = kv.key().rfind("image_encoder.", 0) == 0;
    if (enc && c.freeze_image_encoder)
      kv.value().set_requires_grad(false);
    else if (enc && two)
      enc_params.push_back(kv.value());
    else
      params.push_back(kv.value());
  }
  auto aw = torch::optim::AdamWOptions(c.lr).weight_decay(c.weight_decay);
  if (two) {
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(
        enc_params,
        std::make_unique<torch::optim::AdamWOptions>(
            torch::optim::AdamWOptions(c.lr * c.encoder_lr_scale)
                .weight_decay(c.weight_decay)));
    groups.emplace_back(
        params, std::make_unique<torch::optim::AdamWOptions>(aw));
    t->opt = std::make_unique<torch::optim::AdamW>(groups, aw);
  } else {
    t->opt = std::make_unique<torch::optim::AdamW>(params, aw);
  }
  return SF_OK;
}

int run(const sam_train_opts* o, sam_train_result* res, sf_err* err) {
  if (!o || !o->out_dir)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  auto t = std::make_unique<Trainer>();
  t->out = o->out_dir;
  int rc;
  std::vector<std::string> tdirs;
  std::string vdir, otf_path; // otf_path: factory config (on-the-fly)
  const std::string dbpath = t->out + "/run.sqlite";
  if (o->resume) {
    if (exists(t->out + "/DONE"))
      return sf_err_set(
          err, SF_EEXIST, "%s: the run is finished (DONE)", o->out_dir);
    if (!exists(t->out + "/state.pt") || !exists(dbpath))
      return sf_err_set(
          err,
          SF_EINVAL,
          "%s: no resumable run here (run.sqlite and state.pt needed)",
          o->out_dir);
    if ((rc = parse_config((t->out + "/config.yaml").c_str(), &t->cfg, err)))
      return rc;
    if (sqlite3_open_v2(
            dbpath.c_str(), &t->db.db, SQLITE_OPEN_READWRITE, nullptr))
      return sf_err_set(err, SF_EDB, "%s: cannot open", dbpath.c_str());
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(
        t->db.db,
        "SELECT role, dir FROM corpora ORDER BY rowid",
        -1,
        &st,
        nullptr);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
      std::string role = (const char*)sqlite3_column_text(st, 0);
      std::string dir = (const char*)sqlite3_column_text(st, 1);
      if (role == "val")
        vdir = dir;
      else if (role == "on-the-fly")
        otf_path = t->out + "/factory.yaml";
      else
        tdirs.push_back(dir);
    }
    sqlite3_finalize(st);
  } else {
    if (!o->config || (!o->n_corpora && !o->on_the_fly) || !o->val_dir)
      return sf_err_set(
          err,
          SF_EINVAL,
          "a config, a training corpus (or on-the-fly factory config) and "
          "--val are needed");
    if (o->n_corpora && o->on_the_fly)
      return sf_err_set(
          err,
          SF_EINVAL,
          "training corpora and on-the-fly: give one or the other");
    if (o->on_the_fly)
      otf_path = o->on_the_fly;
    if ((rc = parse_config(o->config, &t->cfg, err)))
      return rc;
    if (o->init)
      t->cfg.init = o->init;
    if (o->device >= 0)
      t->cfg.device = o->device;
    if (o->threads > 0)
      t->cfg.threads = o->threads;
    for (int i = 0; i < o->n_corpora; i++)
      tdirs.push_back(o->corpora[i]);
    vdir = o->val_dir;
    if (exists(t->out))
      return sf_err_set(
          err,
          SF_EEXIST,
          "%s exists: choose a new run directory, or --resume it",
          o->out_dir);
  }
  TrainConfig& c = t->cfg;
  if (c.bf16 && c.device != SAM_DEVICE_CUDA)
    return sf_err_set(
        err,
        SF_ECONFIG,
        "precision: bf16 is mixed precision on a GPU: it needs device cuda "
        "(--device cuda)");
  if (c.threads > 0)
    sam_set_num_threads(c.threads);
  blas_single_thread();
  for (auto& d : tdirs)
    if (d == vdir)
      return sf_err_set(
          err,
          SF_EINVAL,
          "%s is both a training and the validation corpus",
          d.c_str());
  if (otf_path.size()) {
    t->otf = true;
    t->otf_seed =
        c.on_the_fly_seed >= 0 ? uint64_t(c.on_the_fly_seed) : c.seed;
    if ((rc = sf_config_load(otf_path.c_str(), &t->fcfg, err)))
      return sf_err_wrap(err, "on-the-fly factory config"), rc;
    if (c.images_per_epoch <= 0)
      return sf_err_set(
          err,
          SF_ECONFIG,
          "images_per_epoch: on-the-fly training needs a positive number "
          "of images per epoch");
  }
  if ((!t->otf &&
       (rc = open_data(tdirs, c.min_area_frac, 0, 0, &t->train, err))) ||
      (rc = open_data(
           {vdir},
           c.min_area_frac,
           c.val_instances_per_image,
           c.val_max_images,
           &t->val,
           err)))
    return rc;
  for (auto& id : t->train.identities)
    if (id == t->val.identities[0])
      return sf_err_set(
          err,
          SF_EINVAL,
          "the validation corpus has the same content as a training corpus");
  if (t->otf &&
      sf_corpus_get_info(t->val.corpora[0])->master_seed == t->otf_seed)
    return sf_err_set(
        err,
        SF_EINVAL,
        "on-the-fly seed %llu is the validation corpus's master seed: the "
        "draws would repeat validation samples (set on_the_fly_seed or "
        "generate the validation corpus with another seed)",
        (unsigned long long)t->otf_seed);
  std::string otf_yaml, otf_id;
  if (t->otf && (rc = factory_identity(t->fcfg, t->otf_seed, &otf_yaml, &otf_id, err)))
    return rc;
  if ((rc = build_model(t.get(), err)))
    return rc;
  long ipe =
      c.images_per_epoch > 0 ? c.images_per_epoch : long(t->train.items.size());
  t->total = ipe * long(c.epochs);
  t->order.seed = c.seed;
  t->order.n = t->otf ? 1 : t->train.items.size();
  t->emb_cache.resize(t->train.items.size());
  t->val_cache.resize(t->val.items.size());
  // Everything checked: now (and only now) the run directory appears.
  if (!o->resume) {
    if (mkdir(o->out_dir, 0777))
      return sf_err_set(
          err, SF_EIO, "mkdir %s: %s", o->out_dir, strerror(errno));
    if (sqlite3_open(dbpath.c_str(), &t->db.db))
      return sf_err_set(err, SF_EDB, "%s: cannot create", dbpath.c_str());
    if ((rc = t->db.exec(kSchema, err)) ||
        (rc = write_text(t->out + "/config.yaml", config_yaml(c), err)) ||
        (rc = write_text(t->out + "/model.yaml", c.model_text, err)) ||
        (t->otf &&
         (rc = write_text(t->out + "/factory.yaml", otf_yaml, err))))
      return rc;
    t->db.exec("BEGIN", nullptr);
    t->db.set("config_yaml", config_yaml(c));
    t->db.set("model_yaml", c.model_text);
    t->db.set("total_steps", std::to_string(t->total));
    t->db.set("started_at", std::to_string(long(now_s())));
    t->db.set(
        "lr_choice",
        "AdamW, cosine decay: our choice (the paper's LR is lost)");
    if (t->otf) {
      sqlite3_stmt* st = nullptr;
      sqlite3_prepare_v2(
          t->db.db, "INSERT INTO corpora VALUES(?, ?, ?, ?)", -1, &st, nullptr);
      char abs[4096];
      sqlite3_bind_text(st, 1, "on-the-fly", -1, SQLITE_STATIC);
      sqlite3_bind_text(
          st,
          2,
          realpath(otf_path.c_str(), abs) ? abs : otf_path.c_str(),
          -1,
          SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 3, otf_id.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(st, 4, sqlite3_int64(t->total));
      sqlite3_step(st);
      sqlite3_finalize(st);
      t->db.set("on_the_fly_seed", std::to_string(t->otf_seed));
    }
    for (size_t i = 0; i <= tdirs.size(); i++) {
      bool v = i == tdirs.size();
      sqlite3_stmt* st = nullptr;
      sqlite3_prepare_v2(
          t->db.db, "INSERT INTO corpora VALUES(?, ?, ?, ?)", -1, &st, nullptr);
      char abs[4096];
      const std::string& d = v ? vdir : tdirs[i];
      sqlite3_bind_text(st, 1, v ? "val" : "train", -1, SQLITE_STATIC);
      sqlite3_bind_text(
          st,
          2,
          realpath(d.c_str(), abs) ? abs : d.c_str(),
          -1,
          SQLITE_TRANSIENT);
      sqlite3_bind_text(
          st,
          3,
          (v ? t->val.identities[0] : t->train.identities[i]).c_str(),
          -1,
          SQLITE_TRANSIENT);
      sqlite3_bind_int64(
          st,
          4,
          sqlite3_int64(
              sf_corpus_count(v ? t->val.corpora[0] : t->train.corpora[i])));
      sqlite3_step(st);
      sqlite3_finalize(st);
    }
    t->db.exec("COMMIT", nullptr);
  } else {
    t->db.exec(kSchema, nullptr);
    if ((rc = t->load_state(err)))
      return rc;
  }
  t->db.set("status", "running");
  t->db.set("device", c.device == SAM_DEVICE_CUDA ? "cuda" : "cpu");
  t->db.set("threads", std::to_string(torch::get_num_threads()));
  t->t0 = now_s();
  double t_start = t->t0;
  long step0 = t->step;
  sam_train_progress pg{};
  int cancelled = 0;
  t->db.exec("BEGIN", nullptr);
  sqlite3_stmt* ins = nullptr;
  sqlite3_prepare_v2(
      t->db.db,
      "INSERT OR REPLACE INTO steps VALUES(?, ?, ?, ?, ?)",
      -1,
      &ins,
      nullptr);
  double epoch_loss = 0;
  long epoch_n = 0;
  try {
    while (t->step < t->total) {
      if (o->stop_after_steps > 0 && t->step >= o->stop_after_steps)
        break;
      if (o->max_wall_s > 0 && now_s() - t_start >= o->max_wall_s)
        break;
      double lr = cosine_lr(c, t->step, t->total);
      double loss = 0;
      if ((rc = t->train_step(lr, &loss, err)))
        break;
      int epoch = int(t->step / ipe);
      t->step++;
      epoch_loss += loss;
      epoch_n++;
      t->recent.push_back(loss);
      if (t->recent.size() > 100)
        t->recent.erase(t->recent.begin());
      sqlite3_bind_int64(ins, 1, t->step);
      sqlite3_bind_int(ins, 2, epoch);
      sqlite3_bind_double(ins, 3, loss);
      sqlite3_bind_double(ins, 4, lr);
      sqlite3_bind_double(ins, 5, t->elapsed());
      sqlite3_step(ins);
      sqlite3_reset(ins);
      pg.validated = 0;
      if (t->step % 200 == 0) // keep run.sqlite readable during an epoch
        t->db.exec("COMMIT; BEGIN", nullptr);
      if (t->step % ipe == 0) { // end of an epoch: validate, checkpoint
        double d = NAN;
        long nv = 0;
        if ((rc = t->validate(&d, &nv, err)))
          break;
        t->last_val = d;
        sqlite3_stmt* st = nullptr;
        sqlite3_prepare_v2(
            t->db.db,
            "INSERT OR REPLACE INTO epochs VALUES(?, ?, ?, ?, ?, ?)",
            -1,
            &st,
            nullptr);
        sqlite3_bind_int(st, 1, epoch);
        sqlite3_bind_int64(st, 2, t->step);
        sqlite3_bind_double(st, 3, d);
        sqlite3_bind_int64(st, 4, nv);
        sqlite3_bind_double(
            st, 5, epoch_n ? epoch_loss / double(epoch_n) : NAN);
        sqlite3_bind_double(st, 6, t->elapsed());
        sqlite3_step(st);
        sqlite3_finalize(st);
        sqlite3_prepare_v2(
            t->db.db,
            "INSERT OR REPLACE INTO val_instances VALUES(?, ?, ?, ?, ?, ?)",
            -1,
            &st,
            nullptr);
        for (const auto& v : t->val_rows) {
          sqlite3_bind_int(st, 1, epoch);
          sqlite3_bind_int64(st, 2, sqlite3_int64(v.sample));
          sqlite3_bind_int(st, 3, v.label);
          sqlite3_bind_int64(st, 4, v.area);
          sqlite3_bind_int64(st, 5, v.pred_area);
          sqlite3_bind_double(st, 6, v.dice);
          sqlite3_step(st);
          sqlite3_reset(st);
        }
        sqlite3_finalize(st);
        epoch_loss = 0;
        epoch_n = 0;
        if (std::isnan(t->best) || d > t->best) {
          t->best = d;
          t->best_step = t->step;
          if ((rc = sam_model_save(
                   t->model, (t->out + "/best.pth").c_str(), err)))
            break;
        }
        if ((rc = t->save_state(err)))
          break;
        t->db.exec("COMMIT; BEGIN", nullptr);
        t->plot();
        pg.validated = 1;
      }
      pg.step = t->step;
      pg.total_steps = t->total;
      pg.epoch = epoch;
      pg.loss = loss;
      double s = 0;
      for (double x : t->recent)
        s += x;
      pg.loss_avg = s / double(t->recent.size());
      pg.lr = lr;
      pg.val_dice = t->last_val;
      pg.best_val_dice = t->best;
      pg.elapsed_s = t->elapsed();
      pg.steps_per_s = double(t->step - step0) / (now_s() - t_start);
      if (o->progress && o->progress(o->progress_ctx, &pg)) {
        cancelled = 1;
        break;
      }
    }
  } catch (const std::exception& e) {
    rc = sf_err_set(err, SF_EINVAL, "training: libtorch: %.400s", e.what());
  }
  sqlite3_finalize(ins);
  t->db.exec("COMMIT", nullptr);
  double wall = now_s() - t_start;
  if (res) {
    res->steps = t->step;
    res->total_steps = t->total;
    res->steps_this_run = t->step - step0;
    res->wall_s = wall;
    res->steps_per_s = wall > 0 ? double(t->step - step0) / wall : 0;
    res->best_val_dice = t->best;
    res->best_step = t->best_step;
    res->last_val_dice = t->last_val;
    res->encoder_calls = t->encoder_calls;
    res->finished = 0;
  }
  if (rc) {
    t->db.set("status", "failed");
    t->db.set("error", err ? err->msg : "?");
    return rc;
  }
  // Stopped (Ctrl-C, stop_after_steps) or finished: save where we are.
  if ((rc = t->save_state(err)))
    return rc;
  t->db.set("wall_s", std::to_string(t->elapsed()));
  t->db.set("steps_done", std::to_string(t->step));
  t->db.set("best_val_dice", std::to_string(t->best));
  t->db.set("best_step", std::to_string(t->best_step));
  if (cancelled || t->step < t->total) {
    t->db.set("status", "interrupted");
    return cancelled ? sf_err_set(
                           err,
                           SF_ECANCEL,
                           "stopped at step %ld of %ld; resumable with "
                           "--resume %s",
                           t->step,
                           t->total,
                           o->out_dir)
                     : SF_OK;
  }
  t->db.set("status", "done");
  t->db.set("finished_at", std::to_string(long(now_s())));
  if ((rc = write_text(t->out + "/DONE", "done\n", err)))
    return rc;
  if (res)
    res->finished = 1;
  return SF_OK;
}

} // namespace

extern "C" {

int sam_train_run(const sam_train_opts* o, sam_train_result* res, sf_err* err) {
  if (res) {
    memset(res, 0, sizeof *res);
    res->best_val_dice = res->last_val_dice = NAN;
  }
  try {
    return run(o, res, err);
  } catch (const std::exception& e) {
    return sf_err_set(err, SF_EINVAL, "train: %.400s", e.what());
  } catch (...) {
    return sf_err_set(err, SF_EINVAL, "train: unknown C++ exception");
  }
}

int sam_train_config_check(const char* path, sf_err* err) {
  TrainConfig c;
  try {
    return parse_config(path, &c, err);
  } catch (const std::exception& e) {
    return sf_err_set(err, SF_ECONFIG, "%s: %.400s", path, e.what());
  }
}

} // extern "C"
