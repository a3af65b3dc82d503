// train.cpp - the trainer's loop (train.h): data order, click sampling,
// Dice loss, AdamW + cosine LR, validation through the public predictor,
// checkpoints (last/best.pth, state.pt, DONE) and exact resume. The config
// is train_config.cpp and the run database train_db.cpp (train_int.h);
// this is the one trainer file with libtorch. Read top to bottom: data ->
// model -> trainer -> run.
#include "train_dist.h"
#include "train_int.h"

#include <dlfcn.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
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

using namespace sam_train;

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
  long spe = 0; // steps per epoch (images_per_epoch / batch_size)
  // Data parallel (train_dist.h): this rank's share of each global batch
  // is the batch slots j = rank, rank + world, ...; rank 0 alone writes.
  Dist* dist = nullptr;
  int rank = 0, world = 1;
  bool writer = true;
  std::vector<Tensor> tparams; // trainable parameters, in module order
  double best = NAN, last_val = NAN, wall_before = 0, t0 = 0;
  long encoder_calls = 0;
  std::vector<double> recent;
  ~Trainer() {
    sam_model_free(model);
    dist_close(dist);
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
      uint64_t ix = g + k * uint64_t(total) * uint64_t(cfg.batch_size);
      sf_sample* s = nullptr;
      int rc = sf_sample_generate(&fcfg, otf_seed, ix, &s, err);
      if (rc)
        return sf_err_wrap(
                   err, "on-the-fly sample %llu", (unsigned long long)ix),
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
      uint64_t g,
      Loaded* l,
      const std::vector<int>& el,
      uint64_t pos,
      std::vector<int>* out_labels,
      bool* cropped,
      sf_err* err) {
    *cropped = false;
    sf_rng_key kc = sf_prompt_key(cfg.seed, "train-crop", g, 0);
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
    auto* lab = static_cast<uint16_t*>(
        malloc(size_t(wx) * size_t(wy) * sizeof(uint16_t)));
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

  // One sample of a step: data position gpos (step * batch_size + batch
  // slot; = step at batch 1, what the keys below were before batches),
  // forward and backward of its loss x scale (1 / batch_size: the
  // gradients of a step's samples add up to their mean's). *loss_out gets
  // the unscaled loss.
  int train_sample(uint64_t gpos, double scale, double* loss_out, sf_err* err) {
    Loaded l;
    std::vector<int> otf_labels;
    const std::vector<int>* el = nullptr;
    uint64_t pos = 0;
    long idx = -1; // embedding cache slot (corpora only)
    int rc;
    if (otf) {
      if ((rc = otf_sample(gpos, &l, &otf_labels, &pos, err)))
        return rc;
      el = &otf_labels;
    } else {
      idx = long(order.at(gpos));
      const Item& it = train.items[size_t(idx)];
      if ((rc = load_sample(train, it, &l, err)))
        return rc;
      el = &it.labels;
      pos = it.pos;
    }
    std::vector<int> crop_labels;
    bool cropped = false;
    if (cfg.crop_lo > 0) {
      if ((rc = crop_view(gpos, &l, *el, pos, &crop_labels, &cropped, err)))
        return rc;
      if (cropped)
        el = &crop_labels;
    }
    // K = instances_per_step distinct instances (partial Fisher-Yates on
    // the counter RNG; the first pick is the K = 1 pick), each with its
    // own clicks; the click counts are drawn once per step so that the K
    // prompts batch without padding.
    sf_rng_key kp = sf_prompt_key(cfg.seed, "train-pick", gpos, 0);
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
          cfg.seed, "train", pos, gpos * 65536u + uint64_t(picks[k]));
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
      Tensor prev = pm.index({ar, top})
                        .to(torch::kCPU, torch::kUInt8)
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
            cfg.seed, "train-correct", pos, gpos * 65536u + uint64_t(picks[k]));
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
    if (scale != 1.0)
      (loss * scale).backward();
    else
      loss.backward();
    *loss_out = loss.item<double>();
    return SF_OK;
  }

  // One optimiser step: this rank's samples of the global batch (slots
  // j = rank + k * world of batch_size), then, with several ranks, one
  // small sum (the losses, the stop votes, which parameters have a
  // gradient) and the bucketed gradient all-reduce; AdamW at lr.
  // vote[0..1]: this rank's stop requests (signal, wall clock), replaced
  // by the sums over the ranks. *loss_out: the global batch's mean loss.
  int train_step(double lr, double vote[2], double* loss_out, sf_err* err) {
    const int B = cfg.batch_size;
    opt->zero_grad();
    double local = 0;
    int rc;
    for (int j = rank; j < B; j += world) {
      double l = 0;
      if ((rc = train_sample(
               uint64_t(step) * uint64_t(B) + uint64_t(j),
               1.0 / double(B),
               &l,
               err)))
        return rc;
      local += l;
    }
    if (world > 1) {
      // A parameter some rank's share did not reach has no gradient
      // there; every rank takes a zero one, so that AdamW (which skips
      // parameters without one) updates the same set on every rank, as
      // one process accumulating the whole batch would.
      std::vector<double> small(3 + tparams.size());
      small[0] = local;
      small[1] = vote[0];
      small[2] = vote[1];
      for (size_t i = 0; i < tparams.size(); i++)
        small[3 + i] = tparams[i].grad().defined() ? 1 : 0;
      if ((rc = dist_sum(
               dist, small.data(), small.size(), "the step's sums", err)))
        return rc;
      local = small[0];
      vote[0] = small[1];
      vote[1] = small[2];
      // Buckets from the last parameters to the first: the order in which
      // backward produces the gradients.
      std::vector<Tensor> grads;
      for (size_t i = tparams.size(); i-- > 0;) {
        if (small[3 + i] == 0)
          continue;
        if (!tparams[i].grad().defined())
          tparams[i].mutable_grad() = torch::zeros_like(tparams[i]);
        grads.push_back(tparams[i].grad());
      }
      if ((rc = dist_allreduce(dist, grads, "the gradient all-reduce", err)))
        return rc;
    }
    const bool two = opt->param_groups().size() == 2; // encoder first
    for (size_t gi = 0; gi < opt->param_groups().size(); gi++)
      static_cast<torch::optim::AdamWOptions&>(
          opt->param_groups()[gi].options())
          .lr(two && gi == 0 ? lr * cfg.encoder_lr_scale : lr);
    opt->step();
    *loss_out = B == 1 ? local : local / double(B);
    return SF_OK;
  }

  // SHA-256 of the step and every parameter's bytes: what the ranks
  // compare at the start and after every epoch.
  std::string param_digest() {
    std::string buf = std::to_string(step) + "\n";
    for (auto& kv : sam::net(model)->named_parameters(true)) {
      Tensor c = kv.value().detach().to(torch::kCPU).contiguous();
      buf += kv.key();
      buf.append(static_cast<const char*>(c.data_ptr()), size_t(c.nbytes()));
    }
    char hex[65];
    sf_sha256_hex(buf.data(), buf.size(), hex);
    return hex;
  }

  struct ValRow {
    uint64_t sample;
    int label;
    long area, pred_area;
    double dice;
  };
  std::vector<ValRow> val_rows; // the last validation's instances

  // Each rank predicts the items vi with vi % world == rank into their
  // instances' slots (item order); with several ranks one sum gives every
  // rank all rows, and the mean is taken in slot order, as one process
  // takes it.
  int validate(double* dice, long* n_val, sf_err* err) {
    val_rows.clear();
    int C = 0, E = 0;
    sam_model_embedding_shape(model, &C, &E);
    std::vector<size_t> first(val.items.size() + 1, 0); // slot of item vi
    for (size_t vi = 0; vi < val.items.size(); vi++)
      first[vi + 1] = first[vi] + val.items[vi].labels.size();
    val_rows.resize(first.back());
    for (size_t vi = 0; vi < val.items.size(); vi++) {
      if (int(vi % size_t(world)) != rank)
        continue;
      const Item& it = val.items[vi];
      size_t slot = first[vi];
      Loaded l;
      int rc = load_sample(val, it, &l, err);
      if (rc)
        return rc;
      const bool zoom = cfg.model.n_zoom > 0; // views per prompt
      const bool cache =
          cfg.freeze_image_encoder && cfg.model.high_res_features == 0 && !zoom;
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
        if ((rc = zoom
                 ? sam_model_predict_image(
                       model, l.image, l.nx, l.ny, 1, &p, &pr, nullptr, err)
                 : sam_model_predict(model, &p, &pr, err)))
          return rc;
        if (zoom)
          encoder_calls += cfg.model.n_zoom;
        const uint8_t* pm =
            pr->masks + size_t(p.multimask ? pr->best : 0) * npx;
        long a = 0, b = 0, ab = 0;
        for (size_t i = 0; i < npx; i++) {
          a += pm[i] != 0;
          b += mask[i];
          ab += (pm[i] != 0) && mask[i];
        }
        sam_prediction_free(pr);
        double d = a + b ? 2.0 * double(ab) / double(a + b) : 1.0;
        val_rows[slot++] = {it.pos, label, b, a, d};
      }
    }
    if (world > 1) {
      std::vector<double> v(3 * val_rows.size(), 0.0);
      for (size_t vi = 0; vi < val.items.size(); vi++)
        for (size_t i = first[vi];
             i < first[vi + 1] && int(vi % size_t(world)) == rank;
             i++) {
          v[3 * i] = double(val_rows[i].area);
          v[3 * i + 1] = double(val_rows[i].pred_area);
          v[3 * i + 2] = val_rows[i].dice;
        }
      int rc = dist_sum(dist, v.data(), v.size(), "the validation sum", err);
      if (rc)
        return rc;
      for (size_t vi = 0; vi < val.items.size(); vi++)
        for (size_t i = first[vi]; i < first[vi + 1]; i++)
          val_rows[i] = {
              val.items[vi].pos,
              val.items[vi].labels[i - first[vi]],
              long(v[3 * i]),
              long(v[3 * i + 1]),
              v[3 * i + 2]};
    }
    double sum = 0;
    for (const auto& r : val_rows)
      sum += r.dice;
    long n = long(val_rows.size());
    *dice = n ? sum / double(n) : NAN;
    *n_val = n;
    return SF_OK;
  }

  // Resumable state: weights + optimiser + counters in one archive,
  // written to a temporary name and renamed (atomic).
  int save_state(sf_err* err) {
    if (!writer)
      return SF_OK;
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
    return wall_before + sf_clock_s() - t0;
  }

  // RUN/curve.png from run.sqlite; a failure to draw is recorded in
  // run.plot_error, not fatal (the numbers are in run.sqlite).
  void plot() {
    if (!writer)
      return;
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
    if (kv.value().requires_grad())
      t->tparams.push_back(kv.value());
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

// The run's inputs: a resumed run's own config and corpora (RUN/config.yaml,
// run.sqlite), or the options' for a new run (with its overrides). Fills
// t->cfg, *tdirs, *vdir and *otf_path (the factory config on the fly).
int resolve_inputs(
    Trainer* t,
    const sam_train_opts* o,
    std::vector<std::string>* tdirs,
    std::string* vdir,
    std::string* otf_path,
    sf_err* err) {
  int rc;
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
    // Ranks other than 0 only read the run (the corpora), then close it.
    if (sqlite3_open_v2(
            dbpath.c_str(),
            &t->db.db,
            t->writer ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY,
            nullptr))
      return sf_err_set(err, SF_EDB, "%s: cannot open", dbpath.c_str());
    bool otf = false;
    t->db.corpora(tdirs, vdir, &otf);
    if (!t->writer) {
      sqlite3_close(t->db.db);
      t->db.db = nullptr;
    }
    if (otf)
      *otf_path = t->out + "/factory.yaml";
    return SF_OK;
  }
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
    *otf_path = o->on_the_fly;
  if ((rc = parse_config(o->config, &t->cfg, err)))
    return rc;
  if (o->init)
    t->cfg.init = o->init;
  if (o->device >= 0)
    t->cfg.device = o->device;
  if (o->threads > 0)
    t->cfg.threads = o->threads;
  for (int i = 0; i < o->n_corpora; i++)
    tdirs->push_back(o->corpora[i]);
  *vdir = o->val_dir;
  if (exists(t->out))
    return sf_err_set(
        err,
        SF_EEXIST,
        "%s exists: choose a new run directory, or --resume it",
        o->out_dir);
  return SF_OK;
}

// Everything checked before the run directory appears: precision and
// device, the corpora (training or on the fly, validation), the model;
// then the run's length and data order. *otf_yaml, *otf_id: the on-the-fly
// source's canonical config and identity.
int check_and_load(
    Trainer* t,
    const std::vector<std::string>& tdirs,
    const std::string& vdir,
    const std::string& otf_path,
    std::string* otf_yaml,
    std::string* otf_id,
    sf_err* err) {
  TrainConfig& c = t->cfg;
  int rc;
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
    t->otf_seed = c.on_the_fly_seed >= 0 ? uint64_t(c.on_the_fly_seed) : c.seed;
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
  if (t->otf &&
      (rc = factory_identity(t->fcfg, t->otf_seed, otf_yaml, otf_id, err)))
    return rc;
  if ((rc = build_model(t, err)))
    return rc;
  const long ipe =
      c.images_per_epoch > 0 ? c.images_per_epoch : long(t->train.items.size());
  if (c.images_per_epoch > 0 && ipe % c.batch_size)
    return sf_err_set(
        err,
        SF_ECONFIG,
        "images_per_epoch %ld is not a multiple of batch_size %d",
        ipe,
        c.batch_size);
  if (ipe < c.batch_size)
    return sf_err_set(
        err,
        SF_ECONFIG,
        "batch_size %d is larger than an epoch (%ld images)",
        c.batch_size,
        ipe);
  if (c.batch_size < t->world)
    return sf_err_set(
        err,
        SF_ECONFIG,
        "batch_size %d is smaller than the world size %d: every rank needs "
        "at least one sample of each global batch",
        c.batch_size,
        t->world);
  t->spe = ipe / c.batch_size;
  t->total = t->spe * long(c.epochs);
  t->order.seed = c.seed;
  t->order.n = t->otf ? 1 : t->train.items.size();
  t->emb_cache.resize(t->train.items.size());
  t->val_cache.resize(t->val.items.size());
  return SF_OK;
}

// A new run's directory: run.sqlite (schema, config, model config, length,
// corpora), config.yaml, model.yaml and, on the fly, factory.yaml.
int create_run_dir(
    Trainer* t,
    const sam_train_opts* o,
    const std::vector<std::string>& tdirs,
    const std::string& vdir,
    const std::string& otf_path,
    const std::string& otf_yaml,
    const std::string& otf_id,
    sf_err* err) {
  const TrainConfig& c = t->cfg;
  const std::string dbpath = t->out + "/run.sqlite";
  int rc;
  if (mkdir(o->out_dir, 0777))
    return sf_err_set(err, SF_EIO, "mkdir %s: %s", o->out_dir, strerror(errno));
  if (sqlite3_open(dbpath.c_str(), &t->db.db))
    return sf_err_set(err, SF_EDB, "%s: cannot create", dbpath.c_str());
  if ((rc = t->db.exec(kSchema, err)) ||
      (rc = write_text(t->out + "/config.yaml", config_yaml(c), err)) ||
      (rc = write_text(t->out + "/model.yaml", c.model_text, err)) ||
      (t->otf && (rc = write_text(t->out + "/factory.yaml", otf_yaml, err))))
    return rc;
  t->db.exec("BEGIN", nullptr);
  t->db.set("config_yaml", config_yaml(c));
  t->db.set("model_yaml", c.model_text);
  t->db.set("total_steps", std::to_string(t->total));
  t->db.set("started_at", std::to_string(long(time(nullptr))));
  t->db.set(
      "lr_choice", "AdamW, cosine decay: our choice (the paper's LR is lost)");
  if (t->otf) {
    t->db.add_corpus("on-the-fly", otf_path, otf_id, t->total * c.batch_size);
    t->db.set("on_the_fly_seed", std::to_string(t->otf_seed));
  }
  for (size_t i = 0; i < tdirs.size(); i++)
    t->db.add_corpus(
        "train",
        tdirs[i],
        t->train.identities[i],
        (long long)sf_corpus_count(t->train.corpora[i]));
  t->db.add_corpus(
      "val",
      vdir,
      t->val.identities[0],
      (long long)sf_corpus_count(t->val.corpora[0]));
  t->db.exec("COMMIT", nullptr);
  return SF_OK;
}

void write_epoch(Trainer* t, int epoch, double d, long nv, double train_loss);

// End of an epoch: validation, its epochs and val_instances rows, best.pth
// when it is the best so far, the resumable state, the learning curve.
int end_epoch(Trainer* t, int epoch, double train_loss, sf_err* err) {
  double d = NAN;
  long nv = 0;
  int rc;
  if ((rc = t->validate(&d, &nv, err)))
    return rc;
  t->last_val = d;
  if (t->world > 1) {
    char what[64];
    snprintf(what, sizeof what, "the parameters after epoch %d", epoch + 1);
    if ((rc = dist_agree(t->dist, false, t->param_digest(), what, err)))
      return rc;
  }
  if (t->writer)
    write_epoch(t, epoch, d, nv, train_loss);
  if (std::isnan(t->best) || d > t->best) {
    t->best = d;
    t->best_step = t->step;
    if (t->writer &&
        (rc = sam_model_save(t->model, (t->out + "/best.pth").c_str(), err)))
      return rc;
  }
  if ((rc = t->save_state(err)))
    return rc;
  t->db.exec("COMMIT; BEGIN", nullptr);
  t->plot();
  return SF_OK;
}

// The epochs row and the val_instances rows of an epoch (rank 0).
void write_epoch(Trainer* t, int epoch, double d, long nv, double train_loss) {
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
  sqlite3_bind_double(st, 5, train_loss);
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
}

// The steps from t->step on, until the last one, stop_after_steps,
// max_wall_s, an error or a progress callback asking to stop (*cancelled).
// With several ranks a stop request (a rank's progress callback, or its
// wall clock) is voted on in the next step's sum, so that every rank stops
// after the same step.
int train_loop(
    Trainer* t,
    const sam_train_opts* o,
    long step0,
    double t_start,
    int* cancelled,
    sf_err* err) {
  const TrainConfig& c = t->cfg;
  sam_train_progress pg{};
  double epoch_loss = 0;
  long epoch_n = 0;
  int rc = SF_OK;
  double vote[2] = {0, 0}; // this rank's: signal, wall clock
  while (t->step < t->total) {
    if (o->stop_after_steps > 0 && t->step >= o->stop_after_steps)
      break;
    vote[1] = o->max_wall_s > 0 && sf_clock_s() - t_start >= o->max_wall_s;
    if (t->world == 1 && vote[1] > 0)
      break;
    double lr = cosine_lr(c, t->step, t->total);
    double loss = 0;
    if ((rc = t->train_step(lr, vote, &loss, err)))
      break;
    int epoch = int(t->step / t->spe);
    t->step++;
    epoch_loss += loss;
    epoch_n++;
    t->recent.push_back(loss);
    if (t->recent.size() > SAM_TRAIN_LOSS_WINDOW)
      t->recent.erase(t->recent.begin());
    t->db.add_step(t->step, epoch, loss, lr, t->elapsed());
    pg.validated = 0;
    if (t->step % 200 == 0) // keep run.sqlite readable during an epoch
      t->db.exec("COMMIT; BEGIN", nullptr);
    if (t->step % t->spe == 0) { // end of an epoch: validate, checkpoint
      if ((rc = end_epoch(
               t, epoch, epoch_n ? epoch_loss / double(epoch_n) : NAN, err)))
        break;
      epoch_loss = 0;
      epoch_n = 0;
      pg.validated = 1;
    }
    if (t->world > 1 && (vote[0] > 0 || vote[1] > 0)) {
      *cancelled = vote[0] > 0;
      break;
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
    pg.steps_per_s = double(t->step - step0) / (sf_clock_s() - t_start);
    vote[0] = o->progress && o->progress(o->progress_ctx, &pg);
    if (t->world == 1 && vote[0] > 0) {
      *cancelled = 1;
      break;
    }
  }
  return rc;
}

// What every rank must share: the config, the corpora, the run's length.
std::string inputs_digest(
    const Trainer* t,
    const std::vector<std::string>& tdirs,
    const std::string& otf_id) {
  std::string s = config_yaml(t->cfg) + "\n" + std::to_string(t->total);
  (void)tdirs; // paths may differ between hosts; contents may not
  for (auto& id : t->train.identities)
    s += "\ntrain " + id;
  for (auto& id : t->val.identities)
    s += "\nval " + id;
  s += "\notf " + otf_id;
  char hex[65];
  sf_sha256_hex(s.data(), s.size(), hex);
  return hex;
}

// A run that stopped (Ctrl-C, SIGTERM, stop_after_steps, max_wall_s) or
// finished: the resumable state, the run's summary, DONE when finished.
int conclude(
    Trainer* t,
    const sam_train_opts* o,
    int cancelled,
    sam_train_result* res,
    sf_err* err) {
  int rc;
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
  t->db.set("finished_at", std::to_string(long(time(nullptr))));
  if (t->writer && (rc = write_text(t->out + "/DONE", "done\n", err)))
    return rc;
  if (res)
    res->finished = 1;
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
  std::string otf_yaml, otf_id;
  DistEnv env;
  if ((rc = dist_env(&env, err)))
    return rc;
  t->rank = env.rank;
  t->world = env.world;
  t->writer = env.rank == 0;
  if (res) {
    res->rank = env.rank;
    res->world_size = env.world;
  }
  rc = resolve_inputs(t.get(), o, &tdirs, &vdir, &otf_path, err);
  // The rendezvous comes before anything is written; a rank whose inputs
  // failed still joins, so that the others hear of it at the first
  // agreement instead of waiting for the timeout.
  int rc_dist = dist_open(
      env,
      rc == SF_OK && t->cfg.device == SAM_DEVICE_CUDA,
      o->dist_timeout_s > 0 ? o->dist_timeout_s : 300.0,
      &t->dist,
      rc ? nullptr : err);
  if (rc || rc_dist)
    return rc ? rc : rc_dist;
  rc = check_and_load(t.get(), tdirs, vdir, otf_path, &otf_yaml, &otf_id, err);
  if (t->world > 1) {
    sf_err e2{};
    int rc2 = dist_agree(
        t->dist,
        rc != SF_OK,
        rc ? std::string() : inputs_digest(t.get(), tdirs, otf_id),
        "the config and corpora",
        &e2);
    if (rc == SF_OK && rc2 != SF_OK && err)
      *err = e2;
    if (rc == SF_OK)
      rc = rc2;
  }
  if (rc)
    return rc;
  const TrainConfig& c = t->cfg;
  // Everything checked: now (and only now) the run directory appears
  // (rank 0's; the others read a resumed run's state).
  if (!o->resume) {
    if (t->writer)
      rc = create_run_dir(
          t.get(), o, tdirs, vdir, otf_path, otf_yaml, otf_id, err);
  } else {
    t->db.exec(kSchema, nullptr);
    rc = t->load_state(err);
    // the reported loss's window goes on across the resume
    if (rc == SF_OK)
      t->db.recent_losses(t->step, SAM_TRAIN_LOSS_WINDOW, &t->recent);
  }
  if (t->world > 1) {
    sf_err e2{};
    int rc2 = dist_agree(
        t->dist,
        rc != SF_OK,
        rc ? std::string() : t->param_digest(),
        "the starting step and parameters",
        &e2);
    if (rc == SF_OK && rc2 != SF_OK && err)
      *err = e2;
    if (rc == SF_OK)
      rc = rc2;
  }
  if (rc)
    return rc;
  t->db.set("status", "running");
  t->db.set("world_size", std::to_string(t->world));
  t->db.set("rendezvous", env.source);
  t->db.set("device", c.device == SAM_DEVICE_CUDA ? "cuda" : "cpu");
  t->db.set("threads", std::to_string(torch::get_num_threads()));
  t->t0 = sf_clock_s();
  double t_start = t->t0;
  long step0 = t->step;
  int cancelled = 0;
  t->db.exec("BEGIN", nullptr);
  try {
    rc = train_loop(t.get(), o, step0, t_start, &cancelled, err);
  } catch (const std::exception& e) {
    rc = sf_err_set(err, SF_EINVAL, "training: libtorch: %.400s", e.what());
  }
  t->db.end_steps();
  t->db.exec("COMMIT", nullptr);
  double wall = sf_clock_s() - t_start;
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
    res->allreduce_s = dist_comm_s(t->dist);
    res->finished = 0;
  }
  if (rc) {
    t->db.set("status", "failed");
    t->db.set("error", err ? err->msg : "?");
    return rc;
  }
  rc = conclude(t.get(), o, cancelled, res, err);
  // Rank 0's store serves the group until every rank got here; a rank 0
  // that failed to save makes the others fail too.
  if (t->world > 1) {
    sf_err e2{};
    int rc2 = dist_agree(
        t->dist,
        rc != SF_OK && rc != SF_ECANCEL,
        std::string(),
        "the end of the run",
        &e2);
    if ((rc == SF_OK || rc == SF_ECANCEL) && rc2) {
      if (err)
        *err = e2;
      rc = rc2;
    }
  }
  return rc;
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
