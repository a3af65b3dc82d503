// sam2_video.cpp - SAM2VideoPredictor's state machine for one object
// (sam2.h's sam2_video): prompts on frames (clicks, boxes, masks) become
// conditioning frames, propagation runs the other frames through memory
// attention over a bank of num_maskmem frames plus object pointers, and
// every frame's memory is stored in bfloat16 as the reference stores it.
// Frames are slices of a volume here; the reference reads JPEG folders.
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>

#include "sam2_net.h"

using sam2::FrameOut;
using sam2::guarded;
using sam2::tput;
using torch::Tensor;

int sam2__trace_lookup(
    const sam2::Trace* tr,
    const char* name,
    sam_npy** out,
    sf_err* err);

struct sam2_video {
  sam2_model* m = nullptr;
  const uint8_t* frames = nullptr;
  int n = 0, nx = 0, ny = 0, channels = 0;
  // the features of the most recent frame (as the reference caches one)
  int cached = -1;
  sam2::Backbone feat;
  std::map<int, std::pair<Tensor, Tensor>> point_inputs; // coords, labels
  std::map<int, Tensor> mask_inputs; // (1, 1, S, S)
  sam2::OutputDict out, temp; // consolidated outputs; new prompts' outputs
  std::set<int> consolidated_cond, consolidated_non_cond;
  std::map<int, bool> already_tracked; // frame -> tracked in reverse
  std::unique_ptr<sam2::Trace> trace;
};

namespace {

sam2::Trace* trace_for(sam2_video* v, int frame) {
  sam2::Trace* tr = v->trace.get();
  if (tr)
    tr->prefix = "frame" + std::to_string(frame) + "/";
  return tr;
}

// load_video_frames: PIL resize to S x S (bicubic; identity at S x S),
// float32(u8 / 255), (x - mean) / std in float32.
const sam2::Backbone& features(sam2_video* v, int k) {
  if (v->cached == k)
    return v->feat;
  const sam2_config& c = v->m->cfg;
  const int S = c.image_size;
  size_t npx = size_t(v->nx) * size_t(v->ny);
  const uint8_t* src = v->frames + size_t(k) * npx * size_t(v->channels);
  std::vector<uint8_t> rgb(npx * 3), rs;
  for (size_t i = 0; i < npx; i++)
    for (int ch = 0; ch < 3; ch++)
      rgb[3 * i + size_t(ch)] =
          src[i * size_t(v->channels) + (v->channels == 3 ? size_t(ch) : 0)];
  const uint8_t* img = rgb.data();
  if (v->nx != S || v->ny != S) {
    rs.resize(size_t(S) * size_t(S) * 3);
    sf_err e = {};
    if (sam2_resize_bicubic_u8(
            rgb.data(), v->nx, v->ny, 3, rs.data(), S, S, &e))
      throw std::runtime_error(e.msg);
    img = rs.data();
  }
  auto x = torch::empty({1, 3, S, S}, torch::kFloat);
  float* d = x.data_ptr<float>();
  for (int ch = 0; ch < 3; ch++) {
    const float mean = c.pixel_mean[ch], sd = c.pixel_std[ch];
    for (size_t i = 0; i < size_t(S) * size_t(S); i++)
      d[size_t(ch) * size_t(S) * size_t(S) + i] =
          (float(img[3 * i + size_t(ch)] / 255.0) - mean) / sd;
  }
  v->cached = -1;
  v->feat = v->m->net->forward_image(x.to(v->m->device));
  v->cached = k;
  if (sam2::Trace* tr = trace_for(v, k))
    tr->put("vision_features", v->feat.vision_features);
  return v->feat;
}

// Store a new memory in bfloat16 and trace it.
void store_memory(
    sam2_video* v,
    FrameOut* fo,
    const Tensor& feats,
    const Tensor& pos,
    sam2::Trace* tr) {
  fo->maskmem_features = feats.to(torch::kBFloat16);
  fo->maskmem_pos_enc = pos;
  if (tr) {
    tr->put("maskmem_features", fo->maskmem_features.to(torch::kFloat));
    v->trace->t["maskmem_pos_enc"] = pos.detach().to(torch::kCPU).clone();
  }
}

// _run_single_frame_inference (track_step + bfloat16 storage + hole
// filling). points: (1, P, 2) in image_size pixels, or undefined.
FrameOut run_single_frame(
    sam2_video* v,
    int f,
    bool is_init_cond,
    const Tensor& points,
    const Tensor& labels,
    const Tensor& mask_in,
    bool reverse,
    bool run_mem_encoder,
    const Tensor& prev_logits) {
  auto& net = v->m->net;
  const sam2_config& c = v->m->cfg;
  const auto& bb = features(v, f);
  sam2::Trace* tr = trace_for(v, f);
  auto high_res = bb.high_res();
  sam2::SamOut so;
  if (mask_in.defined() && c.use_mask_input_as_output_without_sam) {
    so = net->use_mask_as_output(bb.vision_features, high_res, mask_in, tr);
  } else {
    auto pix = net->prepare_memory_conditioned_features(
        f,
        is_init_cond,
        bb.vision_features,
        bb.vision_pos_enc,
        v->out,
        v->n,
        reverse,
        tr);
    Tensor mi = prev_logits.defined() ? prev_logits : mask_in;
    int64_t n_pts = points.defined() ? points.size(1) : 0;
    so = net->forward_sam_heads(
        pix,
        points,
        labels,
        mi,
        high_res,
        net->use_multimask(is_init_cond, n_pts),
        tr);
  }
  FrameOut fo;
  fo.obj_ptr = so.obj_ptr;
  fo.object_score_logits = so.object_score_logits;
  if (run_mem_encoder && c.num_maskmem > 0) {
    auto [feats, pos] = net->encode_new_memory(
        bb.vision_features,
        so.high_res_masks,
        so.object_score_logits,
        points.defined(),
        tr);
    store_memory(v, &fo, feats, pos, tr);
  }
  fo.pred_masks = so.low_res_masks;
  if (c.fill_hole_area > 0)
    fo.pred_masks = sam2::fill_holes(fo.pred_masks, c.fill_hole_area);
  tput(tr, "pred_masks", fo.pred_masks);
  tput(tr, "obj_ptr", fo.obj_ptr);
  tput(tr, "object_score_logits", fo.object_score_logits);
  return fo;
}

const FrameOut* find_out(const sam2::OutputDict& d, int f, bool cond) {
  const auto& m = cond ? d.cond : d.non_cond;
  auto it = m.find(f);
  return it == m.end() ? nullptr : &it->second;
}

// _consolidate_temp_output_across_obj for one object with
// run_mem_encoder: the memory of a prompted frame, from its (hole-filled)
// low-res mask upsampled to S x S and binarised.
FrameOut consolidate(sam2_video* v, int f, bool is_cond) {
  const sam2_config& c = v->m->cfg;
  const FrameOut* o = find_out(v->temp, f, is_cond);
  if (!o)
    o = find_out(v->out, f, true);
  if (!o)
    o = find_out(v->out, f, false);
  TORCH_CHECK(o, "no output to consolidate on frame ", f);
  FrameOut r = *o;
  int64_t L = c.image_size / 4;
  if (r.pred_masks.size(-1) != L || r.pred_masks.size(-2) != L)
    r.pred_masks = sam2::resize(r.pred_masks, L, L);
  if (c.num_maskmem > 0) {
    const auto& bb = features(v, f);
    sam2::Trace* tr = trace_for(v, f);
    auto high_res =
        sam2::resize(r.pred_masks.to(v->m->device), c.image_size, c.image_size);
    auto [feats, pos] = v->m->net->encode_new_memory(
        bb.vision_features, high_res, r.object_score_logits, true, tr);
    store_memory(v, &r, feats, pos, tr);
  }
  return r;
}

void clear_around(sam2_video* v, int f) {
  int r = v->m->cfg.memory_temporal_stride_for_eval * v->m->cfg.num_maskmem;
  for (int t = f - r; t <= f + r; t++)
    v->out.non_cond.erase(t);
}

void preflight(sam2_video* v) {
  for (int is_cond = 0; is_cond < 2; is_cond++) {
    auto& temp = is_cond ? v->temp.cond : v->temp.non_cond;
    auto& dst = is_cond ? v->out.cond : v->out.non_cond;
    auto& done = is_cond ? v->consolidated_cond : v->consolidated_non_cond;
    for (const auto& kv : temp) {
      int f = kv.first;
      dst[f] = consolidate(v, f, is_cond != 0);
      done.insert(f);
      if (v->m->cfg.clear_non_cond_mem_around_input)
        clear_around(v, f);
    }
    temp.clear();
  }
  for (const auto& kv : v->out.cond) {
    v->out.non_cond.erase(kv.first);
    v->consolidated_non_cond.erase(kv.first);
  }
}

// Shared by add_points / add_mask: the new prompt's output goes to the
// temporary outputs until the next propagation.
int add_prompt(
    sam2_video* v,
    int frame,
    const Tensor& points,
    const Tensor& labels,
    const Tensor& mask) {
  const sam2_config& c = v->m->cfg;
  auto it = v->already_tracked.find(frame);
  bool is_init_cond = it == v->already_tracked.end();
  bool reverse = is_init_cond ? false : it->second;
  bool is_cond = is_init_cond || c.add_all_frames_to_correct_as_cond;
  Tensor prev;
  if (points.defined()) {
    // previously predicted logits on this frame go along with new clicks
    const FrameOut* p = find_out(v->temp, frame, is_cond);
    if (!p)
      p = find_out(v->out, frame, true);
    if (!p)
      p = find_out(v->out, frame, false);
    if (p && p->pred_masks.defined())
      prev = torch::clamp(p->pred_masks.to(v->m->device), -32.0, 32.0);
  }
  auto fo = run_single_frame(
      v, frame, is_init_cond, points, labels, mask, reverse, false, prev);
  (is_cond ? v->temp.cond : v->temp.non_cond)[frame] = fo;
  return SF_OK;
}

} // namespace

extern "C" {

int sam2_video_new(
    sam2_model* m,
    const uint8_t* frames,
    int n_frames,
    int nx,
    int ny,
    int channels,
    sam2_video** out,
    sf_err* err) {
  if (!m || !frames || !out)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  *out = nullptr;
  if (n_frames < 1 || nx < 1 || ny < 1 || nx > SF_PNG_MAX_SIDE ||
      ny > SF_PNG_MAX_SIDE)
    return sf_err_set(
        err,
        SF_EINVAL,
        "video of %d frames of %dx%d: out of range",
        n_frames,
        nx,
        ny);
  if (channels != 1 && channels != 3)
    return sf_err_set(
        err, SF_EINVAL, "frames have %d channels (1 or 3 expected)", channels);
  auto* v = new (std::nothrow) sam2_video();
  if (!v)
    return sf_err_set(err, SF_ENOMEM, "out of memory");
  v->m = m;
  v->frames = frames;
  v->n = n_frames;
  v->nx = nx;
  v->ny = ny;
  v->channels = channels;
  *out = v;
  return SF_OK;
}

void sam2_video_free(sam2_video* v) {
  try {
    delete v;
  } catch (...) {
  }
}

int sam2_video_add_points(
    sam2_video* v,
    int frame,
    const sam_prompt* p,
    sf_err* err) {
  if (!v || !p)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  if (frame < 0 || frame >= v->n)
    return sf_err_set(
        err, SF_EINVAL, "frame %d out of range 0..%d", frame, v->n - 1);
  if (p->n_points < 0 || p->n_points > 4096 ||
      (p->n_points > 0 && (!p->points || !p->labels)))
    return sf_err_set(err, SF_EINVAL, "bad points: n_points %d", p->n_points);
  if (p->n_points == 0 && !p->box)
    return sf_err_set(err, SF_EINVAL, "give at least one point or a box");
  for (int i = 0; i < p->n_points; i++) {
    if (!std::isfinite(p->points[2 * i]) ||
        !std::isfinite(p->points[2 * i + 1]))
      return sf_err_set(err, SF_EINVAL, "point %d is not finite", i);
    if (p->labels[i] != 0 && p->labels[i] != 1 && p->labels[i] != -1)
      return sf_err_set(
          err, SF_EINVAL, "point %d has label %d", i, p->labels[i]);
  }
  if (p->box)
    for (int i = 0; i < 4; i++)
      if (!std::isfinite(p->box[i]))
        return sf_err_set(err, SF_EINVAL, "box is not finite");
  return guarded(err, "add points", [&]() -> int {
    torch::NoGradGuard no_grad;
    int64_t n = p->n_points + (p->box ? 2 : 0);
    auto coords = torch::empty({1, n, 2}, torch::kFloat);
    auto labels = torch::empty({1, n}, torch::kInt);
    float* c = coords.data_ptr<float>();
    int32_t* l = labels.data_ptr<int32_t>();
    // points / [W, H] * image_size, in float32; a box first (labels 2, 3)
    const float W = float(v->nx), H = float(v->ny);
    const float S = float(v->m->cfg.image_size);
    int64_t j = 0;
    if (p->box)
      for (int k = 0; k < 2; k++, j++) {
        c[2 * j] = (p->box[2 * k] / W) * S;
        c[2 * j + 1] = (p->box[2 * k + 1] / H) * S;
        l[j] = 2 + k;
      }
    for (int i = 0; i < p->n_points; i++, j++) {
      c[2 * j] = (p->points[2 * i] / W) * S;
      c[2 * j + 1] = (p->points[2 * i + 1] / H) * S;
      l[j] = p->labels[i];
    }
    coords = coords.to(v->m->device);
    labels = labels.to(v->m->device);
    v->point_inputs[frame] = {coords, labels};
    v->mask_inputs.erase(frame);
    return add_prompt(v, frame, coords, labels, Tensor());
  });
}

int sam2_video_add_mask(
    sam2_video* v,
    int frame,
    const uint8_t* mask,
    sf_err* err) {
  if (!v || !mask)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  if (frame < 0 || frame >= v->n)
    return sf_err_set(
        err, SF_EINVAL, "frame %d out of range 0..%d", frame, v->n - 1);
  return guarded(err, "add mask", [&]() -> int {
    torch::NoGradGuard no_grad;
    const int64_t S = v->m->cfg.image_size;
    auto mk = (torch::from_blob(
                   const_cast<uint8_t*>(mask),
                   {1, 1, v->ny, v->nx},
                   torch::TensorOptions().dtype(torch::kByte)) != 0)
                  .to(torch::kFloat)
                  .to(v->m->device);
    if (v->ny != S || v->nx != S)
      mk = (sam2::resize(mk, S, S, true) >= 0.5).to(torch::kFloat);
    v->mask_inputs[frame] = mk;
    v->point_inputs.erase(frame);
    return add_prompt(v, frame, Tensor(), Tensor(), mk);
  });
}

int sam2_video_propagate(
    sam2_video* v,
    int start,
    int max_frames,
    int reverse,
    sam2_frame_fn fn,
    void* ctx,
    sf_err* err) {
  if (!v)
    return sf_err_set(err, SF_EINVAL, "NULL argument");
  if (start < -1 || start >= v->n)
    return sf_err_set(
        err, SF_EINVAL, "start frame %d out of range 0..%d", start, v->n - 1);
  return guarded(err, "propagate", [&]() -> int {
    torch::NoGradGuard no_grad;
    preflight(v);
    if (v->out.cond.empty())
      return sf_err_set(
          err, SF_EINVAL, "no frame has a prompt: add points or a mask first");
    if (start < 0)
      start = v->out.cond.begin()->first;
    if (max_frames < 0)
      max_frames = v->n;
    std::vector<int> order;
    if (reverse) {
      int end = std::max(start - max_frames, 0);
      if (start > 0)
        for (int f = start; f >= end; f--)
          order.push_back(f);
    } else {
      int end = std::min(start + max_frames, v->n - 1);
      for (int f = start; f <= end; f++)
        order.push_back(f);
    }
    std::vector<float> buf(size_t(v->nx) * size_t(v->ny));
    for (int f : order) {
      auto t0 = std::chrono::steady_clock::now();
      const FrameOut* o;
      if (v->consolidated_cond.count(f)) {
        o = &v->out.cond.at(f);
        if (v->m->cfg.clear_non_cond_mem_around_input)
          clear_around(v, f);
      } else if (v->consolidated_non_cond.count(f)) {
        o = &v->out.non_cond.at(f);
      } else {
        v->out.non_cond[f] = run_single_frame(
            v,
            f,
            false,
            Tensor(),
            Tensor(),
            Tensor(),
            reverse != 0,
            true,
            Tensor());
        o = &v->out.non_cond.at(f);
      }
      v->already_tracked[f] = reverse != 0;
      // the frame's logits at its own size
      auto lg = sam2::resize(o->pred_masks, v->ny, v->nx)
                    .to(torch::kCPU, torch::kFloat)
                    .contiguous();
      memcpy(buf.data(), lg.data_ptr<float>(), buf.size() * sizeof(float));
      float score = o->object_score_logits.to(torch::kCPU).item<float>();
      if (sam2::Trace* tr = trace_for(v, f))
        tr->put("video_res_logits", lg);
      double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
              .count();
      if (fn && fn(ctx, f, buf.data(), score, secs))
        return sf_err_set(
            err, SF_ECANCEL, "propagation stopped at frame %d", f);
    }
    return SF_OK;
  });
}

void sam2__video_trace(sam2_video* v, int on) {
  if (!v)
    return;
  try {
    v->trace.reset(on ? new sam2::Trace() : nullptr);
  } catch (...) {
  }
}

int sam2__video_trace_get(
    const sam2_video* v,
    const char* name,
    sam_npy** out,
    sf_err* err) {
  return sam2__trace_lookup(v ? v->trace.get() : nullptr, name, out, err);
}

} // extern "C"
