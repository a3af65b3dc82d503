// train_int.h - what the trainer's files share (model/): the training
// config (train_config.cpp: parsing and YAML writing), the run database
// and run directory files (train_db.cpp), used by the loop (train.cpp).
// C++, and no libtorch: only train.cpp includes torch headers.
#ifndef SAM_TRAIN_INT_H
#define SAM_TRAIN_INT_H

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <vector>

#include "train.h"

namespace sam_train {

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

// Parse and validate a training config file (SF_ECONFIG with position).
int parse_config(const char* path, TrainConfig* out, sf_err* err);
// The resolved config as YAML (RUN/config.yaml, run.config_yaml).
std::string config_yaml(const TrainConfig& c);
// A model config as YAML that sam_config_parse reads back
// (RUN/model.yaml).
std::string model_yaml(const sam_config& c);
// The on-the-fly source's identity: SHA-256 of the factory's canonical
// YAML (*yaml) and the master seed (what corpora.identity records).
int factory_identity(
    const sf_config& f,
    uint64_t seed,
    std::string* yaml,
    std::string* id,
    sf_err* err);
// Learning rate at a step: linear warm-up, then cosine decay to lr_min.
double cosine_lr(const TrainConfig& c, long step, long total);

// ------------------------------------------------------------ run database

// RUN/run.sqlite: key/value facts of the run, its corpora, per-step loss,
// per-epoch validation and per-instance validation rows (kSchema).
struct Db {
  sqlite3* db = nullptr;
  sqlite3_stmt* step_ins = nullptr; // add_step's statement, end_steps
  ~Db();
  int exec(const char* sql, sf_err* err);
  void set(const char* key, const std::string& value);
  // A corpora row (role train, val or on-the-fly; dir made absolute).
  void add_corpus(
      const char* role,
      const std::string& dir,
      const std::string& identity,
      long long n_samples);
  // The training corpora (role train) and the validation corpus of a run
  // being resumed; *on_the_fly tells whether it trains on the fly.
  void corpora(
      std::vector<std::string>* train,
      std::string* val,
      bool* on_the_fly);
  // One steps row (prepared once; end_steps finalizes it).
  void add_step(long step, int epoch, double loss, double lr, double wall_s);
  // The losses of steps (step - n, step], oldest first, into *out.
  void recent_losses(long step, int n, std::vector<double>* out);
  void end_steps();
};
extern const char* const kSchema;

// path through path.tmp + fsync + rename: SF_EIO naming the file.
int write_text(const std::string& path, const std::string& text, sf_err* err);
bool exists(const std::string& p);

} // namespace sam_train

#endif // SAM_TRAIN_INT_H
