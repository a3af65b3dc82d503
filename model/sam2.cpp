// sam2.cpp - the SAM 2 modules and SAM2Base's per-frame steps (see
// sam2_net.h). Each forward follows facebookresearch/sam2 operation for
// operation; where we split work for memory (attention over chunks of
// queries) the arithmetic per element is unchanged.
#include "sam2_net.h"

#include <algorithm>
#include <cmath>
#include <deque>

namespace F = torch::nn::functional;
using torch::indexing::None;
using torch::indexing::Slice;

namespace sam2 {

// Largest attention matrix materialised at once, in bytes: small enough
// for malloc to recycle (under glibc's 32 MiB mmap threshold), since
// fresh mmapped blocks cost a page fault per 4 KiB on every call, which
// made memory attention at 1024 px (4096 queries x 7 * 4096 keys) spend
// more time in the kernel than in the matrix products.
static constexpr int64_t kAttnChunkBytes = int64_t(16) << 20;
// SAM2Base's placeholder score for an absent object.
static constexpr double kNoObjScore = -1024.0;

Tensor sdpa(const Tensor& q, const Tensor& k, const Tensor& v) {
  double scale = 1.0 / std::sqrt(double(q.size(-1)));
  int64_t lq = q.size(-2), lk = k.size(-2);
  int64_t batch = lq > 0 ? q.numel() / (lq * q.size(-1)) : 0;
  int64_t bytes = batch * lq * lk * 4;
  auto kt = k.transpose(-2, -1);
  if (bytes <= kAttnChunkBytes || lq <= 1) {
    auto attn = torch::matmul(q, kt).mul_(scale);
    return torch::matmul(attn.softmax(-1), v);
  }
  int64_t rows = std::max<int64_t>(
      1, kAttnChunkBytes / std::max<int64_t>(1, batch * lk * 4));
  auto sizes = q.sizes().vec();
  sizes.back() = v.size(-1);
  auto out = torch::empty(sizes, q.options());
  for (int64_t s = 0; s < lq; s += rows) {
    int64_t n = std::min(rows, lq - s);
    auto attn = torch::matmul(q.narrow(-2, s, n), kt).mul_(scale);
    out.narrow(-2, s, n).copy_(torch::matmul(attn.softmax(-1), v));
  }
  return out;
}

Tensor resize(const Tensor& x, int64_t h, int64_t w, bool antialias) {
  return F::interpolate(
      x,
      F::InterpolateFuncOptions()
          .size(std::vector<int64_t>{h, w})
          .mode(torch::kBilinear)
          .align_corners(false)
          .antialias(antialias));
}

Tensor fill_holes(const Tensor& x, int64_t max_area) {
  auto c = x.detach().to(torch::kCPU, torch::kFloat).contiguous();
  int64_t n = c.size(0) * c.size(1), h = c.size(2), w = c.size(3);
  float* d = c.data_ptr<float>();
  std::vector<int32_t> comp(size_t(h * w));
  std::vector<int64_t> members;
  std::deque<int64_t> queue;
  for (int64_t b = 0; b < n; b++) {
    float* m = d + b * h * w;
    std::fill(comp.begin(), comp.end(), 0);
    int32_t label = 0;
    for (int64_t s = 0; s < h * w; s++) {
      if (!(m[s] <= 0) || comp[size_t(s)])
        continue;
      // one 8-connected background component, breadth first
      members.clear();
      comp[size_t(s)] = ++label;
      queue.push_back(s);
      while (!queue.empty()) {
        int64_t p = queue.front();
        queue.pop_front();
        members.push_back(p);
        int64_t py = p / w, px = p % w;
        for (int64_t dy = -1; dy <= 1; dy++)
          for (int64_t dx = -1; dx <= 1; dx++) {
            int64_t yy = py + dy, xx = px + dx;
            if ((!dy && !dx) || yy < 0 || yy >= h || xx < 0 || xx >= w)
              continue;
            int64_t q = yy * w + xx;
            if (m[q] <= 0 && !comp[size_t(q)]) {
              comp[size_t(q)] = label;
              queue.push_back(q);
            }
          }
      }
      if (int64_t(members.size()) <= max_area)
        for (int64_t p : members)
          m[p] = 0.1f;
    }
  }
  return c.to(x.device());
}

// ------------------------------------------------------------------- MLP

MLPImpl::MLPImpl(
    int64_t input_dim,
    int64_t hidden_dim,
    int64_t output_dim,
    int64_t num_layers,
    bool gelu_,
    bool sigmoid_output_)
    : gelu(gelu_), sigmoid_output(sigmoid_output_) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < num_layers; i++) {
    torch::nn::Linear l(
        i == 0 ? input_dim : hidden_dim,
        i == num_layers - 1 ? output_dim : hidden_dim);
    layers->push_back(l);
    list.push_back(l);
  }
}

Tensor MLPImpl::forward(Tensor x) {
  size_t n = list.size();
  for (size_t i = 0; i < n; i++) {
    x = list[i](x);
    if (i + 1 < n)
      x = gelu ? torch::gelu(x) : torch::relu(x);
  }
  return sigmoid_output ? torch::sigmoid(x) : x;
}

// ----------------------------------------------------------------- Hiera

// (B, H, W, C) -> max-pooled by `s` (kernel = stride = s, floor).
static Tensor do_pool(const Tensor& x, int64_t s) {
  if (s <= 0)
    return x;
  auto y = torch::max_pool2d(x.permute({0, 3, 1, 2}), {s, s}, {s, s});
  return y.permute({0, 2, 3, 1});
}

MultiScaleAttentionImpl::MultiScaleAttentionImpl(
    int64_t dim,
    int64_t dim_out,
    int64_t heads,
    int64_t q_stride_)
    : num_heads(heads), q_stride(q_stride_) {
  qkv = register_module("qkv", torch::nn::Linear(dim, dim_out * 3));
  proj = register_module("proj", torch::nn::Linear(dim_out, dim_out));
}

Tensor MultiScaleAttentionImpl::forward(const Tensor& x) {
  int64_t B = x.size(0), H = x.size(1), W = x.size(2);
  // qkv with shape (B, H * W, 3, nHead, C)
  auto parts = qkv(x).reshape({B, H * W, 3, num_heads, -1}).unbind(2);
  Tensor q = parts[0], k = parts[1], v = parts[2];
  if (q_stride > 0) { // Q pooling (for downsample at stage changes)
    q = do_pool(q.reshape({B, H, W, -1}), q_stride);
    H = q.size(1);
    W = q.size(2);
    q = q.reshape({B, H * W, num_heads, -1});
  }
  auto o = sdpa(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2));
  o = o.transpose(1, 2).reshape({B, H, W, -1});
  return proj(o);
}

MultiScaleBlockImpl::MultiScaleBlockImpl(
    int64_t dim_,
    int64_t dim_out_,
    int64_t heads,
    double mlp_ratio,
    int64_t q_stride_,
    int64_t window)
    : dim(dim_), dim_out(dim_out_), q_stride(q_stride_), window_size(window) {
  norm1 = register_module(
      "norm1",
      torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6)));
  attn = register_module(
      "attn", MultiScaleAttention(dim, dim_out, heads, q_stride));
  norm2 = register_module(
      "norm2",
      torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim_out}).eps(1e-6)));
  mlp = register_module(
      "mlp",
      MLP(dim_out, int64_t(double(dim_out) * mlp_ratio), dim_out, 2, true));
  if (dim != dim_out)
    proj = register_module("proj", torch::nn::Linear(dim, dim_out));
}

// (B, H, W, C) -> (B * nW, ws, ws, C), zero-padding H, W at the bottom and
// right up to multiples of ws.
static Tensor window_partition(Tensor x, int64_t ws, int64_t* Hp, int64_t* Wp) {
  int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  int64_t pad_h = (ws - H % ws) % ws, pad_w = (ws - W % ws) % ws;
  if (pad_h > 0 || pad_w > 0)
    x = F::pad(x, F::PadFuncOptions({0, 0, 0, pad_w, 0, pad_h}));
  *Hp = H + pad_h;
  *Wp = W + pad_w;
  x = x.reshape({B, *Hp / ws, ws, *Wp / ws, ws, C});
  return x.permute({0, 1, 3, 2, 4, 5}).reshape({-1, ws, ws, C});
}

static Tensor window_unpartition(
    const Tensor& windows,
    int64_t ws,
    int64_t Hp,
    int64_t Wp,
    int64_t H,
    int64_t W) {
  int64_t B = windows.size(0) / (Hp * Wp / ws / ws);
  auto x = windows.reshape({B, Hp / ws, Wp / ws, ws, ws, -1});
  x = x.permute({0, 1, 3, 2, 4, 5}).reshape({B, Hp, Wp, -1});
  if (Hp > H || Wp > W)
    x = x.index({Slice(), Slice(None, H), Slice(None, W), Slice()});
  return x;
}

Tensor MultiScaleBlockImpl::forward(const Tensor& x_in) {
  auto shortcut = x_in; // B, H, W, C
  auto x = norm1(x_in);
  if (dim != dim_out) // skip connection
    shortcut = do_pool(proj(x), q_stride);
  int64_t ws = window_size, H = 0, W = 0, Hp = 0, Wp = 0;
  if (ws > 0) {
    H = x.size(1);
    W = x.size(2);
    x = window_partition(x, ws, &Hp, &Wp);
  }
  x = attn(x); // window attention + q pooling (if stage change)
  if (q_stride > 0) { // shapes have changed due to q pooling
    ws = window_size / q_stride;
    H = shortcut.size(1);
    W = shortcut.size(2);
    Hp = H + (ws - H % ws) % ws;
    Wp = W + (ws - W % ws) % ws;
  }
  if (window_size > 0)
    x = window_unpartition(x, ws, Hp, Wp, H, W);
  x = shortcut + x;
  return x + mlp(norm2(x));
}

PatchEmbedImpl::PatchEmbedImpl(int64_t embed_dim) {
  proj = register_module(
      "proj",
      torch::nn::Conv2d(
          torch::nn::Conv2dOptions(3, embed_dim, 7).stride(4).padding(3)));
}

Tensor PatchEmbedImpl::forward(const Tensor& x) {
  return proj(x).permute({0, 2, 3, 1});
}

HieraImpl::HieraImpl(const sam2_config& c) {
  const auto& t = c.image_encoder.trunk;
  return_interm_layers = t.return_interm_layers != 0;
  int64_t dim = t.embed_dim, heads = t.num_heads, depth = 0;
  for (int s = 0; s < t.n_stages; s++) {
    depth += t.stages[s];
    stage_ends.push_back(depth - 1);
  }
  pos_embed = register_parameter(
      "pos_embed",
      torch::zeros(
          {1,
           dim,
           t.window_pos_embed_bkg_spatial_size[0],
           t.window_pos_embed_bkg_spatial_size[1]}));
  pos_embed_window = register_parameter(
      "pos_embed_window",
      torch::zeros({1, dim, t.window_spec[0], t.window_spec[0]}));
  patch_embed = register_module("patch_embed", PatchEmbed(dim));
  blocks = register_module("blocks", torch::nn::ModuleList());
  int cur_stage = 1;
  for (int64_t i = 0; i < depth; i++) {
    int64_t dim_out = dim;
    // the window lags by a block: a stage's first block uses the previous
    // stage's window size
    int64_t window = t.window_spec[cur_stage - 1];
    for (int g = 0; g < t.n_global_att_blocks; g++)
      if (t.global_att_blocks[g] == i)
        window = 0;
    bool change = std::find(stage_ends.begin(), stage_ends.end(), i - 1) !=
        stage_ends.end();
    if (change) {
      dim_out = int64_t(double(dim) * t.dim_mul);
      heads = int64_t(double(heads) * t.head_mul);
      cur_stage++;
    }
    // q-pooling in the first block of the first q_pool stage changes
    bool pool = change && cur_stage - 1 <= t.q_pool;
    MultiScaleBlock b(
        dim, dim_out, heads, 4.0, pool ? t.q_stride[0] : 0, window);
    blocks->push_back(b);
    block_list.push_back(b);
    dim = dim_out;
  }
}

Tensor HieraImpl::get_pos_embed(int64_t h, int64_t w) {
  auto pe = F::interpolate(
      pos_embed,
      F::InterpolateFuncOptions()
          .size(std::vector<int64_t>{h, w})
          .mode(torch::kBicubic)
          .align_corners(false));
  int64_t ws = pos_embed_window.size(2);
  pe = pe + pos_embed_window.tile({1, 1, h / ws, w / ws});
  return pe.permute({0, 2, 3, 1});
}

std::vector<Tensor> HieraImpl::forward(const Tensor& x_in, Trace* tr) {
  auto x = patch_embed(x_in); // (B, H, W, C)
  tput(tr, "debug/trunk_patch_embed", x);
  auto pe = get_pos_embed(x.size(1), x.size(2));
  tput(tr, "debug/trunk_pos_embed", pe);
  x = x + pe;
  std::vector<Tensor> outputs;
  for (size_t i = 0; i < block_list.size(); i++) {
    x = block_list[i](x);
    tput(tr, "debug/trunk_block" + std::to_string(i) + "_out", x);
    bool end = std::find(stage_ends.begin(), stage_ends.end(), int64_t(i)) !=
        stage_ends.end();
    if (int64_t(i) == stage_ends.back() || (end && return_interm_layers))
      outputs.push_back(x.permute({0, 3, 1, 2}));
  }
  return outputs;
}

// -------------------------------------------------------------- FPN neck

Tensor sine_pe(
    const sam2_pos_enc_config& c,
    int64_t h,
    int64_t w,
    torch::Device dev) {
  int64_t npf = c.num_pos_feats / 2;
  auto fo = torch::TensorOptions().dtype(torch::kFloat).device(dev);
  auto y_embed = torch::arange(1, h + 1, fo).view({1, -1, 1}).repeat({1, 1, w});
  auto x_embed = torch::arange(1, w + 1, fo).view({1, 1, -1}).repeat({1, h, 1});
  if (c.normalize) {
    const double eps = 1e-6, scale = c.scale > 0 ? c.scale : 2 * M_PI;
    y_embed = y_embed /
        (y_embed.index({Slice(), Slice(-1, None), Slice()}) + eps) * scale;
    x_embed = x_embed /
        (x_embed.index({Slice(), Slice(), Slice(-1, None)}) + eps) * scale;
  }
  auto dim_t = torch::arange(npf, fo);
  dim_t = torch::pow(c.temperature, 2 * torch::div(dim_t, 2, "floor") / npf);
  auto pos_x = x_embed.unsqueeze(-1) / dim_t;
  auto pos_y = y_embed.unsqueeze(-1) / dim_t;
  auto interleave = [](const Tensor& p) {
    return torch::stack(
               {p.index({"...", Slice(0, None, 2)}).sin(),
                p.index({"...", Slice(1, None, 2)}).cos()},
               4)
        .flatten(3);
  };
  return torch::cat({interleave(pos_y), interleave(pos_x)}, 3)
      .permute({0, 3, 1, 2});
}

ConvHolderImpl::ConvHolderImpl(
    int64_t in,
    int64_t out,
    int64_t k,
    int64_t s,
    int64_t p) {
  conv = register_module(
      "conv",
      torch::nn::Conv2d(
          torch::nn::Conv2dOptions(in, out, k).stride(s).padding(p)));
}

FpnNeckImpl::FpnNeckImpl(const sam2_config& c) {
  const auto& n = c.image_encoder.neck;
  pe = n.position_encoding;
  convs = register_module("convs", torch::nn::ModuleList());
  for (int i = 0; i < n.n_backbone_channel_list; i++) {
    ConvHolder h(
        n.backbone_channel_list[i],
        n.d_model,
        n.kernel_size,
        n.stride,
        n.padding);
    convs->push_back(h);
    conv_list.push_back(h);
  }
  all_top_down = n.n_fpn_top_down_levels < 0;
  for (int i = 0; i < n.n_fpn_top_down_levels; i++)
    top_down.push_back(n.fpn_top_down_levels[i]);
  interp = n.fpn_interp_model;
  fuse_avg = n.fuse_type;
}

void FpnNeckImpl::forward(
    const std::vector<Tensor>& xs,
    std::vector<Tensor>* out,
    std::vector<Tensor>* pos,
    Trace* tr) {
  int n = int(conv_list.size()) - 1;
  TORCH_CHECK(int(xs.size()) == n + 1, "FPN: level count");
  out->assign(size_t(n + 1), Tensor());
  pos->assign(size_t(n + 1), Tensor());
  Tensor prev;
  // top-down, from low to high resolution
  for (int i = n; i >= 0; i--) {
    auto lateral = conv_list[size_t(n - i)](xs[size_t(i)]);
    bool td = all_top_down ||
        std::find(top_down.begin(), top_down.end(), i) != top_down.end();
    if (td && prev.defined()) {
      auto o = F::InterpolateFuncOptions().scale_factor(
          std::vector<double>{2.0, 2.0});
      if (interp == SAM2_INTERP_NEAREST)
        o.mode(torch::kNearest);
      else if (interp == SAM2_INTERP_BICUBIC)
        o.mode(torch::kBicubic).align_corners(false);
      else
        o.mode(torch::kBilinear).align_corners(false);
      prev = lateral + F::interpolate(prev.to(torch::kFloat), o);
      if (fuse_avg)
        prev = prev / 2;
    } else {
      prev = lateral;
    }
    (*out)[size_t(i)] = prev;
    (*pos)[size_t(i)] = sine_pe(pe, prev.size(2), prev.size(3), prev.device())
                            .expand({prev.size(0), -1, -1, -1});
    tput(tr, "debug/neck_fpn" + std::to_string(i), prev);
  }
}

ImageEncoderImpl::ImageEncoderImpl(const sam2_config& c)
    : scalp(c.image_encoder.scalp) {
  trunk = register_module("trunk", Hiera(c));
  neck = register_module("neck", FpnNeck(c));
}

void ImageEncoderImpl::forward(
    const Tensor& x,
    std::vector<Tensor>* fpn,
    std::vector<Tensor>* pos,
    Trace* tr) {
  neck->forward(trunk->forward(x, tr), fpn, pos, tr);
  if (scalp > 0) { // discard the lowest resolution features
    fpn->resize(fpn->size() - size_t(scalp));
    pos->resize(pos->size() - size_t(scalp));
  }
}

// ------------------------------------------------------------- SAM heads

PromptEncoderImpl::PromptEncoderImpl(
    int64_t embed_dim_,
    int64_t embedding_side_,
    int64_t image_size_,
    int64_t mic)
    : embed_dim(embed_dim_),
      embedding_side(embedding_side_),
      image_size(image_size_) {
  int64_t C = embed_dim;
  pe_layer = register_module("pe_layer", sam::PositionEmbeddingRandom(C / 2));
  point_embeddings =
      register_module("point_embeddings", torch::nn::ModuleList());
  for (int i = 0; i < 4; i++) { // pos/neg point + 2 box corners
    torch::nn::Embedding e(1, C);
    point_embeddings->push_back(e);
    point_list.push_back(e);
  }
  not_a_point_embed =
      register_module("not_a_point_embed", torch::nn::Embedding(1, C));
  auto conv = [](int64_t i, int64_t o, int64_t k) {
    return torch::nn::Conv2d(torch::nn::Conv2dOptions(i, o, k).stride(k));
  };
  mask_downscaling = register_module(
      "mask_downscaling",
      torch::nn::Sequential(
          conv(1, mic / 4, 2),
          sam::LayerNorm2d(mic / 4),
          torch::nn::GELU(),
          conv(mic / 4, mic, 2),
          sam::LayerNorm2d(mic),
          torch::nn::GELU(),
          conv(mic, C, 1)));
  no_mask_embed = register_module("no_mask_embed", torch::nn::Embedding(1, C));
}

Tensor PromptEncoderImpl::get_dense_pe() {
  return pe_layer->forward(embedding_side, embedding_side).unsqueeze(0);
}

Tensor PromptEncoderImpl::embed_points(Tensor points, Tensor labels, bool pad) {
  points = points + 0.5; // shift to the centre of the pixel
  labels = labels.to(torch::kFloat);
  if (pad) {
    points = torch::cat(
        {points, torch::zeros({points.size(0), 1, 2}, points.options())}, 1);
    labels = torch::cat(
        {labels, -torch::ones({labels.size(0), 1}, labels.options())}, 1);
  }
  auto pe = pe_layer->forward_with_coords(points, image_size, image_size);
  auto pad_mask = labels == -1;
  pe.index_put_({pad_mask}, 0.0);
  pe.index_put_({pad_mask}, pe.index({pad_mask}) + not_a_point_embed->weight);
  for (int l = 0; l < 4; l++) {
    auto m = labels == l;
    pe.index_put_({m}, pe.index({m}) + point_list[size_t(l)]->weight);
  }
  return pe;
}

std::pair<Tensor, Tensor> PromptEncoderImpl::forward(
    const Tensor& points,
    const Tensor& labels,
    const Tensor& masks) {
  int64_t bs = points.defined() ? points.size(0)
      : masks.defined()         ? masks.size(0)
                                : 1;
  auto dev = point_list[0]->weight.device();
  auto sparse =
      torch::empty({bs, 0, embed_dim}, torch::TensorOptions().device(dev));
  if (points.defined())
    sparse = torch::cat({sparse, embed_points(points, labels, true)}, 1);
  Tensor dense;
  if (masks.defined())
    dense = mask_downscaling->forward(masks);
  else
    dense = no_mask_embed->weight.reshape({1, -1, 1, 1})
                .expand({bs, -1, embedding_side, embedding_side});
  return {sparse, dense};
}

AttentionImpl::AttentionImpl(
    int64_t embedding_dim,
    int64_t heads,
    int64_t downsample_rate,
    int64_t kv_in_dim,
    const sam2_rope_attention_config* r)
    : num_heads(heads), internal_dim(embedding_dim / downsample_rate) {
  int64_t kv = kv_in_dim > 0 ? kv_in_dim : embedding_dim;
  q_proj =
      register_module("q_proj", torch::nn::Linear(embedding_dim, internal_dim));
  k_proj = register_module("k_proj", torch::nn::Linear(kv, internal_dim));
  v_proj = register_module("v_proj", torch::nn::Linear(kv, internal_dim));
  out_proj = register_module(
      "out_proj", torch::nn::Linear(internal_dim, embedding_dim));
  if (r) {
    rope = true;
    rope_k_repeat = r->rope_k_repeat != 0;
    rope_theta = r->rope_theta;
    feat_w = r->feat_sizes[0];
    feat_h = r->feat_sizes[1];
  }
}

// compute_axial_cis: (end_x * end_y, dim / 2) complex, x frequencies then
// y frequencies, positions in row-major (y, x) order.
static Tensor axial_cis(
    int64_t dim,
    int64_t end_x,
    int64_t end_y,
    double theta) {
  auto fo = torch::TensorOptions().dtype(torch::kFloat);
  auto f = torch::arange(0, dim, 4, torch::TensorOptions().dtype(torch::kLong))
               .index({Slice(None, dim / 4)})
               .to(torch::kFloat) /
      dim;
  auto freqs = 1.0 / torch::pow(theta, f);
  auto t = torch::arange(end_x * end_y, fo);
  auto t_x = torch::remainder(t, end_x);
  auto t_y = torch::div(t, end_x, "floor");
  auto fx = torch::outer(t_x, freqs), fy = torch::outer(t_y, freqs);
  return torch::cat(
      {torch::polar(torch::ones_like(fx), fx),
       torch::polar(torch::ones_like(fy), fy)},
      -1);
}

Tensor AttentionImpl::freqs(int64_t n, torch::Device dev) {
  if (!freqs_cis.defined() || freqs_cis.size(0) != n) {
    int64_t hd = internal_dim / num_heads, ex = feat_w, ey = feat_h;
    if (ex * ey != n) { // the reference recomputes for a square of n
      ex = ey = int64_t(std::llround(std::sqrt(double(n))));
      TORCH_CHECK(ex * ey == n, "RoPE attention over a non-square map");
    }
    freqs_cis = axial_cis(hd, ex, ey, rope_theta);
  }
  if (freqs_cis.device() != dev)
    freqs_cis = freqs_cis.to(dev);
  return freqs_cis;
}

static Tensor separate_heads(const Tensor& x, int64_t heads) {
  int64_t b = x.size(0), n = x.size(1), c = x.size(2);
  return x.reshape({b, n, heads, c / heads}).transpose(1, 2);
}

// apply_rotary_enc on one of q / k: pairs (2i, 2i+1) as complex numbers
// times freqs (n, d/2).
static Tensor rotate(const Tensor& x, const Tensor& freqs) {
  auto s = x.sizes().vec();
  s.back() /= 2;
  s.push_back(2);
  auto xc = torch::view_as_complex(x.to(torch::kFloat).reshape(s).contiguous());
  auto out = torch::view_as_real(xc * freqs).flatten(3);
  return out.to(x.scalar_type());
}

Tensor AttentionImpl::forward(
    const Tensor& q_in,
    const Tensor& k_in,
    const Tensor& v_in,
    int64_t num_k_exclude_rope) {
  auto q = separate_heads(q_proj(q_in), num_heads);
  auto k = separate_heads(k_proj(k_in), num_heads);
  auto v = separate_heads(v_proj(v_in), num_heads);
  if (rope) {
    int64_t nq = q.size(-2), nk = k.size(-2);
    TORCH_CHECK(nq == nk || rope_k_repeat, "RoPE: q and k lengths differ");
    auto fc = freqs(nq, q.device());
    q = rotate(q, fc);
    int64_t nk_rope = nk - num_k_exclude_rope;
    if (nk_rope > 0) {
      auto f = fc;
      if (rope_k_repeat && nk_rope != nq)
        f = fc.repeat({nk_rope / nq, 1}); // once per memory frame
      auto kr = rotate(k.narrow(2, 0, nk_rope), f);
      k = nk_rope < nk ? torch::cat({kr, k.narrow(2, nk_rope, nk - nk_rope)}, 2)
                       : kr;
    }
  }
  auto out = sdpa(q, k, v);
  int64_t b = out.size(0), h = out.size(1), n = out.size(2), c = out.size(3);
  return out_proj(out.transpose(1, 2).reshape({b, n, h * c}));
}

TwoWayAttentionBlockImpl::TwoWayAttentionBlockImpl(
    int64_t dim,
    int64_t heads,
    int64_t mlp_dim,
    int64_t downsample,
    bool skip)
    : skip_first_layer_pe(skip) {
  auto ln = torch::nn::LayerNormOptions({dim});
  self_attn = register_module("self_attn", Attention(dim, heads));
  norm1 = register_module("norm1", torch::nn::LayerNorm(ln));
  cross_attn_token_to_image = register_module(
      "cross_attn_token_to_image", Attention(dim, heads, downsample));
  norm2 = register_module("norm2", torch::nn::LayerNorm(ln));
  mlp = register_module("mlp", MLP(dim, mlp_dim, dim, 2));
  norm3 = register_module("norm3", torch::nn::LayerNorm(ln));
  norm4 = register_module("norm4", torch::nn::LayerNorm(ln));
  cross_attn_image_to_token = register_module(
      "cross_attn_image_to_token", Attention(dim, heads, downsample));
}

std::pair<Tensor, Tensor> TwoWayAttentionBlockImpl::forward(
    Tensor queries,
    Tensor keys,
    const Tensor& query_pe,
    const Tensor& key_pe) {
  if (skip_first_layer_pe) {
    queries = self_attn(queries, queries, queries);
  } else {
    auto q = queries + query_pe;
    queries = queries + self_attn(q, q, queries);
  }
  queries = norm1(queries);
  auto q = queries + query_pe;
  auto k = keys + key_pe;
  queries = norm2(queries + cross_attn_token_to_image(q, k, keys));
  queries = norm3(queries + mlp(queries));
  q = queries + query_pe;
  k = keys + key_pe;
  keys = norm4(keys + cross_attn_image_to_token(k, q, queries));
  return {queries, keys};
}

TwoWayTransformerImpl::TwoWayTransformerImpl(const sam2_config& c) {
  int64_t dim = c.memory_attention.d_model;
  layers = register_module("layers", torch::nn::ModuleList());
  for (int i = 0; i < c.decoder_depth; i++) {
    TwoWayAttentionBlock b(
        dim,
        c.decoder_num_heads,
        c.decoder_mlp_dim,
        c.attention_downsample_rate,
        i == 0);
    layers->push_back(b);
    layer_list.push_back(b);
  }
  final_attn_token_to_image = register_module(
      "final_attn_token_to_image",
      Attention(dim, c.decoder_num_heads, c.attention_downsample_rate));
  norm_final_attn = register_module(
      "norm_final_attn",
      torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
}

std::pair<Tensor, Tensor> TwoWayTransformerImpl::forward(
    const Tensor& image_embedding,
    const Tensor& image_pe_in,
    const Tensor& point_embedding) {
  auto keys = image_embedding.flatten(2).permute({0, 2, 1});
  auto image_pe = image_pe_in.flatten(2).permute({0, 2, 1});
  auto queries = point_embedding;
  for (auto& layer : layer_list)
    std::tie(queries, keys) = layer(queries, keys, point_embedding, image_pe);
  auto q = queries + point_embedding;
  auto k = keys + image_pe;
  queries = norm_final_attn(queries + final_attn_token_to_image(q, k, keys));
  return {queries, keys};
}

MaskDecoderImpl::MaskDecoderImpl(const sam2_config& c)
    : num_mask_tokens(c.num_multimask_outputs + 1),
      pred_obj_scores(c.pred_obj_scores != 0),
      use_multimask_token_for_obj_ptr(c.use_multimask_token_for_obj_ptr != 0),
      dynamic(
          c.sam_mask_decoder_extra_args.dynamic_multimask_via_stability != 0),
      stab_delta(
          c.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta),
      stab_thresh(
          c.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh) {
  int64_t dim = c.memory_attention.d_model;
  transformer = register_module("transformer", TwoWayTransformer(c));
  iou_token = register_module("iou_token", torch::nn::Embedding(1, dim));
  mask_tokens = register_module(
      "mask_tokens", torch::nn::Embedding(num_mask_tokens, dim));
  if (pred_obj_scores)
    obj_score_token =
        register_module("obj_score_token", torch::nn::Embedding(1, dim));
  auto up = [](int64_t i, int64_t o) {
    return torch::nn::ConvTranspose2d(
        torch::nn::ConvTranspose2dOptions(i, o, 2).stride(2));
  };
  output_upscaling = register_module(
      "output_upscaling",
      torch::nn::Sequential(
          up(dim, dim / 4),
          sam::LayerNorm2d(dim / 4),
          torch::nn::GELU(),
          up(dim / 4, dim / 8),
          torch::nn::GELU()));
  if (c.use_high_res_features_in_sam) {
    conv_s0 = register_module(
        "conv_s0",
        torch::nn::Conv2d(torch::nn::Conv2dOptions(dim, dim / 8, 1)));
    conv_s1 = register_module(
        "conv_s1",
        torch::nn::Conv2d(torch::nn::Conv2dOptions(dim, dim / 4, 1)));
  }
  output_hypernetworks_mlps =
      register_module("output_hypernetworks_mlps", torch::nn::ModuleList());
  for (int64_t i = 0; i < num_mask_tokens; i++) {
    MLP m(dim, dim, dim / 8, 3);
    output_hypernetworks_mlps->push_back(m);
    hyper_list.push_back(m);
  }
  iou_prediction_head = register_module(
      "iou_prediction_head",
      MLP(dim,
          c.iou_head_hidden_dim,
          num_mask_tokens,
          c.iou_head_depth,
          false,
          c.iou_prediction_use_sigmoid != 0));
  if (pred_obj_scores) {
    if (c.pred_obj_scores_mlp)
      obj_score_mlp =
          register_module("pred_obj_score_head", MLP(dim, dim, 1, 3));
    else
      obj_score_linear =
          register_module("pred_obj_score_head", torch::nn::Linear(dim, 1));
  }
}

DecoderOut MaskDecoderImpl::forward(
    const Tensor& image_embeddings,
    const Tensor& image_pe,
    const Tensor& sparse,
    const Tensor& dense,
    bool multimask_output,
    bool repeat_image,
    const std::vector<Tensor>& high_res) {
  // predict_masks: concatenate output tokens
  int64_t s = pred_obj_scores ? 1 : 0;
  auto output_tokens = pred_obj_scores
      ? torch::cat(
            {obj_score_token->weight, iou_token->weight, mask_tokens->weight},
            0)
      : torch::cat({iou_token->weight, mask_tokens->weight}, 0);
  output_tokens = output_tokens.unsqueeze(0).expand({sparse.size(0), -1, -1});
  auto tokens = torch::cat({output_tokens, sparse}, 1);
  auto src = repeat_image
      ? torch::repeat_interleave(image_embeddings, tokens.size(0), 0)
      : image_embeddings;
  src = src + dense;
  auto pos_src = torch::repeat_interleave(image_pe, tokens.size(0), 0);
  int64_t b = src.size(0), c = src.size(1), h = src.size(2), w = src.size(3);
  auto [hs, src_out] = transformer(src, pos_src, tokens);
  auto iou_token_out = hs.index({Slice(), s, Slice()});
  auto mask_tokens_out =
      hs.index({Slice(), Slice(s + 1, s + 1 + num_mask_tokens), Slice()});
  src_out = src_out.transpose(1, 2).view({b, c, h, w});
  Tensor up;
  auto& u = *output_upscaling;
  if (high_res.empty()) {
    up = output_upscaling->forward(src_out);
  } else {
    // act1(ln1(dc1(src) + feat_s1)), then act2(dc2(.) + feat_s0)
    up = u[1]->as<sam::LayerNorm2d>()->forward(
        u[0]->as<torch::nn::ConvTranspose2d>()->forward(src_out) + high_res[1]);
    up = u[2]->as<torch::nn::GELU>()->forward(up);
    up = u[4]->as<torch::nn::GELU>()->forward(
        u[3]->as<torch::nn::ConvTranspose2d>()->forward(up) + high_res[0]);
  }
  std::vector<Tensor> hyper_in_list;
  for (int64_t i = 0; i < num_mask_tokens; i++)
    hyper_in_list.push_back(
        hyper_list[size_t(i)](mask_tokens_out.index({Slice(), i, Slice()})));
  auto hyper_in = torch::stack(hyper_in_list, 1);
  int64_t ub = up.size(0), uc = up.size(1), uh = up.size(2), uw = up.size(3);
  auto masks = torch::matmul(hyper_in, up.view({ub, uc, uh * uw}))
                   .view({ub, -1, uh, uw});
  auto iou_pred = iou_prediction_head(iou_token_out);
  Tensor obj;
  if (pred_obj_scores) {
    auto t0 = hs.index({Slice(), 0, Slice()});
    obj = obj_score_mlp ? obj_score_mlp(t0) : obj_score_linear(t0);
  } else {
    obj = 10.0 * torch::ones({iou_pred.size(0), 1}, iou_pred.options());
  }
  DecoderOut o;
  o.all_masks = masks;
  o.all_iou = iou_pred;
  o.object_score_logits = obj;
  if (multimask_output) {
    o.masks = masks.index({Slice(), Slice(1, None)});
    o.iou = iou_pred.index({Slice(), Slice(1, None)});
  } else if (dynamic) {
    // _dynamic_multimask_via_stability: token 0 unless its stability
    // score is low, then the best multimask token
    auto multi = masks.index({Slice(), Slice(1, None)});
    auto multi_iou = iou_pred.index({Slice(), Slice(1, None)});
    auto best = torch::argmax(multi_iou, -1);
    auto bi = torch::arange(multi_iou.size(0), best.options());
    auto best_logits = multi.index({bi, best}).unsqueeze(1);
    auto best_iou = multi_iou.index({bi, best}).unsqueeze(1);
    auto single = masks.index({Slice(), Slice(0, 1)});
    auto single_iou = iou_pred.index({Slice(), Slice(0, 1)});
    auto flat = single.flatten(-2);
    auto area_i = (flat > stab_delta).sum(-1).to(torch::kFloat);
    auto area_u = (flat > -stab_delta).sum(-1).to(torch::kFloat);
    auto stability =
        torch::where(area_u > 0, area_i / area_u, torch::ones_like(area_i));
    auto stable = stability >= stab_thresh;
    o.masks = torch::where(
        stable.unsqueeze(-1).unsqueeze(-1).expand_as(single),
        single,
        best_logits);
    o.iou = torch::where(stable.expand_as(single_iou), single_iou, best_iou);
  } else {
    o.masks = masks.index({Slice(), Slice(0, 1)});
    o.iou = iou_pred.index({Slice(), Slice(0, 1)});
  }
  o.sam_tokens = multimask_output && use_multimask_token_for_obj_ptr
      ? mask_tokens_out.index({Slice(), Slice(1, None)})
      : mask_tokens_out.index({Slice(), Slice(0, 1)});
  return o;
}

// -------------------------------------------------------- memory modules

MemoryAttentionLayerImpl::MemoryAttentionLayerImpl(const sam2_config& c) {
  const auto& l = c.memory_attention.layer;
  relu = l.activation == SAM2_ACT_RELU;
  pos_enc_at_attn = l.pos_enc_at_attn != 0;
  pos_enc_at_cross_attn_keys = l.pos_enc_at_cross_attn_keys != 0;
  pos_enc_at_cross_attn_queries = l.pos_enc_at_cross_attn_queries != 0;
  const auto &sa = l.self_attention, &ca = l.cross_attention;
  self_attn = register_module(
      "self_attn",
      Attention(
          sa.embedding_dim,
          sa.num_heads,
          sa.downsample_rate,
          sa.kv_in_dim,
          &sa));
  cross_attn_image = register_module(
      "cross_attn_image",
      Attention(
          ca.embedding_dim,
          ca.num_heads,
          ca.downsample_rate,
          ca.kv_in_dim,
          &ca));
  linear1 = register_module(
      "linear1", torch::nn::Linear(l.d_model, l.dim_feedforward));
  linear2 = register_module(
      "linear2", torch::nn::Linear(l.dim_feedforward, l.d_model));
  auto ln = torch::nn::LayerNormOptions({l.d_model});
  norm1 = register_module("norm1", torch::nn::LayerNorm(ln));
  norm2 = register_module("norm2", torch::nn::LayerNorm(ln));
  norm3 = register_module("norm3", torch::nn::LayerNorm(ln));
}

Tensor MemoryAttentionLayerImpl::forward(
    Tensor tgt,
    const Tensor& memory,
    const Tensor& pos,
    const Tensor& query_pos,
    int64_t num_k_exclude_rope) {
  // self-attention
  auto tgt2 = norm1(tgt);
  auto qk = pos_enc_at_attn ? tgt2 + query_pos : tgt2;
  tgt = tgt + self_attn(qk, qk, tgt2);
  // cross-attention
  tgt2 = norm2(tgt);
  tgt2 = cross_attn_image(
      pos_enc_at_cross_attn_queries ? tgt2 + query_pos : tgt2,
      pos_enc_at_cross_attn_keys ? memory + pos : memory,
      memory,
      num_k_exclude_rope);
  tgt = tgt + tgt2;
  // MLP
  tgt2 = linear1(norm3(tgt));
  tgt2 = linear2(relu ? torch::relu(tgt2) : torch::gelu(tgt2));
  return tgt + tgt2;
}

MemoryAttentionImpl::MemoryAttentionImpl(const sam2_config& c)
    : pos_enc_at_input(c.memory_attention.pos_enc_at_input != 0) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int i = 0; i < c.memory_attention.num_layers; i++) {
    MemoryAttentionLayer l(c);
    layers->push_back(l);
    layer_list.push_back(l);
  }
  norm = register_module(
      "norm",
      torch::nn::LayerNorm(
          torch::nn::LayerNormOptions({c.memory_attention.d_model})));
}

Tensor MemoryAttentionImpl::forward(
    const Tensor& curr,
    const Tensor& memory,
    const Tensor& curr_pos,
    const Tensor& memory_pos,
    int64_t num_obj_ptr_tokens) {
  auto output = curr;
  if (pos_enc_at_input && curr_pos.defined())
    output = output + 0.1 * curr_pos;
  // batch first
  output = output.transpose(0, 1);
  auto qpos = curr_pos.transpose(0, 1);
  auto mem = memory.transpose(0, 1);
  auto mpos = memory_pos.transpose(0, 1);
  for (auto& layer : layer_list)
    output = layer(output, mem, mpos, qpos, num_obj_ptr_tokens);
  return norm(output).transpose(0, 1);
}

CXBlockImpl::CXBlockImpl(const sam2_config& c) {
  const auto& l = c.memory_encoder.fuser.layer;
  int64_t dim = l.dim;
  if (l.layer_scale_init_value > 0)
    gamma = register_parameter(
        "gamma", l.layer_scale_init_value * torch::ones({dim}));
  dwconv = register_module(
      "dwconv",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(dim, dim, l.kernel_size)
                            .padding(l.padding)
                            .groups(l.use_dwconv ? dim : 1)));
  norm = register_module("norm", sam::LayerNorm2d(dim, 1e-6));
  pwconv1 = register_module("pwconv1", torch::nn::Linear(dim, 4 * dim));
  pwconv2 = register_module("pwconv2", torch::nn::Linear(4 * dim, dim));
}

Tensor CXBlockImpl::forward(const Tensor& input) {
  auto x = norm(dwconv(input)).permute({0, 2, 3, 1});
  x = pwconv2(torch::gelu(pwconv1(x)));
  if (gamma.defined())
    x = gamma * x;
  return input + x.permute({0, 3, 1, 2});
}

FuserImpl::FuserImpl(const sam2_config& c) {
  const auto& f = c.memory_encoder.fuser;
  if (f.input_projection)
    proj = register_module(
        "proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(f.dim, f.dim, 1)));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int i = 0; i < f.num_layers; i++) {
    CXBlock b(c);
    layers->push_back(b);
    layer_list.push_back(b);
  }
}

Tensor FuserImpl::forward(Tensor x) {
  if (proj)
    x = proj(x);
  for (auto& l : layer_list)
    x = l(x);
  return x;
}

MaskDownSamplerImpl::MaskDownSamplerImpl(const sam2_config& c) {
  const auto& m = c.memory_encoder.mask_downsampler;
  encoder = register_module("encoder", torch::nn::Sequential());
  int64_t in = 1, out = 1;
  for (int64_t t = 1; t < m.total_stride; t *= m.stride) {
    out = in * m.stride * m.stride;
    encoder->push_back(
        torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, m.kernel_size)
                              .stride(m.stride)
                              .padding(m.padding)));
    encoder->push_back(sam::LayerNorm2d(out));
    if (m.activation == SAM2_ACT_GELU)
      encoder->push_back(torch::nn::GELU());
    else
      encoder->push_back(torch::nn::ReLU());
    in = out;
  }
  encoder->push_back(
      torch::nn::Conv2d(torch::nn::Conv2dOptions(out, m.embed_dim, 1)));
}

MemoryEncoderImpl::MemoryEncoderImpl(const sam2_config& c)
    : pe(c.memory_encoder.position_encoding) {
  const auto& m = c.memory_encoder;
  mask_downsampler = register_module("mask_downsampler", MaskDownSampler(c));
  pix_feat_proj = register_module(
      "pix_feat_proj",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(m.in_dim, m.in_dim, 1)));
  fuser = register_module("fuser", Fuser(c));
  if (m.out_dim != m.in_dim)
    out_proj = register_module(
        "out_proj",
        torch::nn::Conv2d(torch::nn::Conv2dOptions(m.in_dim, m.out_dim, 1)));
}

std::pair<Tensor, Tensor> MemoryEncoderImpl::forward(
    const Tensor& pix_feat,
    Tensor masks,
    bool skip_mask_sigmoid) {
  if (!skip_mask_sigmoid)
    masks = torch::sigmoid(masks);
  masks = mask_downsampler(masks);
  auto x = pix_feat_proj(pix_feat.to(masks.device())) + masks;
  x = fuser(x);
  if (out_proj)
    x = out_proj(x);
  auto pos = sine_pe(pe, x.size(2), x.size(3), x.device())
                 .expand({x.size(0), -1, -1, -1});
  return {x, pos};
}

// ---------------------------------------------------------------- SAM2Base

Sam2Impl::Sam2Impl(const sam2_config& c) : cfg(c) {
  hidden_dim = c.memory_attention.d_model;
  mem_dim = c.memory_encoder.out_dim;
  emb_side = c.image_size / c.backbone_stride;
  num_feature_levels = c.use_high_res_features_in_sam ? 3 : 1;
  maskmem_tpos_enc = register_parameter(
      "maskmem_tpos_enc", torch::zeros({c.num_maskmem, 1, 1, mem_dim}));
  no_mem_embed =
      register_parameter("no_mem_embed", torch::zeros({1, 1, hidden_dim}));
  no_mem_pos_enc =
      register_parameter("no_mem_pos_enc", torch::zeros({1, 1, hidden_dim}));
  if (c.pred_obj_scores && c.use_obj_ptrs_in_encoder)
    no_obj_ptr =
        register_parameter("no_obj_ptr", torch::zeros({1, hidden_dim}));
  if (c.no_obj_embed_spatial)
    no_obj_embed_spatial =
        register_parameter("no_obj_embed_spatial", torch::zeros({1, mem_dim}));
  image_encoder = register_module("image_encoder", ImageEncoder(c));
  if (c.use_obj_ptrs_in_encoder)
    mask_downsample = register_module(
        "mask_downsample",
        torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 1, 4).stride(4)));
  memory_attention = register_module("memory_attention", MemoryAttention(c));
  memory_encoder = register_module("memory_encoder", MemoryEncoder(c));
  sam_prompt_encoder = register_module(
      "sam_prompt_encoder",
      PromptEncoder(hidden_dim, emb_side, c.image_size, c.mask_in_chans));
  sam_mask_decoder = register_module("sam_mask_decoder", MaskDecoder(c));
  if (c.use_obj_ptrs_in_encoder) {
    if (c.use_mlp_for_obj_ptr_proj)
      obj_ptr_proj_mlp = register_module(
          "obj_ptr_proj", MLP(hidden_dim, hidden_dim, hidden_dim, 3));
    else
      obj_ptr_proj_linear = register_module(
          "obj_ptr_proj", torch::nn::Linear(hidden_dim, hidden_dim));
  }
  if (c.proj_tpos_enc_in_obj_ptrs)
    obj_ptr_tpos_proj = register_module(
        "obj_ptr_tpos_proj", torch::nn::Linear(hidden_dim, mem_dim));
}

Tensor Sam2Impl::obj_ptr_proj_forward(const Tensor& x) {
  if (obj_ptr_proj_mlp)
    return obj_ptr_proj_mlp(x);
  if (obj_ptr_proj_linear)
    return obj_ptr_proj_linear(x);
  return x;
}

bool Sam2Impl::use_multimask(bool is_init_cond_frame, int64_t num_pts) const {
  return cfg.multimask_output_in_sam &&
      (is_init_cond_frame || cfg.multimask_output_for_tracking) &&
      cfg.multimask_min_pt_num <= num_pts &&
      num_pts <= cfg.multimask_max_pt_num;
}

Backbone Sam2Impl::forward_image(const Tensor& img, Trace* tr) {
  std::vector<Tensor> fpn, pos;
  image_encoder->forward(img, &fpn, &pos, tr);
  tput(tr, "vision_features", fpn.back());
  tput(tr, "vision_pos_enc", pos.back());
  if (cfg.use_high_res_features_in_sam) {
    // precompute the decoder's projections of levels 0 and 1 once
    fpn[0] = sam_mask_decoder->conv_s0(fpn[0]);
    fpn[1] = sam_mask_decoder->conv_s1(fpn[1]);
    tput(tr, "feat_s0", fpn[0]);
    tput(tr, "feat_s1", fpn[1]);
  }
  Backbone b;
  b.levels.assign(fpn.end() - num_feature_levels, fpn.end());
  b.vision_features = fpn.back();
  b.vision_pos_enc = pos.back();
  return b;
}

SamOut Sam2Impl::forward_sam_heads(
    const Tensor& features,
    const Tensor& points,
    const Tensor& labels,
    const Tensor& mask_inputs,
    const std::vector<Tensor>& high_res,
    bool multimask_output,
    Trace* tr) {
  int64_t B = features.size(0), L = 4 * emb_side;
  auto dev = features.device();
  Tensor coords = points, lab = labels;
  if (!coords.defined()) { // no points: one pad point (label -1)
    coords = torch::zeros({B, 1, 2}, torch::TensorOptions().device(dev));
    lab = -torch::ones(
        {B, 1}, torch::TensorOptions().dtype(torch::kInt).device(dev));
  }
  Tensor mask_prompt;
  if (mask_inputs.defined()) {
    mask_prompt = mask_inputs.size(-2) != L || mask_inputs.size(-1) != L
        ? resize(mask_inputs.to(torch::kFloat), L, L, true)
        : mask_inputs;
    tput(tr, "mask_prompt", mask_prompt);
  }
  auto [sparse, dense] = sam_prompt_encoder(coords, lab, mask_prompt);
  tput(tr, "sparse_embeddings", sparse);
  tput(tr, "dense_embeddings", dense);
  auto d = sam_mask_decoder(
      features,
      sam_prompt_encoder->get_dense_pe(),
      sparse,
      dense,
      multimask_output,
      false,
      high_res);
  tput(tr, "all_low_res_masks", d.all_masks);
  tput(tr, "all_iou_predictions", d.all_iou);
  tput(tr, "object_score_logits", d.object_score_logits);
  SamOut o;
  o.ious = d.iou;
  o.object_score_logits = d.object_score_logits;
  auto low = d.masks;
  Tensor is_obj;
  if (cfg.pred_obj_scores) {
    // the mask used for spatial memories is a hard choice between object
    // and no object
    is_obj = d.object_score_logits > 0;
    low = torch::where(
        is_obj.unsqueeze(-1).unsqueeze(-1),
        low,
        torch::full({}, kNoObjScore, low.options()));
  }
  o.low_res_multimasks = low.to(torch::kFloat);
  o.high_res_multimasks =
      resize(o.low_res_multimasks, cfg.image_size, cfg.image_size);
  auto token = d.sam_tokens.index({Slice(), 0});
  if (multimask_output) {
    auto best = torch::argmax(o.ious, -1);
    auto bi = torch::arange(B, best.options());
    o.low_res_masks = o.low_res_multimasks.index({bi, best}).unsqueeze(1);
    o.high_res_masks = o.high_res_multimasks.index({bi, best}).unsqueeze(1);
    if (d.sam_tokens.size(1) > 1)
      token = d.sam_tokens.index({bi, best});
  } else {
    o.low_res_masks = o.low_res_multimasks;
    o.high_res_masks = o.high_res_multimasks;
  }
  tput(tr, "low_res_masks", o.low_res_masks);
  // object pointer from the SAM output token (with occlusion handling)
  auto obj_ptr = obj_ptr_proj_forward(token);
  if (cfg.pred_obj_scores && no_obj_ptr.defined()) {
    auto lambda = cfg.soft_no_obj_ptr ? torch::sigmoid(d.object_score_logits)
                                      : is_obj.to(torch::kFloat);
    if (cfg.fixed_no_obj_ptr)
      obj_ptr = lambda * obj_ptr;
    obj_ptr = obj_ptr + (1 - lambda) * no_obj_ptr;
  }
  o.obj_ptr = obj_ptr;
  return o;
}

SamOut Sam2Impl::use_mask_as_output(
    const Tensor& features,
    const std::vector<Tensor>& high_res,
    const Tensor& mask_inputs,
    Trace* tr) {
  // -10 / +10 logits for background / object pixels
  const double out_scale = 20.0, out_bias = -10.0;
  auto mask_f = mask_inputs.to(torch::kFloat);
  SamOut o;
  o.high_res_masks = mask_f * out_scale + out_bias;
  o.low_res_masks = resize(
      o.high_res_masks,
      o.high_res_masks.size(-2) / 4,
      o.high_res_masks.size(-1) / 4,
      true);
  o.ious = torch::ones({mask_inputs.size(0), 1}, mask_f.options());
  if (!cfg.use_obj_ptrs_in_encoder) {
    o.obj_ptr =
        torch::zeros({mask_inputs.size(0), hidden_dim}, mask_f.options());
  } else {
    // a pointer from the SAM heads run on the downsampled mask
    o.obj_ptr = forward_sam_heads(
                    features,
                    Tensor(),
                    Tensor(),
                    mask_downsample(mask_f),
                    high_res,
                    false,
                    tr)
                    .obj_ptr;
    if (tr) {
      auto it = tr->t.find(tr->prefix + "object_score_logits");
      if (it != tr->t.end())
        tr->t[tr->prefix + "decoder_object_score_logits"] = it->second;
    }
  }
  auto lambda = torch::any(mask_inputs.flatten(1).to(torch::kFloat) > 0.0, 1)
                    .unsqueeze(-1)
                    .to(torch::kFloat);
  o.object_score_logits = out_scale * lambda + out_bias;
  if (cfg.pred_obj_scores && no_obj_ptr.defined()) {
    if (cfg.fixed_no_obj_ptr)
      o.obj_ptr = lambda * o.obj_ptr;
    o.obj_ptr = o.obj_ptr + (1 - lambda) * no_obj_ptr;
  }
  o.low_res_multimasks = o.low_res_masks;
  o.high_res_multimasks = o.high_res_masks;
  return o;
}

// 1-D sine position encoding of (fractional) positions: (N, dim).
static Tensor sine_1d(const Tensor& pos, int64_t dim) {
  int64_t pe_dim = dim / 2;
  auto dim_t = torch::arange(pe_dim, pos.options().dtype(torch::kFloat));
  dim_t = torch::pow(10000, 2 * torch::div(dim_t, 2, "floor") / pe_dim);
  auto pe = pos.unsqueeze(-1) / dim_t;
  return torch::cat({pe.sin(), pe.cos()}, -1);
}

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

Tensor Sam2Impl::prepare_memory_conditioned_features(
    int frame_idx,
    bool is_init_cond_frame,
    const Tensor& vision_features,
    const Tensor& vision_pos_enc,
    const OutputDict& od,
    int num_frames,
    bool track_in_reverse,
    Trace* tr) {
  int64_t B = vision_features.size(0), C = hidden_dim;
  int64_t H = vision_features.size(2), W = vision_features.size(3);
  auto dev = vision_features.device();
  if (cfg.num_maskmem == 0) // no memory: plain SAM on images
    return vision_features;
  Tensor pix;
  if (is_init_cond_frame && cfg.directly_add_no_mem_embed) {
    pix = vision_features + no_mem_embed.view({1, C, 1, 1});
    tput(tr, "pix_feat_with_mem", pix);
    return pix;
  }
  // (HW, B, C) sequence-first
  auto curr = vision_features.flatten(2).permute({2, 0, 1});
  auto curr_pos = vision_pos_enc.flatten(2).permute({2, 0, 1});
  std::vector<Tensor> mem, mem_pos;
  int64_t num_obj_ptr_tokens = 0;
  int sign = track_in_reverse ? -1 : 1;
  if (!is_init_cond_frame) {
    TORCH_CHECK(!od.cond.empty(), "no conditioning frame");
    // select_closest_cond_frames
    std::map<int, const FrameOut*> selected, unselected;
    int max_cond = cfg.max_cond_frames_in_attn;
    if (max_cond == -1 || int(od.cond.size()) <= max_cond) {
      for (const auto& [t, o] : od.cond)
        selected[t] = &o;
    } else {
      int before = -1, after = -1;
      for (const auto& [t, o] : od.cond) {
        if (t < frame_idx)
          before = t;
        if (t >= frame_idx && after < 0)
          after = t;
      }
      if (before >= 0)
        selected[before] = &od.cond.at(before);
      if (after >= 0)
        selected[after] = &od.cond.at(after);
      std::vector<int> rest;
      for (const auto& [t, o] : od.cond)
        if (!selected.count(t))
          rest.push_back(t);
      std::stable_sort(rest.begin(), rest.end(), [&](int a, int b) {
        return std::abs(a - frame_idx) < std::abs(b - frame_idx);
      });
      for (int t : rest)
        if (int(selected.size()) < max_cond)
          selected[t] = &od.cond.at(t);
      for (const auto& [t, o] : od.cond)
        if (!selected.count(t))
          unselected[t] = &o;
    }
    auto lookup = [&](int t) -> const FrameOut* {
      auto it = od.non_cond.find(t);
      if (it != od.non_cond.end())
        return &it->second;
      auto u = unselected.find(t);
      return u != unselected.end() ? u->second : nullptr;
    };
    // conditioning frames first (t_pos 0), then the last num_maskmem - 1
    // frames before this one (t_pos 1 = the earliest)
    std::vector<std::pair<int, const FrameOut*>> t_pos_and_prevs;
    for (const auto& [t, o] : selected)
      t_pos_and_prevs.emplace_back(0, o);
    int stride = cfg.memory_temporal_stride_for_eval;
    for (int t_pos = 1; t_pos < cfg.num_maskmem; t_pos++) {
      int t_rel = cfg.num_maskmem - t_pos; // frames before the current one
      int prev;
      if (t_rel == 1)
        prev = track_in_reverse ? frame_idx + 1 : frame_idx - 1;
      else if (!track_in_reverse)
        prev = int(floor_div(frame_idx - 2, stride) * stride) -
            (t_rel - 2) * stride;
      else
        prev = int(-floor_div(-(frame_idx + 2), stride) * stride) +
            (t_rel - 2) * stride;
      t_pos_and_prevs.emplace_back(t_pos, lookup(prev));
    }
    for (const auto& [t_pos, prev] : t_pos_and_prevs) {
      if (!prev)
        continue; // padding frames
      // bfloat16 storage, promoted back to float32 in the concatenation
      mem.push_back(prev->maskmem_features.to(dev, torch::kFloat)
                        .flatten(2)
                        .permute({2, 0, 1}));
      auto enc = prev->maskmem_pos_enc.to(dev).flatten(2).permute({2, 0, 1});
      mem_pos.push_back(enc + maskmem_tpos_enc[cfg.num_maskmem - t_pos - 1]);
    }
    // object pointers
    if (cfg.use_obj_ptrs_in_encoder) {
      int max_ptrs = std::min(num_frames, cfg.max_obj_ptrs_in_encoder);
      std::vector<std::pair<int, Tensor>> pos_and_ptrs;
      for (const auto& [t, o] : selected) {
        if (cfg.only_obj_ptrs_in_the_past_for_eval &&
            !(track_in_reverse ? t >= frame_idx : t <= frame_idx))
          continue;
        int d = cfg.use_signed_tpos_enc_to_obj_ptrs ? (frame_idx - t) * sign
                                                    : std::abs(frame_idx - t);
        pos_and_ptrs.emplace_back(d, o->obj_ptr);
      }
      for (int t_diff = 1; t_diff < max_ptrs; t_diff++) {
        int t = track_in_reverse ? frame_idx + t_diff : frame_idx - t_diff;
        if (t < 0 || t >= num_frames)
          break;
        if (const FrameOut* o = lookup(t))
          pos_and_ptrs.emplace_back(t_diff, o->obj_ptr);
      }
      if (!pos_and_ptrs.empty()) {
        std::vector<Tensor> ptrs;
        std::vector<float> pos_list;
        for (const auto& [p, t] : pos_and_ptrs) {
          ptrs.push_back(t.to(dev));
          pos_list.push_back(float(p));
        }
        auto obj_ptrs = torch::stack(ptrs, 0); // (N, B, C)
        int64_t N = obj_ptrs.size(0);
        Tensor obj_pos;
        if (cfg.add_tpos_enc_to_obj_ptrs) {
          float t_diff_max = float(max_ptrs - 1);
          int64_t tpos_dim = cfg.proj_tpos_enc_in_obj_ptrs ? C : mem_dim;
          auto p = torch::tensor(pos_list, torch::TensorOptions().device(dev)) /
              t_diff_max;
          obj_pos = sine_1d(p, tpos_dim);
          if (obj_ptr_tpos_proj)
            obj_pos = obj_ptr_tpos_proj(obj_pos);
          obj_pos = obj_pos.unsqueeze(1).expand({-1, B, mem_dim});
        } else {
          obj_pos = torch::zeros({N, B, mem_dim}, obj_ptrs.options());
        }
        if (mem_dim < C) {
          // split a pointer into C / mem_dim tokens
          obj_ptrs = obj_ptrs.reshape({-1, B, C / mem_dim, mem_dim})
                         .permute({0, 2, 1, 3})
                         .flatten(0, 1);
          obj_pos = obj_pos.repeat_interleave(C / mem_dim, 0);
        }
        mem.push_back(obj_ptrs);
        mem_pos.push_back(obj_pos);
        num_obj_ptr_tokens = obj_ptrs.size(0);
      }
    }
  } else {
    // initial conditioning frame without direct add: a dummy memory token
    mem.push_back(no_mem_embed.expand({1, B, mem_dim}));
    mem_pos.push_back(no_mem_pos_enc.expand({1, B, mem_dim}));
  }
  auto memory = torch::cat(mem, 0);
  auto memory_pos = torch::cat(mem_pos, 0);
  tput(tr, "memattn_memory", memory);
  tput(tr, "memattn_memory_pos", memory_pos);
  pix =
      memory_attention(curr, memory, curr_pos, memory_pos, num_obj_ptr_tokens);
  pix = pix.permute({1, 2, 0}).reshape({B, C, H, W});
  tput(tr, "pix_feat_with_mem", pix);
  return pix;
}

std::pair<Tensor, Tensor> Sam2Impl::encode_new_memory(
    const Tensor& vision_features,
    const Tensor& pred_masks_high_res,
    const Tensor& object_score_logits,
    bool is_mask_from_pts,
    Trace* tr) {
  // (one object: the non-overlap constraint is the identity)
  bool binarize = cfg.binarize_mask_from_pts_for_mem_enc && is_mask_from_pts;
  auto mask_for_mem = binarize ? (pred_masks_high_res > 0).to(torch::kFloat)
                               : torch::sigmoid(pred_masks_high_res);
  if (cfg.sigmoid_scale_for_mem_enc != 1.0)
    mask_for_mem = mask_for_mem * cfg.sigmoid_scale_for_mem_enc;
  if (cfg.sigmoid_bias_for_mem_enc != 0.0)
    mask_for_mem = mask_for_mem + cfg.sigmoid_bias_for_mem_enc;
  auto [feats, pos] = memory_encoder(vision_features, mask_for_mem, true);
  if (no_obj_embed_spatial.defined()) {
    // a no-object embedding where the frame is predicted empty
    auto is_obj = (object_score_logits > 0).to(torch::kFloat);
    feats = feats +
        (1 - is_obj.unsqueeze(-1).unsqueeze(-1)) *
            no_obj_embed_spatial.unsqueeze(-1).unsqueeze(-1).expand(
                feats.sizes());
  }
  tput(tr, "maskmem_features_f32", feats);
  tput(tr, "maskmem_pos_enc", pos);
  return {feats, pos};
}

} // namespace sam2
