// sam2_net.h - the SAM 2 modules in libtorch (C++ side of libsam's SAM 2).
//
// A port of facebookresearch/sam2's modeling/ package: module and member
// names are the reference's, so that official state_dict keys map one to
// one onto our parameters (image_encoder.trunk.blocks.0.attn.qkv.weight,
// memory_attention.layers.0.cross_attn_image.k_proj.weight, ...), and each
// forward follows the reference's operations in the same order. Every
// size comes from sam2_config. Only model/ C++ files include this header;
// C code uses sam2.h.
#ifndef SAM2_NET_H
#define SAM2_NET_H

#include <torch/torch.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sam.h"
#include "sam2.h"

namespace sam2 {

using torch::Tensor;

// Named intermediate tensors for the parity tests (sam2.h's debugging
// hooks); names are the golden set's file names, `prefix` e.g. "frame3/".
struct Trace {
  std::map<std::string, Tensor> t;
  std::string prefix;
  void put(const std::string& name, const Tensor& x) {
    t[prefix + name] = x.detach().to(torch::kCPU).clone();
  }
};
inline void tput(Trace* tr, const std::string& name, const Tensor& x) {
  if (tr)
    tr->put(name, x);
}

// scaled_dot_product_attention without mask or dropout, as the golden set
// computed it: softmax(q k^T * (1 / sqrt(d))) v. Large problems are split
// along the queries (each row's softmax is independent).
Tensor sdpa(const Tensor& q, const Tensor& k, const Tensor& v);

// sam2_utils.MLP: Linear layers with an activation between them.
struct MLPImpl : torch::nn::Module {
  MLPImpl(
      int64_t input_dim,
      int64_t hidden_dim,
      int64_t output_dim,
      int64_t num_layers,
      bool gelu = false,
      bool sigmoid_output = false);
  Tensor forward(Tensor x);
  torch::nn::ModuleList layers{nullptr};
  std::vector<torch::nn::Linear> list;
  bool gelu, sigmoid_output;
};
TORCH_MODULE(MLP);

// ------------------------------------------------------------------ Hiera

struct MultiScaleAttentionImpl : torch::nn::Module {
  MultiScaleAttentionImpl(
      int64_t dim,
      int64_t dim_out,
      int64_t num_heads,
      int64_t q_stride);
  Tensor forward(const Tensor& x); // (B, H, W, C)
  torch::nn::Linear qkv{nullptr}, proj{nullptr};
  int64_t num_heads, q_stride; // q_stride 0: no q-pooling
};
TORCH_MODULE(MultiScaleAttention);

struct MultiScaleBlockImpl : torch::nn::Module {
  MultiScaleBlockImpl(
      int64_t dim,
      int64_t dim_out,
      int64_t num_heads,
      double mlp_ratio,
      int64_t q_stride,
      int64_t window_size);
  Tensor forward(const Tensor& x); // (B, H, W, C)
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  MultiScaleAttention attn{nullptr};
  MLP mlp{nullptr};
  torch::nn::Linear proj{nullptr}; // dim != dim_out only
  int64_t dim, dim_out, q_stride, window_size;
};
TORCH_MODULE(MultiScaleBlock);

struct PatchEmbedImpl : torch::nn::Module {
  explicit PatchEmbedImpl(int64_t embed_dim);
  Tensor forward(const Tensor& x); // (B, 3, S, S) -> (B, S/4, S/4, D)
  torch::nn::Conv2d proj{nullptr};
};
TORCH_MODULE(PatchEmbed);

struct HieraImpl : torch::nn::Module {
  explicit HieraImpl(const sam2_config& c);
  // The stage outputs (finest first, NCHW), or the last one only.
  std::vector<Tensor> forward(const Tensor& x, Trace* tr = nullptr);
  // pos_embed resized (bicubic) to h x w plus the tiled window embedding,
  // NHWC.
  Tensor get_pos_embed(int64_t h, int64_t w);
  PatchEmbed patch_embed{nullptr};
  Tensor pos_embed, pos_embed_window;
  torch::nn::ModuleList blocks{nullptr};
  std::vector<MultiScaleBlock> block_list;
  std::vector<int64_t> stage_ends;
  bool return_interm_layers;
};
TORCH_MODULE(Hiera);

// ------------------------------------------------------------- FPN neck

// PositionEmbeddingSine over an h x w grid: (1, num_pos_feats, h, w).
Tensor sine_pe(
    const sam2_pos_enc_config& c,
    int64_t h,
    int64_t w,
    torch::Device dev);

// nn.Sequential holding one "conv" (the reference's FpnNeck.convs[i]).
struct ConvHolderImpl : torch::nn::Module {
  ConvHolderImpl(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p);
  Tensor forward(const Tensor& x) {
    return conv(x);
  }
  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(ConvHolder);

struct FpnNeckImpl : torch::nn::Module {
  explicit FpnNeckImpl(const sam2_config& c);
  void forward(
      const std::vector<Tensor>& xs,
      std::vector<Tensor>* out,
      std::vector<Tensor>* pos,
      Trace* tr = nullptr);
  torch::nn::ModuleList convs{nullptr};
  std::vector<ConvHolder> conv_list;
  sam2_pos_enc_config pe;
  std::vector<int> top_down; // empty + all_top_down: every level
  bool all_top_down;
  int interp, fuse_avg;
};
TORCH_MODULE(FpnNeck);

struct ImageEncoderImpl : torch::nn::Module {
  explicit ImageEncoderImpl(const sam2_config& c);
  // backbone_fpn (the levels kept after the scalp, finest first) and
  // their sine position encodings.
  void forward(
      const Tensor& x,
      std::vector<Tensor>* fpn,
      std::vector<Tensor>* pos,
      Trace* tr = nullptr);
  Hiera trunk{nullptr};
  FpnNeck neck{nullptr};
  int scalp;
};
TORCH_MODULE(ImageEncoder);

// ------------------------------------------------------------- SAM heads

struct PromptEncoderImpl : torch::nn::Module {
  PromptEncoderImpl(
      int64_t embed_dim,
      int64_t embedding_side,
      int64_t image_size,
      int64_t mask_in_chans);
  Tensor get_dense_pe(); // (1, C, E, E)
  // points (B, N, 2) in image_size pixels with labels (B, N) (-1 pad, 0,
  // 1, 2/3 box corners), or undefined; masks (B, 1, 4E, 4E) or undefined.
  // A pad point is always appended to the points (there are no boxes).
  std::pair<Tensor, Tensor> forward(
      const Tensor& points,
      const Tensor& labels,
      const Tensor& masks);
  Tensor embed_points(Tensor points, Tensor labels, bool pad);
  sam::PositionEmbeddingRandom pe_layer{nullptr};
  torch::nn::ModuleList point_embeddings{nullptr};
  std::vector<torch::nn::Embedding> point_list;
  torch::nn::Embedding not_a_point_embed{nullptr}, no_mask_embed{nullptr};
  torch::nn::Sequential mask_downscaling{nullptr};
  int64_t embed_dim, embedding_side, image_size;
};
TORCH_MODULE(PromptEncoder);

// transformer.Attention, and RoPEAttention when `rope` is given.
struct AttentionImpl : torch::nn::Module {
  AttentionImpl(
      int64_t embedding_dim,
      int64_t num_heads,
      int64_t downsample_rate = 1,
      int64_t kv_in_dim = 0,
      const sam2_rope_attention_config* rope = nullptr);
  // (B, N, C) each. RoPE: the last num_k_exclude_rope keys get none.
  Tensor forward(
      const Tensor& q,
      const Tensor& k,
      const Tensor& v,
      int64_t num_k_exclude_rope = 0);
  Tensor freqs(int64_t n, torch::Device dev); // (n, head_dim / 2) complex
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr},
      out_proj{nullptr};
  int64_t num_heads, internal_dim;
  bool rope = false, rope_k_repeat = false;
  double rope_theta = 10000;
  int64_t feat_w = 0, feat_h = 0;
  Tensor freqs_cis;
};
TORCH_MODULE(Attention);

struct TwoWayAttentionBlockImpl : torch::nn::Module {
  TwoWayAttentionBlockImpl(
      int64_t dim,
      int64_t heads,
      int64_t mlp_dim,
      int64_t downsample,
      bool skip_first_layer_pe);
  std::pair<Tensor, Tensor> forward(
      Tensor queries,
      Tensor keys,
      const Tensor& query_pe,
      const Tensor& key_pe);
  Attention self_attn{nullptr}, cross_attn_token_to_image{nullptr},
      cross_attn_image_to_token{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr},
      norm4{nullptr};
  MLP mlp{nullptr};
  bool skip_first_layer_pe;
};
TORCH_MODULE(TwoWayAttentionBlock);

struct TwoWayTransformerImpl : torch::nn::Module {
  explicit TwoWayTransformerImpl(const sam2_config& c);
  std::pair<Tensor, Tensor> forward(
      const Tensor& image_embedding,
      const Tensor& image_pe,
      const Tensor& point_embedding);
  torch::nn::ModuleList layers{nullptr};
  std::vector<TwoWayAttentionBlock> layer_list;
  Attention final_attn_token_to_image{nullptr};
  torch::nn::LayerNorm norm_final_attn{nullptr};
};
TORCH_MODULE(TwoWayTransformer);

struct DecoderOut {
  Tensor masks, iou, sam_tokens, object_score_logits; // as selected
  Tensor all_masks, all_iou; // all mask tokens
};

struct MaskDecoderImpl : torch::nn::Module {
  explicit MaskDecoderImpl(const sam2_config& c);
  DecoderOut forward(
      const Tensor& image_embeddings,
      const Tensor& image_pe,
      const Tensor& sparse,
      const Tensor& dense,
      bool multimask_output,
      bool repeat_image,
      const std::vector<Tensor>& high_res);
  TwoWayTransformer transformer{nullptr};
  torch::nn::Embedding iou_token{nullptr}, mask_tokens{nullptr},
      obj_score_token{nullptr};
  torch::nn::Sequential output_upscaling{nullptr};
  torch::nn::Conv2d conv_s0{nullptr}, conv_s1{nullptr};
  torch::nn::ModuleList output_hypernetworks_mlps{nullptr};
  std::vector<MLP> hyper_list;
  MLP iou_prediction_head{nullptr};
  torch::nn::Linear obj_score_linear{nullptr}; // pred_obj_score_head
  MLP obj_score_mlp{nullptr}; // pred_obj_score_head (pred_obj_scores_mlp)
  int64_t num_mask_tokens;
  bool pred_obj_scores, use_multimask_token_for_obj_ptr, dynamic;
  double stab_delta, stab_thresh;
};
TORCH_MODULE(MaskDecoder);

// -------------------------------------------------------- memory modules

struct MemoryAttentionLayerImpl : torch::nn::Module {
  explicit MemoryAttentionLayerImpl(const sam2_config& c);
  Tensor forward(
      Tensor tgt,
      const Tensor& memory,
      const Tensor& pos,
      const Tensor& query_pos,
      int64_t num_k_exclude_rope);
  Attention self_attn{nullptr}, cross_attn_image{nullptr};
  torch::nn::Linear linear1{nullptr}, linear2{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  bool relu, pos_enc_at_attn, pos_enc_at_cross_attn_keys,
      pos_enc_at_cross_attn_queries;
};
TORCH_MODULE(MemoryAttentionLayer);

struct MemoryAttentionImpl : torch::nn::Module {
  explicit MemoryAttentionImpl(const sam2_config& c);
  // Sequence-first: curr (L, B, C), memory (M, B, Cm) -> (L, B, C).
  Tensor forward(
      const Tensor& curr,
      const Tensor& memory,
      const Tensor& curr_pos,
      const Tensor& memory_pos,
      int64_t num_obj_ptr_tokens);
  torch::nn::ModuleList layers{nullptr};
  std::vector<MemoryAttentionLayer> layer_list;
  torch::nn::LayerNorm norm{nullptr};
  bool pos_enc_at_input;
};
TORCH_MODULE(MemoryAttention);

struct CXBlockImpl : torch::nn::Module {
  explicit CXBlockImpl(const sam2_config& c);
  Tensor forward(const Tensor& x);
  Tensor gamma; // undefined when layer_scale_init_value <= 0
  torch::nn::Conv2d dwconv{nullptr};
  sam::LayerNorm2d norm{nullptr};
  torch::nn::Linear pwconv1{nullptr}, pwconv2{nullptr};
};
TORCH_MODULE(CXBlock);

struct FuserImpl : torch::nn::Module {
  explicit FuserImpl(const sam2_config& c);
  Tensor forward(Tensor x);
  torch::nn::Conv2d proj{nullptr}; // input_projection only
  torch::nn::ModuleList layers{nullptr};
  std::vector<CXBlock> layer_list;
};
TORCH_MODULE(Fuser);

struct MaskDownSamplerImpl : torch::nn::Module {
  explicit MaskDownSamplerImpl(const sam2_config& c);
  Tensor forward(const Tensor& x) {
    return encoder->forward(x);
  }
  torch::nn::Sequential encoder{nullptr};
};
TORCH_MODULE(MaskDownSampler);

struct MemoryEncoderImpl : torch::nn::Module {
  explicit MemoryEncoderImpl(const sam2_config& c);
  // {features (B, mem_dim, E, E), pos (1, mem_dim, E, E)}
  std::pair<Tensor, Tensor> forward(
      const Tensor& pix_feat,
      Tensor masks,
      bool skip_mask_sigmoid);
  MaskDownSampler mask_downsampler{nullptr};
  torch::nn::Conv2d pix_feat_proj{nullptr};
  Fuser fuser{nullptr};
  torch::nn::Conv2d out_proj{nullptr}; // out_dim != in_dim only
  sam2_pos_enc_config pe;
};
TORCH_MODULE(MemoryEncoder);

// ---------------------------------------------------------------- SAM2Base

// One frame's stored outputs (SAM2VideoPredictor's compact output).
struct FrameOut {
  Tensor maskmem_features; // (1, mem_dim, E, E) bfloat16
  Tensor maskmem_pos_enc; // (1, mem_dim, E, E)
  Tensor pred_masks; // (1, 1, 4E, 4E) low-res logits after hole filling
  Tensor obj_ptr; // (1, C)
  Tensor object_score_logits; // (1, 1)
};
struct OutputDict {
  std::map<int, FrameOut> cond, non_cond;
};

// _forward_sam_heads / _use_mask_as_output results.
struct SamOut {
  Tensor low_res_multimasks, high_res_multimasks, ious;
  Tensor low_res_masks, high_res_masks, obj_ptr, object_score_logits;
};

// One image's backbone output: the feature levels the heads use (the
// high-resolution ones already through conv_s0 / conv_s1) and the top
// level's position encoding.
struct Backbone {
  std::vector<Tensor> levels; // num_feature_levels maps, finest first
  Tensor vision_features, vision_pos_enc; // levels.back(), its PE
  std::vector<Tensor> high_res() const {
    return std::vector<Tensor>(levels.begin(), levels.end() - 1);
  }
};

struct Sam2Impl : torch::nn::Module {
  explicit Sam2Impl(const sam2_config& c);
  Backbone forward_image(const Tensor& img, Trace* tr = nullptr);
  // points in image_size pixels (B, P, 2) + labels (B, P), or undefined
  // (one pad point); mask_inputs (B, 1, h, w) or undefined.
  SamOut forward_sam_heads(
      const Tensor& features,
      const Tensor& points,
      const Tensor& labels,
      const Tensor& mask_inputs,
      const std::vector<Tensor>& high_res,
      bool multimask_output,
      Trace* tr = nullptr);
  SamOut use_mask_as_output(
      const Tensor& features,
      const std::vector<Tensor>& high_res,
      const Tensor& mask_inputs,
      Trace* tr = nullptr);
  Tensor prepare_memory_conditioned_features(
      int frame_idx,
      bool is_init_cond_frame,
      const Tensor& vision_features,
      const Tensor& vision_pos_enc,
      const OutputDict& od,
      int num_frames,
      bool track_in_reverse,
      Trace* tr = nullptr);
  // {maskmem_features (float32), maskmem_pos_enc}
  std::pair<Tensor, Tensor> encode_new_memory(
      const Tensor& vision_features,
      const Tensor& pred_masks_high_res,
      const Tensor& object_score_logits,
      bool is_mask_from_pts,
      Trace* tr = nullptr);
  bool use_multimask(bool is_init_cond_frame, int64_t num_pts) const;
  Tensor obj_ptr_proj_forward(const Tensor& x);

  sam2_config cfg;
  int64_t hidden_dim, mem_dim, emb_side, num_feature_levels;
  Tensor maskmem_tpos_enc, no_mem_embed, no_mem_pos_enc, no_obj_ptr,
      no_obj_embed_spatial;
  ImageEncoder image_encoder{nullptr};
  torch::nn::Conv2d mask_downsample{nullptr};
  MemoryAttention memory_attention{nullptr};
  MemoryEncoder memory_encoder{nullptr};
  PromptEncoder sam_prompt_encoder{nullptr};
  MaskDecoder sam_mask_decoder{nullptr};
  torch::nn::Linear obj_ptr_proj_linear{nullptr}; // obj_ptr_proj
  MLP obj_ptr_proj_mlp{nullptr}; // obj_ptr_proj (use_mlp_for_obj_ptr_proj)
  torch::nn::Linear obj_ptr_tpos_proj{nullptr};
};
TORCH_MODULE(Sam2);

// Bilinear resize without antialiasing (align_corners false), and with
// (the reference's antialiased downsampling).
Tensor resize(const Tensor& x, int64_t h, int64_t w, bool antialias = false);
// fill_holes_in_mask_scores: background (<= 0) 8-connected components of
// at most max_area pixels become 0.1. x (B, 1, h, w) float.
Tensor fill_holes(const Tensor& x, int64_t max_area);

// Run `f` (returning an SF_* code), mapping any exception to a code and
// message: no C++ exception leaves the C API.
template <class Fn>
int guarded(sf_err* err, const char* what, Fn&& f) {
  try {
    return f();
  } catch (const c10::Error& e) {
    const char* m = e.what_without_backtrace();
    int code = strstr(m, "allocate") ? SF_ENOMEM : SF_EINVAL;
    return sf_err_set(err, code, "%s: libtorch: %.400s", what, m);
  } catch (const std::bad_alloc&) {
    return sf_err_set(err, SF_ENOMEM, "%s: out of memory", what);
  } catch (const std::exception& e) {
    return sf_err_set(err, SF_EINVAL, "%s: %.400s", what, e.what());
  } catch (...) {
    return sf_err_set(err, SF_EINVAL, "%s: unknown C++ exception", what);
  }
}

} // namespace sam2

// The handle behind sam2.h's sam2_model (shared by sam2_api.cpp and
// sam2_video.cpp).
struct sam2_model {
  sam2::Sam2 net{nullptr};
  sam2_config cfg{};
  torch::Device device{torch::kCPU};
  // image predictor state (sam2_model_set_image)
  torch::Tensor image_embed; // (1, C, E, E), no_mem_embed added
  std::vector<torch::Tensor> high_res; // feat_s0, feat_s1
  torch::Tensor dense_pe;
  int orig_h = 0, orig_w = 0;
  bool has_image = false;
  std::unique_ptr<sam2::Trace> trace; // debugging hooks, when on
};

#endif // SAM2_NET_H
