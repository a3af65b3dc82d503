// sam.h - the Segment Anything modules in libtorch (C++ side of libsam).
//
// A port of facebookresearch/segment-anything's modeling/ package, operation
// for operation, so that outputs match the reference within float32
// rounding and official state_dict keys map one to one onto our parameter
// names. Module and member names are the reference's. Only model/*.cpp
// include this header (libtorch headers are expensive); C code uses
// sf_model.h.
#ifndef SAM_SAM_H
#define SAM_SAM_H

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "sam_int.h"

namespace sam {

using torch::Tensor;

// LayerNorm over the channels of (B, C, H, W) (the reference's LayerNorm2d,
// eps 1e-6), written with the same operations.
struct LayerNorm2dImpl : torch::nn::Module {
  explicit LayerNorm2dImpl(int64_t num_channels, double eps = 1e-6);
  Tensor forward(const Tensor& x);
  Tensor weight, bias;
  double eps;
};
TORCH_MODULE(LayerNorm2d);

// lin2(act(lin1(x))); act is GELU (exact erf) or ReLU.
struct MLPBlockImpl : torch::nn::Module {
  MLPBlockImpl(int64_t embedding_dim, int64_t mlp_dim, bool relu);
  Tensor forward(const Tensor& x);
  torch::nn::Linear lin1{nullptr}, lin2{nullptr};
  bool relu;
};
TORCH_MODULE(MLPBlock);

// ----------------------------------------------------------- image encoder

// Multi-head attention with decomposed relative position embeddings, on
// (B, H, W, C) tokens.
struct AttentionImpl : torch::nn::Module {
  AttentionImpl(
      int64_t dim,
      int64_t num_heads,
      bool qkv_bias,
      bool use_rel_pos,
      int64_t input_h,
      int64_t input_w);
  Tensor forward(const Tensor& x);
  torch::nn::Linear qkv{nullptr}, proj{nullptr};
  Tensor rel_pos_h, rel_pos_w; // (2 * size - 1, head_dim)
  int64_t num_heads;
  double scale;
  bool use_rel_pos;
};
TORCH_MODULE(Attention);

// Transformer block; window_size > 0: windowed attention with padding.
struct BlockImpl : torch::nn::Module {
  BlockImpl(
      int64_t dim,
      int64_t num_heads,
      double mlp_ratio,
      int64_t window,
      int64_t input_size);
  Tensor forward(const Tensor& x);
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  Attention attn{nullptr};
  MLPBlock mlp{nullptr};
  int64_t window_size;
};
TORCH_MODULE(Block);

struct PatchEmbedImpl : torch::nn::Module {
  PatchEmbedImpl(int64_t patch, int64_t in_chans, int64_t embed_dim);
  Tensor forward(const Tensor& x); // (B, C, H, W) -> (B, H', W', D)
  torch::nn::Conv2d proj{nullptr};
};
TORCH_MODULE(PatchEmbed);

struct ImageEncoderViTImpl : torch::nn::Module {
  explicit ImageEncoderViTImpl(const sam_config& c);
  // (B, 3, S, S) -> (B, out_chans, S / patch, S / patch). With `trace`,
  // appends the patch embedding, its sum with pos_embed and every block's
  // output (NHWC). With `high_res`, sets it to the stem's features at
  // strides patch/4 and patch/2 ({s0, s1}, NCHW) for the decoder
  // (high_res_features > 0), else to an empty list.
  Tensor forward(
      const Tensor& x,
      std::vector<Tensor>* trace = nullptr,
      std::vector<Tensor>* high_res = nullptr);
  PatchEmbed patch_embed{nullptr};
  // Stride-2 (conv 3x3, LayerNorm2d, GELU) stages; s0 after stage
  // n_to_s0 - 1, s1 after the last.
  torch::nn::ModuleList high_res_stem{nullptr};
  std::vector<torch::nn::Sequential> stem_list;
  bool conv_stem = false;
  Tensor pos_embed; // (1, S / patch, S / patch, D)
  torch::nn::ModuleList blocks{nullptr};
  std::vector<Block> block_list;
  torch::nn::Sequential neck{nullptr};
  int64_t img_size;
};
TORCH_MODULE(ImageEncoderViT);

// ---------------------------------------------------------- prompt encoder

struct PositionEmbeddingRandomImpl : torch::nn::Module {
  explicit PositionEmbeddingRandomImpl(int64_t num_pos_feats);
  Tensor pe_encoding(Tensor coords); // [0,1]^2 coords
  Tensor forward(int64_t h, int64_t w); // (C, h, w)
  Tensor forward_with_coords(
      const Tensor& coords_input,
      int64_t image_h,
      int64_t image_w); // (B, N, C)
  Tensor positional_encoding_gaussian_matrix; // (2, C / 2) buffer
};
TORCH_MODULE(PositionEmbeddingRandom);

struct PromptEncoderImpl : torch::nn::Module {
  explicit PromptEncoderImpl(const sam_config& c);
  Tensor get_dense_pe(); // (1, C, E, E)
  // Any of points (B, N, 2) with labels (B, N), boxes (B, 4), masks
  // (B, 1, 4E, 4E) may be undefined. Returns sparse (B, T, C) and dense
  // (B, C, E, E) embeddings.
  std::pair<Tensor, Tensor> forward(
      const Tensor& points,
      const Tensor& labels,
      const Tensor& boxes,
      const Tensor& masks);
  Tensor embed_points(Tensor points, Tensor labels, bool pad);
  Tensor embed_boxes(Tensor boxes);
  PositionEmbeddingRandom pe_layer{nullptr};
  torch::nn::ModuleList point_embeddings{nullptr};
  std::vector<torch::nn::Embedding> point_embedding_list;
  torch::nn::Embedding not_a_point_embed{nullptr}, no_mask_embed{nullptr};
  torch::nn::Sequential mask_downscaling{nullptr};
  int64_t embed_dim, image_embedding_size, input_image_size;
};
TORCH_MODULE(PromptEncoder);

// ------------------------------------------------------------ mask decoder

// Attention that projects to embedding_dim / downsample_rate internally.
struct TokenAttentionImpl : torch::nn::Module {
  TokenAttentionImpl(
      int64_t embedding_dim,
      int64_t num_heads,
      int64_t downsample_rate = 1);
  Tensor forward(const Tensor& q, const Tensor& k, const Tensor& v);
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr},
      out_proj{nullptr};
  int64_t num_heads;
};
TORCH_MODULE(TokenAttention);

struct TwoWayAttentionBlockImpl : torch::nn::Module {
  TwoWayAttentionBlockImpl(
      int64_t dim,
      int64_t num_heads,
      int64_t mlp_dim,
      int64_t downsample,
      bool skip_first_layer_pe);
  std::pair<Tensor, Tensor> forward(
      Tensor queries,
      Tensor keys,
      const Tensor& query_pe,
      const Tensor& key_pe);
  TokenAttention self_attn{nullptr}, cross_attn_token_to_image{nullptr},
      cross_attn_image_to_token{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr},
      norm4{nullptr};
  MLPBlock mlp{nullptr};
  bool skip_first_layer_pe;
};
TORCH_MODULE(TwoWayAttentionBlock);

struct TwoWayTransformerImpl : torch::nn::Module {
  explicit TwoWayTransformerImpl(const sam_config& c);
  // image (B, C, h, w), image_pe (B, C, h, w), points (B, N, C) ->
  // queries (B, N, C), keys (B, h * w, C)
  std::pair<Tensor, Tensor> forward(
      const Tensor& image_embedding,
      const Tensor& image_pe,
      const Tensor& point_embedding);
  torch::nn::ModuleList layers{nullptr};
  std::vector<TwoWayAttentionBlock> layer_list;
  TokenAttention final_attn_token_to_image{nullptr};
  torch::nn::LayerNorm norm_final_attn{nullptr};
};
TORCH_MODULE(TwoWayTransformer);

// The reference's MaskFormer-style MLP (ReLU between layers).
struct MLPImpl : torch::nn::Module {
  MLPImpl(
      int64_t input_dim,
      int64_t hidden_dim,
      int64_t output_dim,
      int64_t num_layers);
  Tensor forward(Tensor x);
  torch::nn::ModuleList layers{nullptr};
  std::vector<torch::nn::Linear> layer_list;
};
TORCH_MODULE(MLP);

struct MaskDecoderImpl : torch::nn::Module {
  explicit MaskDecoderImpl(const sam_config& c);
  // Returns low-res mask logits (B, M, 4E, 4E) and IoU predictions (B, M),
  // M = num_multimask_outputs with multimask_output (tokens 1..), else 1.
  // high_res: the image encoder's high_res() of the same image (required
  // when the model has high_res_features, else empty).
  std::pair<Tensor, Tensor> forward(
      const Tensor& image_embeddings,
      const Tensor& image_pe,
      const Tensor& sparse_prompt_embeddings,
      const Tensor& dense_prompt_embeddings,
      bool multimask_output,
      const std::vector<Tensor>& high_res = {});
  std::pair<Tensor, Tensor> predict_masks(
      const Tensor& image_embeddings,
      const Tensor& image_pe,
      const Tensor& sparse,
      const Tensor& dense,
      const std::vector<Tensor>& high_res);
  TwoWayTransformer transformer{nullptr};
  torch::nn::Embedding iou_token{nullptr}, mask_tokens{nullptr};
  torch::nn::Sequential output_upscaling{nullptr};
  torch::nn::ModuleList output_hypernetworks_mlps{nullptr};
  std::vector<MLP> hypernetwork_list;
  MLP iou_prediction_head{nullptr};
  torch::nn::Conv2d conv_s0{nullptr}, conv_s1{nullptr}; // high_res only
  int64_t num_mask_tokens;
};
TORCH_MODULE(MaskDecoder);

// ------------------------------------------------------------------- Sam

struct SamImpl : torch::nn::Module {
  explicit SamImpl(const sam_config& c);
  // Reference Sam.postprocess_masks: (B, M, 4E, 4E) logits -> upsampled to
  // S x S, cropped to the input size, upsampled to the original size.
  Tensor postprocess_masks(
      const Tensor& masks,
      int64_t input_h,
      int64_t input_w,
      int64_t orig_h,
      int64_t orig_w);
  ImageEncoderViT image_encoder{nullptr};
  PromptEncoder prompt_encoder{nullptr};
  MaskDecoder mask_decoder{nullptr};
  sam_config config;
};
TORCH_MODULE(Sam);

// ------------------------------------------------------------ state_dict

// The state_dict in the reference's order (per module: own parameters,
// own buffers, then children) and with its key names.
std::vector<std::pair<std::string, Tensor>> state_dict(
    const torch::nn::Module& m);
// Strict load of a torch.save checkpoint into `m` (see sam_model_load).
// Returns SF_OK or an SF_E* code with the message in err; never throws.
int load_state_dict(torch::nn::Module& m, const char* path, sf_err* err);
// Save `m` as a torch.save-compatible state_dict checkpoint.
int save_state_dict(const torch::nn::Module& m, const char* path, sf_err* err);

// The model behind a C handle (for the trainer). Borrowed.
Sam& net(sam_model* m);
torch::Device device(const sam_model* m);

} // namespace sam

#endif // SAM_SAM_H
