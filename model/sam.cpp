// sam.cpp - the Segment Anything modules (see sam.h). Each forward follows
// the reference's operations in the same order; where we deviate for
// memory (in-place adds, attention computed a few heads at a time) the
// arithmetic per element is unchanged.
#include "sam.h"

#include <algorithm>
#include <cmath>

namespace F = torch::nn::functional;
using torch::indexing::None;
using torch::indexing::Slice;

namespace sam {

// Largest attention matrix materialised at once, in bytes: global blocks
// of vit_h would otherwise hold 16 x 4096 x 4096 floats (1 GiB) two or
// three times over.
static constexpr int64_t kAttnChunkBytes = int64_t(256) << 20;

// ------------------------------------------------------------------ common

LayerNorm2dImpl::LayerNorm2dImpl(int64_t num_channels, double eps_)
    : eps(eps_) {
  weight = register_parameter("weight", torch::ones({num_channels}));
  bias = register_parameter("bias", torch::zeros({num_channels}));
}

Tensor LayerNorm2dImpl::forward(const Tensor& x) {
  auto u = x.mean(1, true);
  auto xc = x - u;
  auto s = xc.pow(2).mean(1, true);
  auto y = xc / torch::sqrt(s + eps);
  return weight.view({-1, 1, 1}) * y + bias.view({-1, 1, 1});
}

MLPBlockImpl::MLPBlockImpl(int64_t embedding_dim, int64_t mlp_dim, bool relu_)
    : relu(relu_) {
  lin1 = register_module("lin1", torch::nn::Linear(embedding_dim, mlp_dim));
  lin2 = register_module("lin2", torch::nn::Linear(mlp_dim, embedding_dim));
}

Tensor MLPBlockImpl::forward(const Tensor& x) {
  auto h = lin1(x);
  return lin2(relu ? torch::relu(h) : torch::gelu(h));
}

// ----------------------------------------------------------- image encoder

AttentionImpl::AttentionImpl(
    int64_t dim,
    int64_t heads,
    bool qkv_bias,
    bool rel,
    int64_t input_h,
    int64_t input_w)
    : num_heads(heads), use_rel_pos(rel) {
  int64_t head_dim = dim / heads;
  scale = std::pow(double(head_dim), -0.5);
  qkv = register_module(
      "qkv",
      torch::nn::Linear(torch::nn::LinearOptions(dim, dim * 3).bias(qkv_bias)));
  proj = register_module("proj", torch::nn::Linear(dim, dim));
  if (use_rel_pos) {
    rel_pos_h = register_parameter(
        "rel_pos_h", torch::zeros({2 * input_h - 1, head_dim}));
    rel_pos_w = register_parameter(
        "rel_pos_w", torch::zeros({2 * input_w - 1, head_dim}));
  }
}

// Relative positional embeddings for every (query, key) pair along one
// axis: (q_size, k_size, C), interpolated when the table's length differs.
static Tensor get_rel_pos(
    int64_t q_size,
    int64_t k_size,
    const Tensor& rel_pos) {
  int64_t max_rel_dist = 2 * std::max(q_size, k_size) - 1;
  Tensor resized = rel_pos;
  if (rel_pos.size(0) != max_rel_dist) {
    resized = F::interpolate(
        rel_pos.reshape({1, rel_pos.size(0), -1}).permute({0, 2, 1}),
        F::InterpolateFuncOptions()
            .size(std::vector<int64_t>{max_rel_dist})
            .mode(torch::kLinear)
            .align_corners(false));
    resized = resized.reshape({-1, max_rel_dist}).permute({1, 0});
  }
  double kq = std::max(double(k_size) / double(q_size), 1.0);
  double qk = std::max(double(q_size) / double(k_size), 1.0);
  auto q_coords = torch::arange(q_size).unsqueeze(1) * kq;
  auto k_coords = torch::arange(k_size).unsqueeze(0) * qk;
  auto rel = (q_coords - k_coords) + double(k_size - 1) * qk;
  return resized.index({rel.to(torch::kLong).to(resized.device())});
}

// attn (B, qh*qw, kh*kw) += rel_h + rel_w, in place (same sums, same order
// as the reference's out-of-place form).
static void add_decomposed_rel_pos(
    Tensor& attn,
    const Tensor& q,
    const Tensor& rel_pos_h,
    const Tensor& rel_pos_w,
    int64_t qh,
    int64_t qw,
    int64_t kh,
    int64_t kw) {
  auto Rh = get_rel_pos(qh, kh, rel_pos_h);
  auto Rw = get_rel_pos(qw, kw, rel_pos_w);
  int64_t B = q.size(0), dim = q.size(2);
  auto r_q = q.reshape({B, qh, qw, dim});
  auto rel_h = torch::einsum("bhwc,hkc->bhwk", {r_q, Rh});
  auto rel_w = torch::einsum("bhwc,wkc->bhwk", {r_q, Rw});
  auto a = attn.view({B, qh, qw, kh, kw});
  a.add_(rel_h.unsqueeze(4));
  a.add_(rel_w.unsqueeze(3));
}

Tensor AttentionImpl::forward(const Tensor& x) {
  int64_t B = x.size(0), H = x.size(1), W = x.size(2);
  // qkv with shape (3, B, nHead, H * W, C)
  auto qkv_ =
      qkv(x).reshape({B, H * W, 3, num_heads, -1}).permute({2, 0, 3, 1, 4});
  // q, k, v with shape (B * nHead, H * W, C)
  auto parts = qkv_.reshape({3, B * num_heads, H * W, -1}).unbind(0);
  const Tensor &q = parts[0], &k = parts[1], &v = parts[2];
  int64_t n = B * num_heads, L = H * W;
  int64_t per =
      std::max<int64_t>(1, kAttnChunkBytes / std::max<int64_t>(1, L * L * 4));
  std::vector<Tensor> outs;
  for (int64_t s = 0; s < n; s += per) {
    int64_t m = std::min(per, n - s);
    auto qs = q.narrow(0, s, m);
    auto attn = torch::matmul(qs * scale, k.narrow(0, s, m).transpose(-2, -1));
    if (use_rel_pos)
      add_decomposed_rel_pos(attn, qs, rel_pos_h, rel_pos_w, H, W, H, W);
    attn = attn.softmax(-1);
    outs.push_back(torch::matmul(attn, v.narrow(0, s, m)));
  }
  auto o = outs.size() == 1 ? outs[0] : torch::cat(outs, 0);
  o = o.view({B, num_heads, H, W, -1})
          .permute({0, 2, 3, 1, 4})
          .reshape({B, H, W, -1});
  return proj(o);
}

BlockImpl::BlockImpl(
    int64_t dim,
    int64_t heads,
    double mlp_ratio,
    int64_t window,
    int64_t input_size)
    : window_size(window) {
  auto ln = torch::nn::LayerNormOptions({dim}).eps(1e-6);
  norm1 = register_module("norm1", torch::nn::LayerNorm(ln));
  int64_t side = window > 0 ? window : input_size;
  attn = register_module("attn", Attention(dim, heads, true, true, side, side));
  norm2 = register_module("norm2", torch::nn::LayerNorm(ln));
  mlp = register_module(
      "mlp", MLPBlock(dim, int64_t(double(dim) * mlp_ratio), false));
}

// (B, H, W, C) -> (B * nW, ws, ws, C), zero-padding H, W up to multiples.
static Tensor window_partition(Tensor x, int64_t ws, int64_t* Hp, int64_t* Wp) {
  int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  int64_t pad_h = (ws - H % ws) % ws, pad_w = (ws - W % ws) % ws;
  if (pad_h > 0 || pad_w > 0)
    x = F::pad(x, F::PadFuncOptions({0, 0, 0, pad_w, 0, pad_h}));
  *Hp = H + pad_h;
  *Wp = W + pad_w;
  x = x.view({B, *Hp / ws, ws, *Wp / ws, ws, C});
  return x.permute({0, 1, 3, 2, 4, 5}).contiguous().view({-1, ws, ws, C});
}

static Tensor window_unpartition(
    const Tensor& windows,
    int64_t ws,
    int64_t Hp,
    int64_t Wp,
    int64_t H,
    int64_t W) {
  int64_t B = windows.size(0) / (Hp * Wp / ws / ws);
  auto x = windows.view({B, Hp / ws, Wp / ws, ws, ws, -1});
  x = x.permute({0, 1, 3, 2, 4, 5}).contiguous().view({B, Hp, Wp, -1});
  if (Hp > H || Wp > W)
    x = x.index({Slice(), Slice(None, H), Slice(None, W), Slice()})
            .contiguous();
  return x;
}

Tensor BlockImpl::forward(const Tensor& x_in) {
  auto shortcut = x_in;
  auto x = norm1(x_in);
  int64_t H = x.size(1), W = x.size(2), Hp = 0, Wp = 0;
  if (window_size > 0)
    x = window_partition(x, window_size, &Hp, &Wp);
  x = attn(x);
  if (window_size > 0)
    x = window_unpartition(x, window_size, Hp, Wp, H, W);
  x = shortcut + x;
  x = x + mlp(norm2(x));
  return x;
}

PatchEmbedImpl::PatchEmbedImpl(
    int64_t patch,
    int64_t in_chans,
    int64_t embed_dim) {
  proj = register_module(
      "proj",
      torch::nn::Conv2d(
          torch::nn::Conv2dOptions(in_chans, embed_dim, patch).stride(patch)));
}

Tensor PatchEmbedImpl::forward(const Tensor& x) {
  return proj(x).permute({0, 2, 3, 1});
}

ImageEncoderViTImpl::ImageEncoderViTImpl(const sam_config& c)
    : img_size(c.image_size) {
  int64_t D = c.encoder_embed_dim, grid = c.image_size / c.patch_size;
  int64_t out = c.prompt_embed_dim;
  conv_stem = c.conv_stem != 0;
  patch_embed = register_module(
      "patch_embed",
      conv_stem ? PatchEmbed(2, 2 * c.high_res_features, D)
                : PatchEmbed(c.patch_size, 3, D));
  pos_embed = register_parameter("pos_embed", torch::zeros({1, grid, grid, D}));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int i = 0; i < c.encoder_depth; i++) {
    bool global = false;
    for (int j = 0; j < c.n_encoder_global_attn_indexes; j++)
      global |= c.encoder_global_attn_indexes[j] == i;
    Block b(
        D, c.encoder_num_heads, c.mlp_ratio, global ? 0 : c.window_size, grid);
    blocks->push_back(b);
    block_list.push_back(b);
  }
  neck = register_module(
      "neck",
      torch::nn::Sequential(
          torch::nn::Conv2d(torch::nn::Conv2dOptions(D, out, 1).bias(false)),
          LayerNorm2d(out),
          torch::nn::Conv2d(
              torch::nn::Conv2dOptions(out, out, 3).padding(1).bias(false)),
          LayerNorm2d(out)));
  if (c.high_res_features > 0) {
    // log2(patch / 4) stages to stride patch/4 (width w), one more to
    // patch/2 (width 2w).
    int64_t w = c.high_res_features, in = 3;
    for (int64_t s = 2; s <= c.patch_size / 2; s *= 2) {
      int64_t o = s == c.patch_size / 2 ? 2 * w : w;
      torch::nn::Sequential st(
          torch::nn::Conv2d(
              torch::nn::Conv2dOptions(in, o, 3).stride(2).padding(1)),
          LayerNorm2d(o),
          torch::nn::GELU());
      stem_list.push_back(st);
      in = o;
    }
    high_res_stem = register_module("high_res_stem", torch::nn::ModuleList());
    for (auto& st : stem_list)
      high_res_stem->push_back(st);
  }
}

Tensor ImageEncoderViTImpl::forward(
    const Tensor& x_in,
    std::vector<Tensor>* trace,
    std::vector<Tensor>* high_res) {
  std::vector<Tensor> hr;
  if (!stem_list.empty()) {
    auto h = x_in;
    for (size_t i = 0; i < stem_list.size(); i++) {
      h = stem_list[i]->forward(h);
      if (i + 2 >= stem_list.size())
        hr.push_back(h); // s0 (stride patch/4), then s1 (patch/2)
    }
  }
  auto x = patch_embed(conv_stem ? hr[1] : x_in);
  if (high_res)
    *high_res = std::move(hr);
  if (trace)
    trace->push_back(x);
  x = x + pos_embed;
  if (trace)
    trace->push_back(x);
  for (auto& blk : block_list) {
    x = blk(x);
    if (trace)
      trace->push_back(x);
  }
  return neck->forward(x.permute({0, 3, 1, 2}));
}

// ---------------------------------------------------------- prompt encoder

PositionEmbeddingRandomImpl::PositionEmbeddingRandomImpl(
    int64_t num_pos_feats) {
  positional_encoding_gaussian_matrix = register_buffer(
      "positional_encoding_gaussian_matrix", torch::randn({2, num_pos_feats}));
}

Tensor PositionEmbeddingRandomImpl::pe_encoding(Tensor coords) {
  coords = coords * 2 - 1;
  coords = torch::matmul(coords, positional_encoding_gaussian_matrix);
  coords = coords * (2 * M_PI);
  return torch::cat({torch::sin(coords), torch::cos(coords)}, -1);
}

Tensor PositionEmbeddingRandomImpl::forward(int64_t h, int64_t w) {
  auto grid = torch::ones(
      {h, w},
      torch::TensorOptions()
          .dtype(torch::kFloat)
          .device(positional_encoding_gaussian_matrix.device()));
  auto y_embed = grid.cumsum(0) - 0.5;
  auto x_embed = grid.cumsum(1) - 0.5;
  y_embed = y_embed / h;
  x_embed = x_embed / w;
  auto pe = pe_encoding(torch::stack({x_embed, y_embed}, -1));
  return pe.permute({2, 0, 1});
}

Tensor PositionEmbeddingRandomImpl::forward_with_coords(
    const Tensor& coords_input,
    int64_t image_h,
    int64_t image_w) {
  auto coords = coords_input.clone();
  coords.index_put_(
      {Slice(), Slice(), 0}, coords.index({Slice(), Slice(), 0}) / image_w);
  coords.index_put_(
      {Slice(), Slice(), 1}, coords.index({Slice(), Slice(), 1}) / image_h);
  return pe_encoding(coords.to(torch::kFloat));
}

PromptEncoderImpl::PromptEncoderImpl(const sam_config& c)
    : embed_dim(c.prompt_embed_dim),
      image_embedding_size(c.image_size / c.patch_size),
      input_image_size(c.image_size) {
  int64_t C = embed_dim, mic = c.mask_in_chans;
  pe_layer = register_module("pe_layer", PositionEmbeddingRandom(C / 2));
  point_embeddings =
      register_module("point_embeddings", torch::nn::ModuleList());
  for (int i = 0; i < 4; i++) { // pos/neg point + 2 box corners
    torch::nn::Embedding e(1, C);
    point_embeddings->push_back(e);
    point_embedding_list.push_back(e);
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
          LayerNorm2d(mic / 4),
          torch::nn::GELU(),
          conv(mic / 4, mic, 2),
          LayerNorm2d(mic),
          torch::nn::GELU(),
          conv(mic, C, 1)));
  no_mask_embed = register_module("no_mask_embed", torch::nn::Embedding(1, C));
}

Tensor PromptEncoderImpl::get_dense_pe() {
  return pe_layer->forward(image_embedding_size, image_embedding_size)
      .unsqueeze(0);
}

Tensor PromptEncoderImpl::embed_points(Tensor points, Tensor labels, bool pad) {
  points = points + 0.5; // shift to the centre of the pixel
  if (pad) {
    auto padding_point = torch::zeros({points.size(0), 1, 2}, points.options());
    auto padding_label = -torch::ones({labels.size(0), 1}, labels.options());
    points = torch::cat({points, padding_point}, 1);
    labels = torch::cat({labels, padding_label}, 1);
  }
  auto pe =
      pe_layer->forward_with_coords(points, input_image_size, input_image_size);
  auto pad_mask = labels == -1;
  pe.index_put_({pad_mask}, 0.0);
  pe.index_put_({pad_mask}, pe.index({pad_mask}) + not_a_point_embed->weight);
  auto neg = labels == 0, pos = labels == 1;
  pe.index_put_({neg}, pe.index({neg}) + point_embedding_list[0]->weight);
  pe.index_put_({pos}, pe.index({pos}) + point_embedding_list[1]->weight);
  return pe;
}

Tensor PromptEncoderImpl::embed_boxes(Tensor boxes) {
  boxes = boxes + 0.5; // shift to the centre of the pixel
  auto coords = boxes.reshape({-1, 2, 2});
  auto ce =
      pe_layer->forward_with_coords(coords, input_image_size, input_image_size);
  ce.select(1, 0).add_(point_embedding_list[2]->weight);
  ce.select(1, 1).add_(point_embedding_list[3]->weight);
  return ce;
}

std::pair<Tensor, Tensor> PromptEncoderImpl::forward(
    const Tensor& points,
    const Tensor& labels,
    const Tensor& boxes,
    const Tensor& masks) {
  int64_t bs = points.defined() ? points.size(0)
      : boxes.defined()         ? boxes.size(0)
      : masks.defined()         ? masks.size(0)
                                : 1;
  auto dev = point_embedding_list[0]->weight.device();
  auto sparse =
      torch::empty({bs, 0, embed_dim}, torch::TensorOptions().device(dev));
  if (points.defined())
    sparse =
        torch::cat({sparse, embed_points(points, labels, !boxes.defined())}, 1);
  if (boxes.defined())
    sparse = torch::cat({sparse, embed_boxes(boxes)}, 1);
  Tensor dense;
  if (masks.defined()) {
    dense = mask_downscaling->forward(masks);
  } else {
    dense = no_mask_embed->weight.reshape({1, -1, 1, 1})
                .expand({bs, -1, image_embedding_size, image_embedding_size});
  }
  return {sparse, dense};
}

// ------------------------------------------------------------ mask decoder

TokenAttentionImpl::TokenAttentionImpl(
    int64_t embedding_dim,
    int64_t heads,
    int64_t downsample_rate)
    : num_heads(heads) {
  int64_t internal = embedding_dim / downsample_rate;
  q_proj =
      register_module("q_proj", torch::nn::Linear(embedding_dim, internal));
  k_proj =
      register_module("k_proj", torch::nn::Linear(embedding_dim, internal));
  v_proj =
      register_module("v_proj", torch::nn::Linear(embedding_dim, internal));
  out_proj =
      register_module("out_proj", torch::nn::Linear(internal, embedding_dim));
}

static Tensor separate_heads(const Tensor& x, int64_t heads) {
  int64_t b = x.size(0), n = x.size(1), c = x.size(2);
  return x.reshape({b, n, heads, c / heads}).transpose(1, 2);
}

static Tensor recombine_heads(const Tensor& x) {
  int64_t b = x.size(0), h = x.size(1), n = x.size(2), c = x.size(3);
  return x.transpose(1, 2).reshape({b, n, h * c});
}

Tensor TokenAttentionImpl::forward(
    const Tensor& q_in,
    const Tensor& k_in,
    const Tensor& v_in) {
  auto q = separate_heads(q_proj(q_in), num_heads);
  auto k = separate_heads(k_proj(k_in), num_heads);
  auto v = separate_heads(v_proj(v_in), num_heads);
  int64_t c_per_head = q.size(3);
  auto attn = torch::matmul(q, k.permute({0, 1, 3, 2}));
  attn = attn / std::sqrt(double(c_per_head));
  attn = torch::softmax(attn, -1);
  auto out = recombine_heads(torch::matmul(attn, v));
  return out_proj(out);
}

TwoWayAttentionBlockImpl::TwoWayAttentionBlockImpl(
    int64_t dim,
    int64_t heads,
    int64_t mlp_dim,
    int64_t downsample,
    bool skip)
    : skip_first_layer_pe(skip) {
  auto ln = torch::nn::LayerNormOptions({dim}).eps(1e-5);
  self_attn = register_module("self_attn", TokenAttention(dim, heads));
  norm1 = register_module("norm1", torch::nn::LayerNorm(ln));
  cross_attn_token_to_image = register_module(
      "cross_attn_token_to_image", TokenAttention(dim, heads, downsample));
  norm2 = register_module("norm2", torch::nn::LayerNorm(ln));
  mlp = register_module("mlp", MLPBlock(dim, mlp_dim, true));
  norm3 = register_module("norm3", torch::nn::LayerNorm(ln));
  norm4 = register_module("norm4", torch::nn::LayerNorm(ln));
  cross_attn_image_to_token = register_module(
      "cross_attn_image_to_token", TokenAttention(dim, heads, downsample));
}

std::pair<Tensor, Tensor> TwoWayAttentionBlockImpl::forward(
    Tensor queries,
    Tensor keys,
    const Tensor& query_pe,
    const Tensor& key_pe) {
  // Self attention block
  if (skip_first_layer_pe) {
    queries = self_attn(queries, queries, queries);
  } else {
    auto q = queries + query_pe;
    auto attn_out = self_attn(q, q, queries);
    queries = queries + attn_out;
  }
  queries = norm1(queries);
  // Cross attention block, tokens attending to image embedding
  {
    auto q = queries + query_pe;
    auto k = keys + key_pe;
    auto attn_out = cross_attn_token_to_image(q, k, keys);
    queries = queries + attn_out;
    queries = norm2(queries);
  }
  // MLP block
  auto mlp_out = mlp(queries);
  queries = queries + mlp_out;
  queries = norm3(queries);
  // Cross attention block, image embedding attending to tokens
  {
    auto q = queries + query_pe;
    auto k = keys + key_pe;
    auto attn_out = cross_attn_image_to_token(k, q, queries);
    keys = keys + attn_out;
    keys = norm4(keys);
  }
  return {queries, keys};
}

TwoWayTransformerImpl::TwoWayTransformerImpl(const sam_config& c) {
  int64_t dim = c.prompt_embed_dim;
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
      TokenAttention(dim, c.decoder_num_heads, c.attention_downsample_rate));
  norm_final_attn = register_module(
      "norm_final_attn",
      torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-5)));
}

std::pair<Tensor, Tensor> TwoWayTransformerImpl::forward(
    const Tensor& image_embedding,
    const Tensor& image_pe_in,
    const Tensor& point_embedding) {
  // BxCxHxW -> BxHWxC == B x N_image_tokens x C
  auto image = image_embedding.flatten(2).permute({0, 2, 1});
  auto image_pe = image_pe_in.flatten(2).permute({0, 2, 1});
  auto queries = point_embedding;
  auto keys = image;
  for (auto& layer : layer_list)
    std::tie(queries, keys) = layer(queries, keys, point_embedding, image_pe);
  auto q = queries + point_embedding;
  auto k = keys + image_pe;
  auto attn_out = final_attn_token_to_image(q, k, keys);
  queries = queries + attn_out;
  queries = norm_final_attn(queries);
  return {queries, keys};
}

MLPImpl::MLPImpl(
    int64_t input_dim,
    int64_t hidden_dim,
    int64_t output_dim,
    int64_t num_layers) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < num_layers; i++) {
    int64_t n = i == 0 ? input_dim : hidden_dim;
    int64_t k = i == num_layers - 1 ? output_dim : hidden_dim;
    torch::nn::Linear l(n, k);
    layers->push_back(l);
    layer_list.push_back(l);
  }
}

Tensor MLPImpl::forward(Tensor x) {
  size_t n = layer_list.size();
  for (size_t i = 0; i < n; i++)
    x = i + 1 < n ? torch::relu(layer_list[i](x)) : layer_list[i](x);
  return x;
}

MaskDecoderImpl::MaskDecoderImpl(const sam_config& c)
    : num_mask_tokens(c.num_multimask_outputs + 1) {
  int64_t dim = c.prompt_embed_dim;
  transformer = register_module("transformer", TwoWayTransformer(c));
  iou_token = register_module("iou_token", torch::nn::Embedding(1, dim));
  mask_tokens = register_module(
      "mask_tokens", torch::nn::Embedding(num_mask_tokens, dim));
  auto up = [](int64_t i, int64_t o) {
    return torch::nn::ConvTranspose2d(
        torch::nn::ConvTranspose2dOptions(i, o, 2).stride(2));
  };
  output_upscaling = register_module(
      "output_upscaling",
      torch::nn::Sequential(
          up(dim, dim / 4),
          LayerNorm2d(dim / 4),
          torch::nn::GELU(),
          up(dim / 4, dim / 8),
          torch::nn::GELU()));
  output_hypernetworks_mlps =
      register_module("output_hypernetworks_mlps", torch::nn::ModuleList());
  for (int64_t i = 0; i < num_mask_tokens; i++) {
    MLP m(dim, dim, dim / 8, 3);
    output_hypernetworks_mlps->push_back(m);
    hypernetwork_list.push_back(m);
  }
  iou_prediction_head = register_module(
      "iou_prediction_head",
      MLP(dim, c.iou_head_hidden_dim, num_mask_tokens, c.iou_head_depth));
  if (c.high_res_features > 0) {
    // SAM 2's names and widths: 1x1 projections onto the upscaling's
    // channels at each resolution.
    int64_t w = c.high_res_features;
    conv_s0 = register_module(
        "conv_s0", torch::nn::Conv2d(torch::nn::Conv2dOptions(w, dim / 8, 1)));
    conv_s1 = register_module(
        "conv_s1",
        torch::nn::Conv2d(torch::nn::Conv2dOptions(2 * w, dim / 4, 1)));
  }
}

std::pair<Tensor, Tensor> MaskDecoderImpl::forward(
    const Tensor& image_embeddings,
    const Tensor& image_pe,
    const Tensor& sparse,
    const Tensor& dense,
    bool multimask_output,
    const std::vector<Tensor>& high_res) {
  auto [masks, iou_pred] =
      predict_masks(image_embeddings, image_pe, sparse, dense, high_res);
  // Select the correct mask or masks for output
  Slice sl = multimask_output ? Slice(1, None) : Slice(0, 1);
  masks = masks.index({Slice(), sl, Slice(), Slice()});
  iou_pred = iou_pred.index({Slice(), sl});
  return {masks, iou_pred};
}

std::pair<Tensor, Tensor> MaskDecoderImpl::predict_masks(
    const Tensor& image_embeddings,
    const Tensor& image_pe,
    const Tensor& sparse,
    const Tensor& dense,
    const std::vector<Tensor>& high_res) {
  TORCH_CHECK(
      conv_s0.is_empty() == high_res.empty(),
      "the decoder's high-res inputs do not match the model config");
  // Concatenate output tokens
  auto output_tokens = torch::cat({iou_token->weight, mask_tokens->weight}, 0);
  output_tokens = output_tokens.unsqueeze(0).expand({sparse.size(0), -1, -1});
  auto tokens = torch::cat({output_tokens, sparse}, 1);
  // Expand per-image data in batch direction to be per-mask
  auto src = torch::repeat_interleave(image_embeddings, tokens.size(0), 0);
  src = src + dense;
  auto pos_src = torch::repeat_interleave(image_pe, tokens.size(0), 0);
  int64_t b = src.size(0), c = src.size(1), h = src.size(2), w = src.size(3);
  // Run the transformer
  auto [hs, src_out] = transformer(src, pos_src, tokens);
  auto iou_token_out = hs.index({Slice(), 0, Slice()});
  auto mask_tokens_out =
      hs.index({Slice(), Slice(1, 1 + num_mask_tokens), Slice()});
  // Upscale mask embeddings and predict masks using the mask tokens
  src_out = src_out.transpose(1, 2).view({b, c, h, w});
  Tensor upscaled;
  if (high_res.empty()) {
    upscaled = output_upscaling->forward(src_out);
  } else {
    // SAM 2: act1(ln1(dc1(src) + s1)), then act2(dc2(.) + s0); the stem
    // features are per image, projected once and shared by its masks.
    auto s0 = torch::repeat_interleave(
        conv_s0(high_res[0]), b / high_res[0].size(0), 0);
    auto s1 = torch::repeat_interleave(
        conv_s1(high_res[1]), b / high_res[1].size(0), 0);
    auto& u = *output_upscaling;
    upscaled = u[1]->as<LayerNorm2d>()->forward(
        u[0]->as<torch::nn::ConvTranspose2d>()->forward(src_out) + s1);
    upscaled = u[2]->as<torch::nn::GELU>()->forward(upscaled);
    upscaled = u[3]->as<torch::nn::ConvTranspose2d>()->forward(upscaled) + s0;
    upscaled = u[4]->as<torch::nn::GELU>()->forward(upscaled);
  }
  std::vector<Tensor> hyper_in_list;
  for (int64_t i = 0; i < num_mask_tokens; i++)
    hyper_in_list.push_back(hypernetwork_list[size_t(i)](
        mask_tokens_out.index({Slice(), i, Slice()})));
  auto hyper_in = torch::stack(hyper_in_list, 1);
  int64_t ub = upscaled.size(0), uc = upscaled.size(1), uh = upscaled.size(2),
          uw = upscaled.size(3);
  auto masks = torch::matmul(hyper_in, upscaled.view({ub, uc, uh * uw}))
                   .view({ub, -1, uh, uw});
  // Generate mask quality predictions
  auto iou_pred = iou_prediction_head(iou_token_out);
  return {masks, iou_pred};
}

// ------------------------------------------------------------------- Sam

SamImpl::SamImpl(const sam_config& c) : config(c) {
  image_encoder = register_module("image_encoder", ImageEncoderViT(c));
  prompt_encoder = register_module("prompt_encoder", PromptEncoder(c));
  mask_decoder = register_module("mask_decoder", MaskDecoder(c));
}

Tensor SamImpl::postprocess_masks(
    const Tensor& masks,
    int64_t input_h,
    int64_t input_w,
    int64_t orig_h,
    int64_t orig_w) {
  auto opts = [](int64_t h, int64_t w) {
    return F::InterpolateFuncOptions()
        .size(std::vector<int64_t>{h, w})
        .mode(torch::kBilinear)
        .align_corners(false);
  };
  int64_t S = config.image_size;
  auto m = F::interpolate(masks, opts(S, S));
  m = m.index({"...", Slice(None, input_h), Slice(None, input_w)});
  return F::interpolate(m, opts(orig_h, orig_w));
}

} // namespace sam
