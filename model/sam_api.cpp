// sam_api.cpp - the plain C API of libsam (sf_model.h): model handles,
// strict state_dict loading/saving, the predictor (set an image once,
// predict many prompts) and debugging hooks (sam_int.h). No C++ exception
// leaves this file: every entry point runs its body under guarded().
#include <torch/cuda.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>

#include "sam.h"

namespace F = torch::nn::functional;
using torch::Tensor;

struct sam_model {
  sam::Sam net{nullptr};
  sam_config cfg{};
  int device_kind = SAM_DEVICE_CPU;
  torch::Device device{torch::kCPU};
  Tensor features; // (1, C, E, E) on device
  std::vector<Tensor> high_res; // the stem's {s0, s1} (high_res_features)
  Tensor dense_pe; // (1, C, E, E), computed on first use
  int orig_h = 0, orig_w = 0, input_h = 0, input_w = 0;
  bool has_image = false;
};

namespace {

// Run `f` (returning an SF_* code); map any exception to a code + message.
template <class Fn>
int guarded(sf_err* err, const char* what, Fn&& f) {
  try {
    return f();
  } catch (const c10::OutOfMemoryError& e) {
    return sf_err_set(
        err,
        SF_ENOMEM,
        "%s: out of memory: %s",
        what,
        e.what_without_backtrace());
  } catch (const c10::Error& e) {
    const char* m = e.what_without_backtrace();
    int code = strstr(m, "allocate") ? SF_ENOMEM : SF_EINVAL;
    return sf_err_set(err, code, "%s: libtorch: %s", what, m);
  } catch (const std::bad_alloc&) {
    return sf_err_set(err, SF_ENOMEM, "%s: out of memory", what);
  } catch (const std::exception& e) {
    return sf_err_set(err, SF_EINVAL, "%s: %s", what, e.what());
  } catch (...) {
    return sf_err_set(err, SF_EINVAL, "%s: unknown C++ exception", what);
  }
}

bool g_threads_set = false;

void init_threads() {
  if (!g_threads_set)
    sam_set_num_threads(0);
}

int check_device(int device, sf_err* err) {
  if (device == SAM_DEVICE_CPU)
    return SF_OK;
  if (device != SAM_DEVICE_CUDA)
    return sf_err_set(err, SF_EINVAL, "unknown device %d", device);
  if (!torch::cuda::is_available())
    return sf_err_set(
        err,
        SF_EUNSUPPORTED,
        "CUDA requested but not available (this libtorch "
        "build has no CUDA, or no GPU is visible)");
  return SF_OK;
}

torch::Dtype torch_dtype(int dt) {
  switch (dt) {
    case SAM_DT_F32:
      return torch::kFloat;
    case SAM_DT_F64:
      return torch::kDouble;
    case SAM_DT_F16:
      return torch::kHalf;
    case SAM_DT_BF16:
      return torch::kBFloat16;
    case SAM_DT_I64:
      return torch::kLong;
    case SAM_DT_I32:
      return torch::kInt;
    case SAM_DT_I16:
      return torch::kShort;
    case SAM_DT_I8:
      return torch::kChar;
    case SAM_DT_U8:
      return torch::kByte;
    default:
      return torch::kBool;
  }
}

std::string shape_str(c10::IntArrayRef s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); i++)
    r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

// "n what (a, b, c, ... +k more)" within a byte budget.
std::string listing(
    const std::vector<std::string>& v,
    const char* what,
    size_t budget) {
  std::string r = std::to_string(v.size()) + " " + what + " (";
  size_t i = 0;
  for (; i < v.size(); i++) {
    if (r.size() + v[i].size() + 2 > budget && i > 0)
      break;
    r += (i ? ", " : "") + v[i];
  }
  if (i < v.size())
    r += ", ... +" + std::to_string(v.size() - i) + " more";
  return r + ")";
}

struct free_deleter {
  void operator()(void* p) const {
    free(p);
  }
};

} // namespace

// ------------------------------------------------------------ state_dict

namespace sam {

static void collect(
    const torch::nn::Module& m,
    const std::string& prefix,
    std::vector<std::pair<std::string, Tensor>>& out) {
  for (const auto& p : m.named_parameters(false))
    out.emplace_back(prefix + p.key(), p.value());
  for (const auto& b : m.named_buffers(false))
    out.emplace_back(prefix + b.key(), b.value());
  for (const auto& c : m.named_children())
    collect(*c.value(), prefix + c.key() + ".", out);
}

std::vector<std::pair<std::string, Tensor>> state_dict(
    const torch::nn::Module& m) {
  std::vector<std::pair<std::string, Tensor>> out;
  collect(m, "", out);
  return out;
}

int load_state_dict(torch::nn::Module& m, const char* path, sf_err* err) {
  sam_ckpt* ck = nullptr;
  int rc = sam__ckpt_open(path, &ck, err);
  if (rc)
    return rc;
  std::unique_ptr<sam_ckpt, void (*)(sam_ckpt*)> hold(ck, sam__ckpt_free);
  return guarded(err, path, [&]() -> int {
    auto sd = state_dict(m);
    std::unordered_map<std::string, int> index;
    for (int i = 0; i < ck->n_tensors; i++)
      index[ck->tensors[i].name] = i;
    std::vector<std::string> missing, unexpected, mismatched;
    std::vector<int> which(sd.size(), -1);
    std::unordered_map<std::string, bool> known;
    for (size_t i = 0; i < sd.size(); i++) {
      const auto& [name, t] = sd[i];
      known[name] = true;
      auto it = index.find(name);
      if (it == index.end()) {
        missing.push_back(name);
        continue;
      }
      const sam_ckpt_tensor& ct = ck->tensors[it->second];
      int dt = ck->storages[ct.storage].dtype;
      std::vector<int64_t> cs(ct.shape, ct.shape + ct.ndim);
      if (c10::IntArrayRef(cs) != t.sizes()) {
        mismatched.push_back(
            name + ": checkpoint " + shape_str(cs) + " vs model " +
            shape_str(t.sizes()));
      } else if (
          dt != SAM_DT_F32 && dt != SAM_DT_F64 && dt != SAM_DT_F16 &&
          dt != SAM_DT_BF16) {
        mismatched.push_back(name + ": dtype " + sam__dtype_name(dt));
      } else {
        which[i] = it->second;
      }
    }
    for (int i = 0; i < ck->n_tensors; i++)
      if (!known.count(ck->tensors[i].name))
        unexpected.push_back(ck->tensors[i].name);
    if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
      // One message listing everything (sf_err.msg holds 512 bytes).
      std::string msg = "checkpoint does not match the model config";
      size_t budget = 440 - std::min<size_t>(strlen(path), 200);
      int parts = !missing.empty() + !unexpected.empty() + !mismatched.empty();
      size_t each = budget / size_t(parts);
      if (!missing.empty())
        msg += "; " + listing(missing, "missing", each);
      if (!unexpected.empty())
        msg += "; " + listing(unexpected, "unexpected", each);
      if (!mismatched.empty())
        msg += "; " + listing(mismatched, "mismatched", each);
      return sf_err_set(err, SF_ECORRUPT, "%.200s: %s", path, msg.c_str());
    }
    // Storages are read one at a time, after the keys have been checked,
    // and freed after their last use: peak memory is the model plus the
    // largest storage, not the model plus the whole file.
    std::vector<int> last_use(size_t(ck->n_storages), -1);
    for (size_t i = 0; i < sd.size(); i++)
      last_use[size_t(ck->tensors[which[i]].storage)] = int(i);
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < sd.size(); i++) {
      const sam_ckpt_tensor& ct = ck->tensors[which[i]];
      int r = sam__ckpt_load_storage(ck, ct.storage, err);
      if (r)
        return r;
      const sam_ckpt_storage& st = ck->storages[ct.storage];
      auto raw = torch::from_blob(
          st.data,
          {st.numel},
          torch::TensorOptions().dtype(torch_dtype(st.dtype)));
      auto view = raw.as_strided(
          c10::IntArrayRef(ct.shape, size_t(ct.ndim)),
          c10::IntArrayRef(ct.stride, size_t(ct.ndim)),
          ct.offset);
      Tensor dst = sd[i].second;
      dst.copy_(view);
      if (last_use[size_t(ct.storage)] == int(i))
        sam__ckpt_drop_storage(ck, ct.storage);
    }
    return SF_OK;
  });
}

int save_state_dict(const torch::nn::Module& m, const char* path, sf_err* err) {
  sam_ckpt* ck = static_cast<sam_ckpt*>(calloc(1, sizeof(sam_ckpt)));
  if (!ck)
    return sf_err_set(err, SF_ENOMEM, "out of memory");
  ck->borrowed = 1;
  std::unique_ptr<sam_ckpt, void (*)(sam_ckpt*)> hold(ck, sam__ckpt_free);
  return guarded(err, path, [&]() -> int {
    auto sd = state_dict(m);
    std::vector<Tensor> keep; // owns the bytes the writer borrows
    keep.reserve(sd.size());
    for (size_t i = 0; i < sd.size(); i++) {
      auto t =
          sd[i].second.detach().to(torch::kCPU, torch::kFloat).contiguous();
      keep.push_back(t);
      int s = sam__ckpt_add_storage(
          ck, std::to_string(i).c_str(), SAM_DT_F32, t.numel(), t.data_ptr());
      if (s < 0)
        return sf_err_set(err, s, "%s: too many tensors", path);
      std::vector<int64_t> stride(size_t(t.dim()));
      int64_t acc = 1;
      for (int64_t d = t.dim() - 1; d >= 0; d--) {
        stride[size_t(d)] = acc;
        acc *= t.size(d);
      }
      int r = sam__ckpt_add_tensor(
          ck,
          sd[i].first.c_str(),
          s,
          0,
          int(t.dim()),
          t.sizes().data(),
          stride.data());
      if (r < 0)
        return sf_err_set(err, r, "%s: tensor rank over limit", path);
    }
    return sam__ckpt_write(path, ck, err);
  });
}

Sam& net(sam_model* m) {
  return m->net;
}
torch::Device device(const sam_model* m) {
  return m->device;
}

} // namespace sam

// ----------------------------------------------------------------- C API

extern "C" {

int sam_device_parse(const char* s) {
  if (!s)
    return -1;
  if (!strcmp(s, "cpu"))
    return SAM_DEVICE_CPU;
  if (!strcmp(s, "cuda"))
    return SAM_DEVICE_CUDA;
  return -1;
}

int sam_cuda_available(void) {
  try {
    return torch::cuda::is_available() ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

void sam_set_num_threads(int n) {
  if (n <= 0)
    n = int(sysconf(_SC_NPROCESSORS_ONLN));
  if (n <= 0)
    n = 1;
  try {
    torch::set_num_threads(n);
    g_threads_set = true;
  } catch (...) {
  }
}

static int make_model(
    const sam_config* c,
    int device,
    sam_model** out,
    sf_err* err) {
  if (!c || !out)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  *out = nullptr;
  int rc = sam_config_validate(c, err);
  if (rc || (rc = check_device(device, err)))
    return rc;
  init_threads();
  auto* m = new (std::nothrow) sam_model();
  if (!m)
    return sf_err_set(err, SF_ENOMEM, "out of memory");
  m->cfg = *c;
  m->device_kind = device;
  m->device = device == SAM_DEVICE_CUDA ? torch::Device(torch::kCUDA, 0)
                                        : torch::Device(torch::kCPU);
  rc = guarded(err, "build model", [&]() -> int {
    m->net = sam::Sam(*c);
    m->net->eval();
    return SF_OK;
  });
  if (rc) {
    delete m;
    return rc;
  }
  *out = m;
  return SF_OK;
}

static int to_device(sam_model* m, sf_err* err) {
  return guarded(err, "move model to device", [&]() -> int {
    m->net->to(m->device);
    return SF_OK;
  });
}

int sam_model_new(
    const sam_config* c,
    int device,
    uint64_t seed,
    sam_model** out,
    sf_err* err) {
  sam_model* m = nullptr;
  try {
    torch::manual_seed(seed);
  } catch (...) {
  }
  int rc = make_model(c, device, &m, err);
  if (rc == SF_OK)
    rc = to_device(m, err);
  if (rc) {
    sam_model_free(m);
    return rc;
  }
  *out = m;
  return SF_OK;
}

int sam_model_load(
    const char* ckpt_path,
    const sam_config* c,
    int device,
    sam_model** out,
    sf_err* err) {
  if (!ckpt_path || !out)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  *out = nullptr;
  sam_model* m = nullptr;
  int rc = make_model(c, device, &m, err);
  if (rc == SF_OK)
    rc = sam::load_state_dict(*m->net, ckpt_path, err);
  if (rc == SF_OK)
    rc = to_device(m, err);
  if (rc) {
    sam_model_free(m);
    return rc;
  }
  *out = m;
  return SF_OK;
}

int sam_model_save(const sam_model* m, const char* path, sf_err* err) {
  if (!m || !path)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  return sam::save_state_dict(*m->net, path, err);
}

void sam_model_free(sam_model* m) {
  try {
    delete m;
  } catch (...) {
  }
}

const sam_config* sam_model_config(const sam_model* m) {
  return m ? &m->cfg : nullptr;
}

int sam_model_device(const sam_model* m) {
  return m ? m->device_kind : -1;
}

void sam_model_embedding_shape(const sam_model* m, int* channels, int* side) {
  if (channels)
    *channels = m ? m->cfg.prompt_embed_dim : 0;
  if (side)
    *side = m ? m->cfg.image_size / m->cfg.patch_size : 0;
}

static void set_sizes(sam_model* m, int nx, int ny) {
  m->orig_h = ny;
  m->orig_w = nx;
  sam__input_shape(&m->cfg, ny, nx, &m->input_h, &m->input_w);
}

int sam_model_set_image(
    sam_model* m,
    const uint8_t* px,
    int nx,
    int ny,
    int channels,
    sf_err* err) {
  if (!m || !px)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  float* buf = nullptr;
  int in_h = 0, in_w = 0;
  int rc = sam_preprocess_image(
      &m->cfg, px, nx, ny, channels, &buf, &in_h, &in_w, nullptr, err);
  if (rc)
    return rc;
  std::unique_ptr<float, free_deleter> hold(buf);
  m->has_image = false;
  return guarded(err, "set_image", [&]() -> int {
    torch::NoGradGuard no_grad;
    int64_t S = m->cfg.image_size;
    auto x = torch::from_blob(buf, {1, 3, S, S}).to(m->device);
    m->features = m->net->image_encoder->forward(x, nullptr, &m->high_res);
    set_sizes(m, nx, ny);
    m->has_image = true;
    return SF_OK;
  });
}

int sam_model_set_embeddings(
    sam_model* m,
    const float* emb,
    int nx,
    int ny,
    sf_err* err) {
  if (!m || !emb)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  if (nx < 1 || ny < 1 || nx > SF_PNG_MAX_SIDE || ny > SF_PNG_MAX_SIDE)
    return sf_err_set(err, SF_EINVAL, "image size %dx%d out of range", nx, ny);
  if (m->cfg.high_res_features > 0)
    return sf_err_set(
        err,
        SF_EUNSUPPORTED,
        "this model (high_res_features %d) decodes from the image itself, "
        "not from embeddings alone",
        m->cfg.high_res_features);
  m->has_image = false;
  return guarded(err, "set_embeddings", [&]() -> int {
    int C, E;
    sam_model_embedding_shape(m, &C, &E);
    m->features = torch::from_blob(const_cast<float*>(emb), {1, C, E, E})
                      .clone()
                      .to(m->device);
    set_sizes(m, nx, ny);
    m->has_image = true;
    return SF_OK;
  });
}

int sam_model_get_embeddings(
    const sam_model* m,
    float* out,
    size_t n_floats,
    sf_err* err) {
  if (!m || !out)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  if (!m->has_image)
    return sf_err_set(err, SF_EINVAL, "no image is set");
  if (m->cfg.high_res_features > 0)
    return sf_err_set(
        err,
        SF_EUNSUPPORTED,
        "this model (high_res_features %d) decodes from the image itself, "
        "not from embeddings alone",
        m->cfg.high_res_features);
  return guarded(err, "get_embeddings", [&]() -> int {
    auto f = m->features.to(torch::kCPU).contiguous();
    if (size_t(f.numel()) > n_floats)
      return sf_err_set(
          err,
          SF_EINVAL,
          "buffer holds %zu floats, %lld "
          "needed",
          n_floats,
          (long long)f.numel());
    memcpy(out, f.data_ptr<float>(), size_t(f.numel()) * sizeof(float));
    return SF_OK;
  });
}

// Prompt -> (sparse, dense) on the device, with the predictor's coordinate
// transforms (ResizeLongestSide.apply_coords for SAM: x * (new_w / old_w)
// in float64, then float32; MedSAM: x / W * S).
static int encode_prompt(
    sam_model* m,
    const sam_prompt* p,
    Tensor* sparse,
    Tensor* dense,
    sf_err* err) {
  if (!m || !p)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  if (!m->has_image)
    return sf_err_set(
        err,
        SF_EINVAL,
        "no image is set (sam_model_set_image "
        "first)");
  if (p->n_points < 0 || p->n_points > 4096 ||
      (p->n_points > 0 && (!p->points || !p->labels)))
    return sf_err_set(err, SF_EINVAL, "bad points: n_points %d", p->n_points);
  for (int i = 0; i < p->n_points; i++) {
    if (!std::isfinite(p->points[2 * i]) ||
        !std::isfinite(p->points[2 * i + 1]))
      return sf_err_set(err, SF_EINVAL, "point %d is not finite", i);
    if (p->labels[i] != 0 && p->labels[i] != 1 && p->labels[i] != -1)
      return sf_err_set(
          err,
          SF_EINVAL,
          "point %d has label %d (1 "
          "foreground, 0 background)",
          i,
          p->labels[i]);
  }
  if (p->box)
    for (int i = 0; i < 4; i++)
      if (!std::isfinite(p->box[i]))
        return sf_err_set(err, SF_EINVAL, "box is not finite");
  const bool medsam = m->cfg.preprocess == SAM_PREPROCESS_MEDSAM;
  const double S = m->cfg.image_size, W = m->orig_w, H = m->orig_h;
  const double sx = double(m->input_w) / W, sy = double(m->input_h) / H;
  auto tx = [&](double x) { return float(medsam ? x / W * S : x * sx); };
  auto ty = [&](double y) { return float(medsam ? y / H * S : y * sy); };
  return guarded(err, "prompt", [&]() -> int {
    auto fo = torch::TensorOptions().dtype(torch::kFloat);
    Tensor coords, labels, boxes, masks;
    if (p->n_points > 0) {
      int64_t n = p->n_points;
      coords = torch::empty({1, n, 2}, fo);
      labels = torch::empty({1, n}, torch::TensorOptions().dtype(torch::kInt));
      float* c = coords.data_ptr<float>();
      int32_t* l = labels.data_ptr<int32_t>();
      for (int64_t i = 0; i < n; i++) {
        c[2 * i] = tx(p->points[2 * i]);
        c[2 * i + 1] = ty(p->points[2 * i + 1]);
        l[i] = p->labels[i];
      }
      coords = coords.to(m->device);
      labels = labels.to(m->device);
    }
    if (p->box) {
      boxes = torch::empty({1, 4}, fo);
      float* b = boxes.data_ptr<float>();
      b[0] = tx(p->box[0]);
      b[1] = ty(p->box[1]);
      b[2] = tx(p->box[2]);
      b[3] = ty(p->box[3]);
      boxes = boxes.to(m->device);
    }
    if (p->mask_input) {
      int64_t L = 4 * (m->cfg.image_size / m->cfg.patch_size);
      masks = torch::from_blob(const_cast<float*>(p->mask_input), {1, 1, L, L})
                  .clone()
                  .to(m->device);
    }
    std::tie(*sparse, *dense) =
        m->net->prompt_encoder(coords, labels, boxes, masks);
    return SF_OK;
  });
}

void sam_prediction_free(sam_prediction* p) {
  if (!p)
    return;
  free(p->masks);
  free(p->iou);
  free(p->low_res);
  free(p->logits);
  free(p);
}

int sam_model_predict(
    sam_model* m,
    const sam_prompt* p,
    sam_prediction** out,
    sf_err* err) {
  if (!out)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  *out = nullptr;
  torch::NoGradGuard no_grad;
  Tensor sparse, dense;
  int rc = encode_prompt(m, p, &sparse, &dense, err);
  if (rc)
    return rc;
  auto* r = static_cast<sam_prediction*>(calloc(1, sizeof(sam_prediction)));
  if (!r)
    return sf_err_set(err, SF_ENOMEM, "out of memory");
  rc = guarded(err, "predict", [&]() -> int {
    if (!m->dense_pe.defined())
      m->dense_pe = m->net->prompt_encoder->get_dense_pe();
    auto [low, iou] = m->net->mask_decoder(
        m->features,
        m->dense_pe,
        sparse,
        dense,
        p->multimask != 0,
        m->high_res);
    Tensor logits, masks;
    if (m->cfg.preprocess == SAM_PREPROCESS_MEDSAM) {
      // MedSAM: sigmoid, upsample the probabilities, threshold at 0.5.
      auto prob = F::interpolate(
          torch::sigmoid(low),
          F::InterpolateFuncOptions()
              .size(std::vector<int64_t>{m->orig_h, m->orig_w})
              .mode(torch::kBilinear)
              .align_corners(false));
      masks = prob > 0.5;
      logits = prob - 0.5;
    } else {
      logits = m->net->postprocess_masks(
          low, m->input_h, m->input_w, m->orig_h, m->orig_w);
      masks = logits > 0.0;
    }
    auto low_c = low[0].to(torch::kCPU).contiguous();
    auto iou_c = iou[0].to(torch::kCPU).contiguous();
    auto masks_c = masks[0].to(torch::kCPU, torch::kByte).contiguous();
    int64_t M = low_c.size(0), L = low_c.size(1);
    size_t npx = size_t(m->orig_h) * size_t(m->orig_w);
    r->n_masks = int(M);
    r->nx = m->orig_w;
    r->ny = m->orig_h;
    r->low_res_side = int(L);
    r->masks = static_cast<uint8_t*>(malloc(size_t(M) * npx));
    r->iou = static_cast<float*>(malloc(size_t(M) * sizeof(float)));
    r->low_res = static_cast<float*>(malloc(size_t(M * L * L) * sizeof(float)));
    if (!r->masks || !r->iou || !r->low_res)
      throw std::bad_alloc();
    memcpy(r->masks, masks_c.data_ptr<uint8_t>(), size_t(M) * npx);
    memcpy(r->iou, iou_c.data_ptr<float>(), size_t(M) * sizeof(float));
    memcpy(
        r->low_res, low_c.data_ptr<float>(), size_t(M * L * L) * sizeof(float));
    if (p->want_logits) {
      auto lg = logits[0].to(torch::kCPU).contiguous();
      r->logits = static_cast<float*>(malloc(size_t(M) * npx * sizeof(float)));
      if (!r->logits)
        throw std::bad_alloc();
      memcpy(r->logits, lg.data_ptr<float>(), size_t(M) * npx * sizeof(float));
    }
    r->best = 0;
    for (int i = 1; i < r->n_masks; i++)
      if (r->iou[i] > r->iou[r->best])
        r->best = i;
    return SF_OK;
  });
  if (rc) {
    sam_prediction_free(r);
    return rc;
  }
  *out = r;
  return SF_OK;
}

// ------------------------------------------------------- debugging hooks

int sam__model_trace_encoder(
    sam_model* m,
    const float* input,
    float** out,
    int* n_stages,
    sf_err* err) {
  if (!m || !input || !out || !n_stages)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  return guarded(err, "trace_encoder", [&]() -> int {
    torch::NoGradGuard no_grad;
    int64_t S = m->cfg.image_size;
    auto x =
        torch::from_blob(const_cast<float*>(input), {1, 3, S, S}).to(m->device);
    std::vector<Tensor> trace;
    m->net->image_encoder->forward(x, &trace);
    size_t each = size_t(trace[0].numel()), n = trace.size();
    auto* buf = static_cast<float*>(malloc(n * each * sizeof(float)));
    if (!buf)
      throw std::bad_alloc();
    for (size_t i = 0; i < n; i++) {
      auto t = trace[i].to(torch::kCPU).contiguous();
      memcpy(buf + i * each, t.data_ptr<float>(), each * sizeof(float));
    }
    *out = buf;
    *n_stages = int(n);
    return SF_OK;
  });
}

int sam__model_dense_pe(sam_model* m, float** out, sf_err* err) {
  if (!m || !out)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  return guarded(err, "dense_pe", [&]() -> int {
    torch::NoGradGuard no_grad;
    auto pe =
        m->net->prompt_encoder->get_dense_pe().to(torch::kCPU).contiguous();
    auto* buf = static_cast<float*>(malloc(size_t(pe.numel()) * 4));
    if (!buf)
      throw std::bad_alloc();
    memcpy(buf, pe.data_ptr<float>(), size_t(pe.numel()) * 4);
    *out = buf;
    return SF_OK;
  });
}

int sam__model_embed_prompt(
    sam_model* m,
    const sam_prompt* p,
    float** sparse,
    int* n_tokens,
    float** dense,
    sf_err* err) {
  if (!sparse || !n_tokens || !dense)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  torch::NoGradGuard no_grad;
  Tensor s, d;
  int rc = encode_prompt(m, p, &s, &d, err);
  if (rc)
    return rc;
  return guarded(err, "embed_prompt", [&]() -> int {
    auto sc = s[0].to(torch::kCPU).contiguous();
    auto dc = d[0].to(torch::kCPU).contiguous();
    auto* a = static_cast<float*>(malloc(size_t(sc.numel() + 1) * 4));
    auto* b = static_cast<float*>(malloc(size_t(dc.numel()) * 4));
    if (!a || !b) {
      free(a);
      free(b);
      throw std::bad_alloc();
    }
    memcpy(a, sc.data_ptr<float>(), size_t(sc.numel()) * 4);
    memcpy(b, dc.data_ptr<float>(), size_t(dc.numel()) * 4);
    *sparse = a;
    *dense = b;
    *n_tokens = int(sc.size(0));
    return SF_OK;
  });
}

int sam__model_decode_only(sam_model* m, const sam_prompt* p, sf_err* err) {
  torch::NoGradGuard no_grad;
  Tensor sparse, dense;
  int rc = encode_prompt(m, p, &sparse, &dense, err);
  if (rc)
    return rc;
  return guarded(err, "decode", [&]() -> int {
    if (!m->dense_pe.defined())
      m->dense_pe = m->net->prompt_encoder->get_dense_pe();
    auto out = m->net->mask_decoder(
        m->features,
        m->dense_pe,
        sparse,
        dense,
        p->multimask != 0,
        m->high_res);
    (void)out.first.sum().item<float>(); // wait for the device
    return SF_OK;
  });
}

} // extern "C"
