// sam2_api.cpp - the plain C API of libsam's SAM 2 (sam2.h): model
// handles, strict checkpoint loading, the image predictor
// (SAM2ImagePredictor) and the debugging hooks. The video predictor is in
// sam2_video.cpp. No C++ exception leaves this file.
#include <torch/cuda.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "sam2_net.h"

using sam2::guarded;
using torch::Tensor;
namespace F = torch::nn::functional;

namespace {

int check_device(int device, sf_err* err) {
  if (device == SAM_DEVICE_CPU)
    return SF_OK;
  if (device != SAM_DEVICE_CUDA)
    return sf_err_set(err, SF_EINVAL, "unknown device %d", device);
  if (!torch::cuda::is_available())
    return sf_err_set(
        err,
        SF_EUNSUPPORTED,
        "CUDA requested but not available (this libtorch build has no CUDA, "
        "or no GPU is visible)");
  return SF_OK;
}

int make_model(
    const sam2_config* c,
    int device,
    sam2_model** out,
    sf_err* err) {
  if (!c || !out)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  *out = nullptr;
  int rc = sam2_config_validate(c, err);
  if (rc || (rc = check_device(device, err)))
    return rc;
  auto* m = new (std::nothrow) sam2_model();
  if (!m)
    return sf_err_set(err, SF_ENOMEM, "out of memory");
  m->cfg = *c;
  m->device = device == SAM_DEVICE_CUDA ? torch::Device(torch::kCUDA, 0)
                                        : torch::Device(torch::kCPU);
  rc = guarded(err, "build SAM 2 model", [&]() -> int {
    m->net = sam2::Sam2(*c);
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

int to_device(sam2_model* m, sf_err* err) {
  return guarded(err, "move model to device", [&]() -> int {
    m->net->to(m->device);
    return SF_OK;
  });
}

// A SAM 1 (segment-anything) checkpoint has its encoder's blocks directly
// under image_encoder and a plain mask_decoder; name it instead of listing
// hundreds of keys.
int check_family(const char* path, sf_err* err) {
  sam_ckpt* ck = nullptr;
  int rc = sam__ckpt_open(path, &ck, err);
  if (rc)
    return rc;
  bool sam1 = sam__ckpt_find(ck, "mask_decoder.iou_token.weight") >= 0 ||
      sam__ckpt_find(ck, "image_encoder.patch_embed.proj.weight") >= 0;
  bool sam2 =
      sam__ckpt_find(ck, "image_encoder.trunk.patch_embed.proj.weight") >= 0;
  sam__ckpt_free(ck);
  if (sam1 && !sam2)
    return sf_err_set(
        err,
        SF_ECORRUPT,
        "%.300s: a SAM 1 (segment-anything) checkpoint, not SAM 2: use a "
        "SAM 1 --model-config (vit_b, vit_l, vit_h, medsam) with it",
        path);
  return SF_OK;
}

sam_npy* to_npy(const Tensor& t_in) {
  auto t = t_in.detach().to(torch::kCPU);
  bool is_int =
      t.scalar_type() == torch::kInt || t.scalar_type() == torch::kLong;
  t = t.to(is_int ? torch::kInt : torch::kFloat).contiguous();
  auto* a = static_cast<sam_npy*>(calloc(1, sizeof(sam_npy)));
  if (!a)
    throw std::bad_alloc();
  a->dtype = is_int ? 'i' : 'f';
  a->elsize = 4;
  a->ndim = int(std::min<int64_t>(t.dim(), 8));
  a->numel = t.numel();
  for (int i = 0; i < a->ndim; i++)
    a->shape[i] = t.size(i);
  a->data = malloc(size_t(std::max<int64_t>(1, a->numel)) * 4);
  if (!a->data) {
    free(a);
    throw std::bad_alloc();
  }
  memcpy(a->data, t.data_ptr(), size_t(a->numel) * 4);
  return a;
}

} // namespace

// Shared with sam2_video.cpp (declared there).
int sam2__trace_lookup(
    const sam2::Trace* tr,
    const char* name,
    sam_npy** out,
    sf_err* err) {
  if (!tr || !name || !out)
    return sf_err_set(err, SF_EINVAL, "tracing is off (or NULL argument)");
  *out = nullptr;
  auto it = tr->t.find(name);
  if (it == tr->t.end())
    return sf_err_set(err, SF_EINVAL, "no traced tensor '%.200s'", name);
  return guarded(err, "trace", [&]() -> int {
    *out = to_npy(it->second);
    return SF_OK;
  });
}

extern "C" {

int sam2_model_new(
    const sam2_config* c,
    int device,
    uint64_t seed,
    sam2_model** out,
    sf_err* err) {
  sam2_model* m = nullptr;
  try {
    torch::manual_seed(seed);
  } catch (...) {
  }
  int rc = make_model(c, device, &m, err);
  if (rc == SF_OK)
    rc = to_device(m, err);
  if (rc) {
    sam2_model_free(m);
    return rc;
  }
  *out = m;
  return SF_OK;
}

int sam2_model_load(
    const char* ckpt_path,
    const sam2_config* c,
    int device,
    sam2_model** out,
    sf_err* err) {
  if (!ckpt_path || !out)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  *out = nullptr;
  int rc = check_family(ckpt_path, err);
  if (rc)
    return rc;
  sam2_model* m = nullptr;
  rc = make_model(c, device, &m, err);
  if (rc == SF_OK)
    rc = sam::load_state_dict(*m->net, ckpt_path, err);
  if (rc == SF_OK)
    rc = to_device(m, err);
  if (rc) {
    sam2_model_free(m);
    return rc;
  }
  *out = m;
  return SF_OK;
}

void sam2_model_free(sam2_model* m) {
  try {
    delete m;
  } catch (...) {
  }
}

const sam2_config* sam2_model_config(const sam2_model* m) {
  return m ? &m->cfg : nullptr;
}

int sam2_model_set_image(
    sam2_model* m,
    const uint8_t* px,
    int nx,
    int ny,
    int channels,
    sf_err* err) {
  if (!m || !px)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  if (nx < 1 || ny < 1 || nx > SF_PNG_MAX_SIDE || ny > SF_PNG_MAX_SIDE)
    return sf_err_set(
        err,
        SF_EINVAL,
        "image size %dx%d out of range 1..%d",
        nx,
        ny,
        SF_PNG_MAX_SIDE);
  if (channels != 1 && channels != 3)
    return sf_err_set(
        err, SF_EINVAL, "image has %d channels (1 or 3 expected)", channels);
  m->has_image = false;
  return guarded(err, "set_image", [&]() -> int {
    torch::NoGradGuard no_grad;
    sam2::Trace* tr = m->trace.get();
    if (tr)
      tr->prefix.clear();
    const int64_t S = m->cfg.image_size;
    // SAM2Transforms: ToTensor (u8 / 255), Resize((S, S)) antialiased,
    // Normalize(mean, std)
    auto u8 = torch::from_blob(
                  const_cast<uint8_t*>(px),
                  {ny, nx, channels},
                  torch::TensorOptions().dtype(torch::kByte))
                  .permute({2, 0, 1});
    if (channels == 1)
      u8 = u8.expand({3, -1, -1});
    auto x = u8.to(torch::kFloat).div(255).unsqueeze(0);
    x = sam2::resize(x, S, S, true);
    auto fo = torch::TensorOptions().dtype(torch::kFloat);
    auto mean = torch::from_blob(m->cfg.pixel_mean, {1, 3, 1, 1}, fo).clone();
    auto sd = torch::from_blob(m->cfg.pixel_std, {1, 3, 1, 1}, fo).clone();
    x = ((x - mean) / sd).to(m->device);
    sam2::tput(tr, "input_tensor", x);
    auto bb = m->net->forward_image(x, tr);
    m->image_embed = bb.vision_features;
    if (m->cfg.directly_add_no_mem_embed)
      m->image_embed =
          m->image_embed + m->net->no_mem_embed.view({1, -1, 1, 1});
    m->high_res = bb.high_res();
    m->dense_pe = m->net->sam_prompt_encoder->get_dense_pe();
    sam2::tput(tr, "image_embed", m->image_embed);
    sam2::tput(tr, "dense_pe", m->dense_pe);
    m->orig_h = ny;
    m->orig_w = nx;
    m->has_image = true;
    return SF_OK;
  });
}

// The prompt as SAM2ImagePredictor._prep_prompts / _predict build it:
// (x / W) * S, (y / H) * S in float32, a box as two points with labels 2
// and 3 placed first. Undefined tensors when there is neither.
static int prompt_tensors(
    const sam2_model* m,
    const sam_prompt* p,
    Tensor* coords,
    Tensor* labels,
    Tensor* mask,
    sf_err* err) {
  if (!m->has_image)
    return sf_err_set(
        err, SF_EINVAL, "no image is set (sam2_model_set_image first)");
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
          "point %d has label %d (1 foreground, 0 background)",
          i,
          p->labels[i]);
  }
  if (p->box)
    for (int i = 0; i < 4; i++)
      if (!std::isfinite(p->box[i]))
        return sf_err_set(err, SF_EINVAL, "box is not finite");
  int64_t n = p->n_points + (p->box ? 2 : 0);
  const float S = float(m->cfg.image_size);
  const float W = float(m->orig_w), H = float(m->orig_h);
  if (n > 0) {
    *coords = torch::empty({1, n, 2}, torch::kFloat);
    *labels = torch::empty({1, n}, torch::kInt);
    float* c = coords->data_ptr<float>();
    int32_t* l = labels->data_ptr<int32_t>();
    int64_t j = 0;
    if (p->box) {
      for (int k = 0; k < 2; k++, j++) {
        c[2 * j] = (p->box[2 * k] / W) * S;
        c[2 * j + 1] = (p->box[2 * k + 1] / H) * S;
        l[j] = 2 + k;
      }
    }
    for (int i = 0; i < p->n_points; i++, j++) {
      c[2 * j] = (p->points[2 * i] / W) * S;
      c[2 * j + 1] = (p->points[2 * i + 1] / H) * S;
      l[j] = p->labels[i];
    }
    *coords = coords->to(m->device);
    *labels = labels->to(m->device);
  }
  if (p->mask_input) {
    int64_t L = 4 * m->net->emb_side;
    *mask = torch::from_blob(const_cast<float*>(p->mask_input), {1, 1, L, L})
                .clone()
                .to(m->device);
  }
  return SF_OK;
}

void sam2__trace(sam2_model* m, int on) {
  if (!m)
    return;
  try {
    m->trace.reset(on ? new sam2::Trace() : nullptr);
  } catch (...) {
  }
}

int sam2__trace_get(
    const sam2_model* m,
    const char* name,
    sam_npy** out,
    sf_err* err) {
  return sam2__trace_lookup(m ? m->trace.get() : nullptr, name, out, err);
}

int sam2_model_predict(
    sam2_model* m,
    const sam_prompt* p,
    sam_prediction** out,
    sf_err* err) {
  if (!m || !p || !out)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  *out = nullptr;
  auto* r = static_cast<sam_prediction*>(calloc(1, sizeof(sam_prediction)));
  if (!r)
    return sf_err_set(err, SF_ENOMEM, "out of memory");
  int rc = guarded(err, "predict", [&]() -> int {
    torch::NoGradGuard no_grad;
    Tensor coords, labels, mask;
    int rc2 = prompt_tensors(m, p, &coords, &labels, &mask, err);
    if (rc2)
      return rc2;
    sam2::Trace* tr = m->trace.get();
    if (tr)
      tr->prefix.clear();
    if (coords.defined()) {
      sam2::tput(tr, "prompt_coords", coords);
      sam2::tput(tr, "prompt_labels", labels);
    }
    auto [sparse, dense] = m->net->sam_prompt_encoder(coords, labels, mask);
    sam2::tput(tr, "sparse_embeddings", sparse);
    sam2::tput(tr, "dense_embeddings", dense);
    auto d = m->net->sam_mask_decoder(
        m->image_embed,
        m->dense_pe,
        sparse,
        dense,
        p->multimask != 0,
        false,
        m->high_res);
    sam2::tput(tr, "all_low_res_masks", d.all_masks);
    sam2::tput(tr, "all_iou_predictions", d.all_iou);
    sam2::tput(tr, "object_score_logits", d.object_score_logits);
    // masks: the low-res logits straight to the original size, > 0
    auto logits = sam2::resize(d.masks, m->orig_h, m->orig_w);
    auto masks = logits > 0.0;
    auto low = torch::clamp(d.masks, -32.0, 32.0);
    auto low_c = low[0].to(torch::kCPU).contiguous();
    auto iou_c = d.iou[0].to(torch::kCPU).contiguous();
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

int sam2__model_decode_only(sam2_model* m, const sam_prompt* p, sf_err* err) {
  if (!m || !p)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  return guarded(err, "decode", [&]() -> int {
    torch::NoGradGuard no_grad;
    Tensor coords, labels, mask;
    int rc = prompt_tensors(m, p, &coords, &labels, &mask, err);
    if (rc)
      return rc;
    auto [sparse, dense] = m->net->sam_prompt_encoder(coords, labels, mask);
    auto d = m->net->sam_mask_decoder(
        m->image_embed,
        m->dense_pe,
        sparse,
        dense,
        p->multimask != 0,
        false,
        m->high_res);
    (void)d.masks.sum().item<float>(); // wait for the device
    return SF_OK;
  });
}

} // extern "C"
