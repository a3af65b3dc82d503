/*
 * sam_int.h - libsam internals shared between model/ files and the unit
 * tests: the checkpoint container (zip + pickle, plain C) and debugging
 * hooks into a model. Not installed, not stable.
 */
#ifndef SAM_INT_H
#define SAM_INT_H

#include "sf_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ checkpoint */

/* Limits checked before anything is allocated. */
#define SAM_CKPT_MAX_NDIM 8
#define SAM_CKPT_MAX_PICKLE_BYTES ((size_t)32 << 20)
#define SAM_CKPT_MAX_TENSORS 100000
#define SAM_CKPT_MAX_STRING 65536
#define SAM_CKPT_MAX_TOTAL_BYTES ((uint64_t)64 << 30)

enum sam_dtype {
  SAM_DT_F32 = 0,
  SAM_DT_F64,
  SAM_DT_F16,
  SAM_DT_BF16,
  SAM_DT_I64,
  SAM_DT_I32,
  SAM_DT_I16,
  SAM_DT_I8,
  SAM_DT_U8,
  SAM_DT_BOOL,
  SAM_DT_COUNT
};
int sam__dtype_size(int dtype);
const char* sam__dtype_name(int dtype); /* "float32", ... */

/* One storage of a checkpoint: the raw bytes of zip entry
 * <archive>/data/<key>. */
typedef struct sam_ckpt_storage {
  char* key;
  int dtype; /* enum sam_dtype */
  int64_t numel;
  void* data; /* numel * sam__dtype_size(dtype) bytes, or NULL */
} sam_ckpt_storage;

/* One state_dict entry: a strided view of a storage. */
typedef struct sam_ckpt_tensor {
  char* name;
  int storage; /* index into sam_ckpt.storages */
  int64_t offset; /* elements */
  int ndim;
  int64_t shape[SAM_CKPT_MAX_NDIM];
  int64_t stride[SAM_CKPT_MAX_NDIM];
} sam_ckpt_tensor;

typedef struct sam_ckpt {
  sam_ckpt_tensor* tensors; /* in state_dict order */
  int n_tensors, cap_tensors;
  sam_ckpt_storage* storages;
  int n_storages, cap_storages;
  int borrowed; /* 1: storage data is not owned (writer input) */
  void* zip; /* open archive (sam__ckpt_open), or NULL */
  char* path;
  int64_t* entry; /* zip index of each storage (sam__ckpt_open) */
} sam_ckpt;

/* Open a torch.save zip checkpoint holding a state_dict: the pickle is
 * parsed by sam__pickle_parse and every storage entry is located and its
 * size checked against the pickle, but no tensor data is read yet
 * (storages[i].data stays NULL until sam__ckpt_load_storage). The archive
 * stays open until sam__ckpt_free. SF_EFORMAT for anything that is not
 * such a file. Caller frees. */
int sam__ckpt_open(const char* path, sam_ckpt** out, sf_err* err);
/* Read storage i's bytes (CRC-checked) into storages[i].data. */
int sam__ckpt_load_storage(sam_ckpt* ck, int i, sf_err* err);
/* Free storage i's bytes again (not for borrowed data). */
void sam__ckpt_drop_storage(sam_ckpt* ck, int i);
/* sam__ckpt_open, then load every storage. */
int sam__ckpt_read(const char* path, sam_ckpt** out, sf_err* err);
/* Parse a state_dict pickle (protocol 2; the opcodes and globals that
 * torch.save uses for an OrderedDict of tensors, nothing else) into `ck`:
 * tensors and storage descriptors, without data. */
int sam__pickle_parse(const uint8_t* buf, size_t n, sam_ckpt* ck, sf_err* err);
/* Serialise `ck` as torch.save does: zip (stored, 64-byte aligned data)
 * with archive/data.pkl, archive/data/<key>, archive/version. Written to
 * path + ".tmp", then renamed. */
int sam__ckpt_write(const char* path, const sam_ckpt* ck, sf_err* err);
/* The pickle alone (for tests). Caller frees *out. */
int sam__pickle_write(
    const sam_ckpt* ck,
    uint8_t** out,
    size_t* n,
    sf_err* err);
void sam__ckpt_free(sam_ckpt* ck);
/* Append entries (the writer side and tests). Strings are copied.
 * Return the new index or a negative SF_E* code. */
int sam__ckpt_add_storage(
    sam_ckpt* ck,
    const char* key,
    int dtype,
    int64_t numel,
    void* data);
int sam__ckpt_add_tensor(
    sam_ckpt* ck,
    const char* name,
    int storage,
    int64_t offset,
    int ndim,
    const int64_t* shape,
    const int64_t* stride);
/* Index of the tensor called `name`, or -1. */
int sam__ckpt_find(const sam_ckpt* ck, const char* name);

/* --------------------------------------------------------------- config */

/* Size of the resized image inside the encoder input: S x S for MedSAM,
 * else sam_preprocess_shape clamped to >= 1 px per side (where the
 * reference would produce an empty image and fail). */
void sam__input_shape(
    const sam_config* c,
    int ny,
    int nx,
    int* in_ny,
    int* in_nx);

/* Built-in preset names, NULL-terminated. */
extern const char* const sam__preset_names[];

/* ------------------------------------------------------ debugging hooks */

/* Run the image encoder on `input` (3, S, S) and return every stage, NHWC
 * (E, E, D) float32 each, concatenated: [patch_embed, + pos_embed,
 * block 0, ..., block depth-1]. *n_stages = depth + 2. Caller frees. */
int sam__model_trace_encoder(
    sam_model* m,
    const float* input,
    float** out,
    int* n_stages,
    sf_err* err);
/* prompt_encoder.get_dense_pe(): (C, E, E). Caller frees. */
int sam__model_dense_pe(sam_model* m, float** out, sf_err* err);
/* The prompt encoder's outputs for `p` on the current image: sparse
 * (T, C) and dense (C, E, E). Caller frees both. */
int sam__model_embed_prompt(
    sam_model* m,
    const sam_prompt* p,
    float** sparse,
    int* n_tokens,
    float** dense,
    sf_err* err);

/* Prompt encoder + mask decoder only (no postprocessing), results
 * discarded: for benchmarks. */
int sam__model_decode_only(sam_model* m, const sam_prompt* p, sf_err* err);

#ifdef __cplusplus
}
#endif
#endif /* SAM_INT_H */
