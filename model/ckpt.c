/*
 * ckpt.c - torch.save checkpoints holding a state_dict, without Python:
 * the zip container (read with libzip, written by hand: stored entries,
 * 64-byte aligned data as torch writes them) and a strict reader for the
 * small subset of the pickle protocol that a state_dict uses.
 *
 * The reader is an interpreter for a fixed list of opcodes and a fixed
 * list of globals (collections.OrderedDict, torch._utils rebuild helpers,
 * torch.*Storage). Anything else is refused with the opcode or global
 * named in the message: no code from a file is ever run. Every count and
 * size is checked against the bytes actually present before allocating.
 */
#include "sam_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>
#include <zlib.h>

/* ------------------------------------------------------------- dtypes */

static const struct {
  const char* storage; /* torch.<name> global */
  const char* name;
  int size;
} dtypes[SAM_DT_COUNT] = {
    [SAM_DT_F32] = {"FloatStorage", "float32", 4},
    [SAM_DT_F64] = {"DoubleStorage", "float64", 8},
    [SAM_DT_F16] = {"HalfStorage", "float16", 2},
    [SAM_DT_BF16] = {"BFloat16Storage", "bfloat16", 2},
    [SAM_DT_I64] = {"LongStorage", "int64", 8},
    [SAM_DT_I32] = {"IntStorage", "int32", 4},
    [SAM_DT_I16] = {"ShortStorage", "int16", 2},
    [SAM_DT_I8] = {"CharStorage", "int8", 1},
    [SAM_DT_U8] = {"ByteStorage", "uint8", 1},
    [SAM_DT_BOOL] = {"BoolStorage", "bool", 1},
};

int sam__dtype_size(int dtype) {
  return dtype >= 0 && dtype < SAM_DT_COUNT ? dtypes[dtype].size : 0;
}

const char* sam__dtype_name(int dtype) {
  return dtype >= 0 && dtype < SAM_DT_COUNT ? dtypes[dtype].name : "?";
}

/* ---------------------------------------------------------- container */

static char* xstrdup(const char* s) {
  size_t n = strlen(s) + 1;
  char* d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

void sam__ckpt_free(sam_ckpt* ck) {
  if (!ck)
    return;
  for (int i = 0; i < ck->n_tensors; i++)
    free(ck->tensors[i].name);
  for (int i = 0; i < ck->n_storages; i++) {
    free(ck->storages[i].key);
    if (!ck->borrowed)
      free(ck->storages[i].data);
  }
  free(ck->tensors);
  free(ck->storages);
  free(ck->entry);
  free(ck->path);
  if (ck->zip)
    zip_discard(ck->zip);
  free(ck);
}

int sam__ckpt_add_storage(
    sam_ckpt* ck,
    const char* key,
    int dtype,
    int64_t numel,
    void* data) {
  if (ck->n_storages >= SAM_CKPT_MAX_TENSORS)
    return SF_ERANGE;
  if (ck->n_storages == ck->cap_storages) {
    int cap = ck->cap_storages ? 2 * ck->cap_storages : 64;
    void* p = realloc(ck->storages, (size_t)cap * sizeof *ck->storages);
    if (!p)
      return SF_ENOMEM;
    ck->storages = p;
    ck->cap_storages = cap;
  }
  sam_ckpt_storage* s = &ck->storages[ck->n_storages];
  memset(s, 0, sizeof *s);
  if (!(s->key = xstrdup(key)))
    return SF_ENOMEM;
  s->dtype = dtype;
  s->numel = numel;
  s->data = data;
  return ck->n_storages++;
}

int sam__ckpt_add_tensor(
    sam_ckpt* ck,
    const char* name,
    int storage,
    int64_t offset,
    int ndim,
    const int64_t* shape,
    const int64_t* stride) {
  if (ndim < 0 || ndim > SAM_CKPT_MAX_NDIM)
    return SF_ERANGE;
  if (ck->n_tensors >= SAM_CKPT_MAX_TENSORS)
    return SF_ERANGE;
  if (ck->n_tensors == ck->cap_tensors) {
    int cap = ck->cap_tensors ? 2 * ck->cap_tensors : 64;
    void* p = realloc(ck->tensors, (size_t)cap * sizeof *ck->tensors);
    if (!p)
      return SF_ENOMEM;
    ck->tensors = p;
    ck->cap_tensors = cap;
  }
  sam_ckpt_tensor* t = &ck->tensors[ck->n_tensors];
  memset(t, 0, sizeof *t);
  if (!(t->name = xstrdup(name)))
    return SF_ENOMEM;
  t->storage = storage;
  t->offset = offset;
  t->ndim = ndim;
  for (int d = 0; d < ndim; d++) {
    t->shape[d] = shape[d];
    t->stride[d] = stride[d];
  }
  return ck->n_tensors++;
}

int sam__ckpt_find(const sam_ckpt* ck, const char* name) {
  for (int i = 0; i < ck->n_tensors; i++)
    if (!strcmp(ck->tensors[i].name, name))
      return i;
  return -1;
}

/* -------------------------------------------------------- pickle read */

enum {
  V_NONE,
  V_BOOL,
  V_INT,
  V_STR,
  V_TUPLE,
  V_DICT,
  V_GLOBAL,
  V_TENSOR,
  V_STORAGE
};
enum {
  G_ORDERED_DICT = 1,
  G_REBUILD_TENSOR_V2,
  G_REBUILD_PARAMETER,
  G_STORAGE
};
#define MARK_ID (-1)

typedef struct pv {
  int kind;
  int64_t i; /* int/bool; global id; tensor/storage index */
  int dtype; /* V_GLOBAL G_STORAGE: enum sam_dtype */
  char* s; /* V_STR, NUL-terminated (embedded NULs refused) */
  int* items; /* V_TUPLE items; V_DICT key,value pairs */
  int n_items, cap_items;
} pv;

typedef struct tensor_desc {
  int storage;
  int64_t offset;
  int ndim;
  int64_t shape[SAM_CKPT_MAX_NDIM], stride[SAM_CKPT_MAX_NDIM];
} tensor_desc;

typedef struct parser {
  const uint8_t* buf;
  size_t n, pos;
  pv* vals;
  int n_vals, cap_vals;
  int* stack;
  int n_stack, cap_stack;
  int* memo;
  size_t n_memo; /* allocated slots */
  size_t next_memo;
  tensor_desc* tensors;
  int n_tensors, cap_tensors;
  sam_ckpt* ck;
  sf_err* err;
} parser;

static int perr(parser* p, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int perr(parser* p, const char* fmt, ...) {
  char m[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m, sizeof m, fmt, ap);
  va_end(ap);
  return sf_err_set(p->err, SF_EFORMAT, "pickle byte %zu: %s", p->pos, m);
}
#define PFAIL perr

static int grow(void** a, int* cap, int need, size_t el) {
  if (need <= *cap)
    return SF_OK;
  int c = *cap ? *cap : 16;
  while (c < need)
    c *= 2;
  void* q = realloc(*a, (size_t)c * el);
  if (!q)
    return SF_ENOMEM;
  *a = q;
  *cap = c;
  return SF_OK;
}

static int new_val(parser* p, int kind) {
  /* Each opcode makes at most one value and takes at least one byte,
   * so the value count is bounded by the pickle's size. */
  if (grow((void**)&p->vals, &p->cap_vals, p->n_vals + 1, sizeof(pv)))
    return SF_ENOMEM;
  pv* v = &p->vals[p->n_vals];
  memset(v, 0, sizeof *v);
  v->kind = kind;
  return p->n_vals++;
}

static int push(parser* p, int id) {
  if (grow((void**)&p->stack, &p->cap_stack, p->n_stack + 1, sizeof(int)))
    return SF_ENOMEM;
  p->stack[p->n_stack++] = id;
  return SF_OK;
}

static int item_add(parser* p, int v, int id) {
  pv* x = &p->vals[v];
  if (grow((void**)&x->items, &x->cap_items, x->n_items + 1, sizeof(int)))
    return SF_ENOMEM;
  x->items[x->n_items++] = id;
  return SF_OK;
}

static int need(parser* p, size_t k) {
  if (p->n - p->pos < k)
    return PFAIL(p, "truncated pickle (need %ld more bytes)", (long)k);
  return SF_OK;
}

static uint64_t rd_le(const uint8_t* b, int k) {
  uint64_t v = 0;
  for (int i = k - 1; i >= 0; i--)
    v = (v << 8) | b[i];
  return v;
}

/* Top of stack, which must be a value (not a MARK). */
static int top(parser* p, int* id) {
  *id = -1;
  if (p->n_stack == 0 || p->stack[p->n_stack - 1] == MARK_ID)
    return PFAIL(p, "stack underflow");
  *id = p->stack[p->n_stack - 1];
  return SF_OK;
}

static int pop(parser* p, int* id) {
  int rc = top(p, id);
  if (rc == SF_OK)
    p->n_stack--;
  return rc;
}

/* Items above the last MARK: first index into p->stack and count. */
static int find_mark(parser* p, int* first, int* count) {
  *first = *count = 0;
  for (int i = p->n_stack - 1; i >= 0; i--)
    if (p->stack[i] == MARK_ID) {
      *first = i + 1;
      *count = p->n_stack - i - 1;
      return SF_OK;
    }
  return PFAIL(p, "no MARK on the stack");
}

static int make_tuple(parser* p, const int* ids, int k, int* out) {
  int t = new_val(p, V_TUPLE);
  if (t < 0)
    return t;
  for (int i = 0; i < k; i++) {
    int rc = item_add(p, t, ids[i]);
    if (rc)
      return rc;
  }
  *out = t;
  return SF_OK;
}

static int set_memo(parser* p, size_t idx) {
  int id = -1, rc = top(p, &id);
  if (rc)
    return rc;
  /* A legitimate memo index is below the number of opcodes, hence below
   * the pickle size: bounds the table by the input. */
  if (idx >= p->n)
    return PFAIL(p, "memo index %ld too large", (long)idx);
  if (idx >= p->n_memo) {
    size_t cap = p->n_memo ? p->n_memo : 256;
    while (cap <= idx)
      cap *= 2;
    if (cap > p->n)
      cap = p->n;
    int* m = realloc(p->memo, cap * sizeof *m);
    if (!m)
      return SF_ENOMEM;
    for (size_t i = p->n_memo; i < cap; i++)
      m[i] = -1;
    p->memo = m;
    p->n_memo = cap;
  }
  p->memo[idx] = id;
  return SF_OK;
}

static int get_memo(parser* p, size_t idx) {
  if (idx >= p->n_memo || p->memo[idx] < 0)
    return PFAIL(p, "memo index %ld was never stored", (long)idx);
  return push(p, p->memo[idx]);
}

static int push_string(parser* p, size_t len) {
  int rc = need(p, len);
  if (rc)
    return rc;
  if (len > SAM_CKPT_MAX_STRING)
    return PFAIL(p, "string of %ld bytes is over the limit", (long)len);
  if (memchr(p->buf + p->pos, 0, len))
    return PFAIL(p, "string with a NUL byte");
  int v = new_val(p, V_STR);
  if (v < 0)
    return v;
  char* s = malloc(len + 1);
  if (!s)
    return SF_ENOMEM;
  memcpy(s, p->buf + p->pos, len);
  s[len] = '\0';
  p->vals[v].s = s;
  p->pos += len;
  return push(p, v);
}

static int push_int(parser* p, int64_t x) {
  int v = new_val(p, V_INT);
  if (v < 0)
    return v;
  p->vals[v].i = x;
  return push(p, v);
}

/* The whitelist. Anything else is refused by name. */
static int resolve_global(parser* p, const char* mod, const char* name) {
  int v = new_val(p, V_GLOBAL);
  if (v < 0)
    return v;
  pv* g = &p->vals[v];
  if (!strcmp(mod, "collections") && !strcmp(name, "OrderedDict")) {
    g->i = G_ORDERED_DICT;
  } else if (
      !strcmp(mod, "torch._utils") && !strcmp(name, "_rebuild_tensor_v2")) {
    g->i = G_REBUILD_TENSOR_V2;
  } else if (
      !strcmp(mod, "torch._utils") && !strcmp(name, "_rebuild_parameter")) {
    g->i = G_REBUILD_PARAMETER;
  } else if (!strcmp(mod, "torch")) {
    for (int d = 0; d < SAM_DT_COUNT; d++)
      if (!strcmp(name, dtypes[d].storage)) {
        g->i = G_STORAGE;
        g->dtype = d;
      }
  }
  if (!g->i) {
    char m[200];
    snprintf(m, sizeof m, "%.80s.%.80s", mod, name);
    return PFAIL(p, "forbidden global '%s': not part of a state_dict", m);
  }
  return push(p, v);
}

static int read_line(parser* p, char* dst, size_t cap) {
  const uint8_t* nl = memchr(p->buf + p->pos, '\n', p->n - p->pos);
  if (!nl)
    return PFAIL(p, "truncated GLOBAL");
  size_t len = (size_t)(nl - (p->buf + p->pos));
  if (len >= cap)
    return PFAIL(p, "GLOBAL name too long");
  memcpy(dst, p->buf + p->pos, len);
  dst[len] = '\0';
  if (memchr(dst, 0, len))
    return PFAIL(p, "GLOBAL with NUL");
  p->pos += len + 1;
  return SF_OK;
}

static int is_kind(parser* p, int id, int kind) {
  return id >= 0 && p->vals[id].kind == kind;
}

static int int_tuple(
    parser* p,
    int id,
    int64_t* dst,
    int* n,
    const char* what) {
  if (!is_kind(p, id, V_TUPLE))
    return PFAIL(p, "%s is not a tuple", what);
  pv* t = &p->vals[id];
  if (t->n_items > SAM_CKPT_MAX_NDIM)
    return PFAIL(p, "%s has too many dimensions (%ld)", what, (long)t->n_items);
  for (int i = 0; i < t->n_items; i++) {
    if (!is_kind(p, t->items[i], V_INT))
      return PFAIL(p, "%s holds a non-integer", what);
    int64_t x = p->vals[t->items[i]].i;
    if (x < 0 || x > ((int64_t)1 << 40))
      return PFAIL(p, "%s holds an out-of-range value %ld", what, (long)x);
    dst[i] = x;
  }
  *n = t->n_items;
  return SF_OK;
}

static int empty_dict_or_none(parser* p, int id) {
  return is_kind(p, id, V_NONE) ||
      (is_kind(p, id, V_DICT) && p->vals[id].n_items == 0);
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
 * backward_hooks[, metadata]) -> tensor descriptor */
static int rebuild_tensor(parser* p, const pv* args, int* out) {
  if (args->n_items != 6 && args->n_items != 7)
    return PFAIL(
        p, "_rebuild_tensor_v2 with %ld arguments", (long)args->n_items);
  const int* a = args->items;
  if (!is_kind(p, a[0], V_STORAGE))
    return PFAIL(
        p,
        "_rebuild_tensor_v2: first argument is not a "
        "storage");
  if (!is_kind(p, a[1], V_INT) || p->vals[a[1]].i < 0)
    return PFAIL(p, "_rebuild_tensor_v2: bad offset");
  if (!is_kind(p, a[4], V_BOOL))
    return PFAIL(p, "_rebuild_tensor_v2: requires_grad not a bool");
  if (!empty_dict_or_none(p, a[5]) ||
      (args->n_items == 7 && !empty_dict_or_none(p, a[6])))
    return PFAIL(
        p,
        "_rebuild_tensor_v2: backward hooks or metadata "
        "are not supported");
  tensor_desc t;
  memset(&t, 0, sizeof t);
  int nd_size, nd_stride, rc;
  if ((rc = int_tuple(p, a[2], t.shape, &nd_size, "tensor size")) ||
      (rc = int_tuple(p, a[3], t.stride, &nd_stride, "tensor stride")))
    return rc;
  if (nd_size != nd_stride)
    return PFAIL(p, "tensor size and stride differ in length");
  t.ndim = nd_size;
  t.storage = (int)p->vals[a[0]].i;
  t.offset = p->vals[a[1]].i;
  /* The view must lie inside its storage. Values are < 2^40, so the
   * products below cannot overflow int64 for ndim <= 8... check anyway. */
  int64_t numel = 1, last = t.offset;
  for (int d = 0; d < t.ndim; d++) {
    if (__builtin_mul_overflow(numel, t.shape[d], &numel))
      return PFAIL(p, "tensor too large");
    if (t.shape[d] > 0) {
      int64_t ext;
      if (__builtin_mul_overflow(t.shape[d] - 1, t.stride[d], &ext) ||
          __builtin_add_overflow(last, ext, &last))
        return PFAIL(p, "tensor extent overflows");
    }
  }
  int64_t sn = p->ck->storages[t.storage].numel;
  if (numel > 0 && last >= sn)
    return PFAIL(
        p, "tensor view ends past its storage (%ld elements)", (long)sn);
  if (grow(
          (void**)&p->tensors,
          &p->cap_tensors,
          p->n_tensors + 1,
          sizeof(tensor_desc)))
    return SF_ENOMEM;
  if (p->n_tensors >= SAM_CKPT_MAX_TENSORS)
    return PFAIL(p, "more than %ld tensors", (long)SAM_CKPT_MAX_TENSORS);
  p->tensors[p->n_tensors] = t;
  int v = new_val(p, V_TENSOR);
  if (v < 0)
    return v;
  p->vals[v].i = p->n_tensors++;
  *out = v;
  return SF_OK;
}

static int op_reduce(parser* p) {
  int args_id, fn_id, rc;
  if ((rc = pop(p, &args_id)) || (rc = pop(p, &fn_id)))
    return rc;
  if (!is_kind(p, fn_id, V_GLOBAL) || !is_kind(p, args_id, V_TUPLE))
    return PFAIL(p, "REDUCE on a non-callable");
  const pv* args = &p->vals[args_id];
  int out = -1;
  switch (p->vals[fn_id].i) {
    case G_ORDERED_DICT:
      if (args->n_items != 0)
        return PFAIL(p, "OrderedDict() with arguments");
      if ((out = new_val(p, V_DICT)) < 0)
        return out;
      break;
    case G_REBUILD_TENSOR_V2:
      if ((rc = rebuild_tensor(p, args, &out)))
        return rc;
      break;
    case G_REBUILD_PARAMETER:
      /* _rebuild_parameter(data, requires_grad, backward_hooks) */
      if (args->n_items != 3 || !is_kind(p, args->items[0], V_TENSOR) ||
          !is_kind(p, args->items[1], V_BOOL) ||
          !empty_dict_or_none(p, args->items[2]))
        return PFAIL(p, "bad _rebuild_parameter call");
      out = args->items[0];
      break;
    default:
      return PFAIL(p, "REDUCE on a storage type");
  }
  return push(p, out);
}

/* ('storage', torch.XStorage, key, location, numel) -> storage index */
static int op_persid(parser* p) {
  int id, rc;
  if ((rc = pop(p, &id)))
    return rc;
  const pv* t = &p->vals[id];
  if (t->kind != V_TUPLE || t->n_items != 5 ||
      !is_kind(p, t->items[0], V_STR) ||
      strcmp(p->vals[t->items[0]].s, "storage") ||
      !is_kind(p, t->items[1], V_GLOBAL) ||
      p->vals[t->items[1]].i != G_STORAGE || !is_kind(p, t->items[2], V_STR) ||
      !is_kind(p, t->items[3], V_STR) || !is_kind(p, t->items[4], V_INT))
    return PFAIL(
        p,
        "persistent id is not ('storage', type, key, "
        "location, numel)");
  const char* key = p->vals[t->items[2]].s;
  int dtype = p->vals[t->items[1]].dtype;
  int64_t numel = p->vals[t->items[4]].i;
  if (!*key ||
      strspn(
          key,
          "0123456789abcdefghijklmnopqrstuvwxyz"
          "ABCDEFGHIJKLMNOPQRSTUVWXYZ_-.") != strlen(key) ||
      strstr(key, ".."))
    return PFAIL(p, "bad storage key '%.64s'", key);
  if (numel < 0 || numel > (int64_t)(SAM_CKPT_MAX_TOTAL_BYTES / 8))
    return PFAIL(p, "storage size %ld out of range", (long)numel);
  int s = -1;
  for (int i = 0; i < p->ck->n_storages; i++)
    if (!strcmp(p->ck->storages[i].key, key))
      s = i;
  if (s >= 0) {
    if (p->ck->storages[s].dtype != dtype || p->ck->storages[s].numel != numel)
      return PFAIL(p, "storage '%.64s' declared twice differently", key);
  } else if ((s = sam__ckpt_add_storage(p->ck, key, dtype, numel, NULL)) < 0) {
    return s == SF_ERANGE ? PFAIL(p, "too many storages") : s;
  }
  int v = new_val(p, V_STORAGE);
  if (v < 0)
    return v;
  p->vals[v].i = s;
  return push(p, v);
}

static int dict_set(parser* p, int dict, int key, int val) {
  if (!is_kind(p, dict, V_DICT))
    return PFAIL(p, "SETITEM on a non-dict");
  int rc = item_add(p, dict, key);
  return rc ? rc : item_add(p, dict, val);
}

/* BUILD on the state_dict: torch stores `_metadata` (per-module version
 * numbers) as the OrderedDict's attribute. Accepted and ignored. */
static int op_build(parser* p) {
  int state, obj, rc;
  if ((rc = pop(p, &state)) || (rc = top(p, &obj)))
    return rc;
  if (!is_kind(p, obj, V_DICT) || !is_kind(p, state, V_DICT))
    return PFAIL(
        p,
        "BUILD is only accepted for a state_dict's "
        "_metadata");
  const pv* s = &p->vals[state];
  for (int i = 0; i < s->n_items; i += 2)
    if (!is_kind(p, s->items[i], V_STR) ||
        strcmp(p->vals[s->items[i]].s, "_metadata"))
      return PFAIL(
          p,
          "BUILD with an attribute other than "
          "_metadata");
  return SF_OK;
}

static int finish(parser* p) {
  int id;
  if (p->n_stack != 1 || top(p, &id) || !is_kind(p, id, V_DICT))
    return PFAIL(
        p,
        "the pickle does not hold a single dict (not a "
        "state_dict)");
  const pv* d = &p->vals[id];
  /* The official SAM 2 checkpoints wrap the state_dict: {"model": sd}. */
  if (d->n_items == 2 && is_kind(p, d->items[0], V_STR) &&
      !strcmp(p->vals[d->items[0]].s, "model") &&
      is_kind(p, d->items[1], V_DICT))
    d = &p->vals[d->items[1]];
  for (int i = 0; i < d->n_items; i += 2) {
    int k = d->items[i], v = d->items[i + 1];
    if (!is_kind(p, k, V_STR))
      return PFAIL(p, "state_dict key is not a string");
    const char* name = p->vals[k].s;
    if (!is_kind(p, v, V_TENSOR))
      return PFAIL(
          p,
          "state_dict entry '%.100s' is not a tensor (a "
          "wrapped checkpoint other than {'model': "
          "state_dict} is not a state_dict)",
          name);
    if (sam__ckpt_find(p->ck, name) >= 0)
      return PFAIL(p, "duplicate key '%.100s'", name);
    const tensor_desc* t = &p->tensors[p->vals[v].i];
    int rc = sam__ckpt_add_tensor(
        p->ck, name, t->storage, t->offset, t->ndim, t->shape, t->stride);
    if (rc < 0)
      return rc;
  }
  return SF_OK;
}

/* Long by design (~165 lines): the unpickler's dispatch, one switch over
 * the opcodes we accept, as CPython's load() is. */
static int step(parser* p, int* done) {
  uint8_t op = p->buf[p->pos++];
  int rc = SF_OK, a = -1, b = -1, c = -1;
  switch (op) {
    case 0x80: /* PROTO */
      if ((rc = need(p, 1)))
        return rc;
      if (p->buf[p->pos] < 2 || p->buf[p->pos] > 5)
        return PFAIL(
            p, "unsupported pickle protocol %ld", (long)p->buf[p->pos]);
      p->pos++;
      return SF_OK;
    case 0x95: /* FRAME: a length hint */
      if ((rc = need(p, 8)))
        return rc;
      p->pos += 8;
      return SF_OK;
    case 'c': { /* GLOBAL */
      char mod[128], name[128];
      if ((rc = read_line(p, mod, sizeof mod)) ||
          (rc = read_line(p, name, sizeof name)))
        return rc;
      return resolve_global(p, mod, name);
    }
    case 0x93: /* STACK_GLOBAL */
      if ((rc = pop(p, &b)) || (rc = pop(p, &a)))
        return rc;
      if (!is_kind(p, a, V_STR) || !is_kind(p, b, V_STR))
        return PFAIL(p, "STACK_GLOBAL on non-strings");
      return resolve_global(p, p->vals[a].s, p->vals[b].s);
    case '}': /* EMPTY_DICT */
      if ((a = new_val(p, V_DICT)) < 0)
        return a;
      return push(p, a);
    case ')': /* EMPTY_TUPLE */
      return (rc = make_tuple(p, NULL, 0, &a)) ? rc : push(p, a);
    case '(': /* MARK */
      return push(p, MARK_ID);
    case 'X': /* BINUNICODE */
      if ((rc = need(p, 4)))
        return rc;
      p->pos += 4;
      return push_string(p, (size_t)rd_le(p->buf + p->pos - 4, 4));
    case 0x8c: /* SHORT_BINUNICODE */
      if ((rc = need(p, 1)))
        return rc;
      p->pos++;
      return push_string(p, p->buf[p->pos - 1]);
    case 'q': /* BINPUT */
      if ((rc = need(p, 1)))
        return rc;
      p->pos++;
      return set_memo(p, p->buf[p->pos - 1]);
    case 'r': /* LONG_BINPUT */
      if ((rc = need(p, 4)))
        return rc;
      p->pos += 4;
      return set_memo(p, (size_t)rd_le(p->buf + p->pos - 4, 4));
    case 0x94: /* MEMOIZE */
      return set_memo(p, p->next_memo++);
    case 'h': /* BINGET */
      if ((rc = need(p, 1)))
        return rc;
      p->pos++;
      return get_memo(p, p->buf[p->pos - 1]);
    case 'j': /* LONG_BINGET */
      if ((rc = need(p, 4)))
        return rc;
      p->pos += 4;
      return get_memo(p, (size_t)rd_le(p->buf + p->pos - 4, 4));
    case 't': /* TUPLE */
      if ((rc = find_mark(p, &a, &b)))
        return rc;
      if ((rc = make_tuple(p, p->stack + a, b, &c)))
        return rc;
      p->n_stack = a - 1;
      return push(p, c);
    case 0x85:
    case 0x86:
    case 0x87: { /* TUPLE1..3 */
      int k = op - 0x84;
      if (p->n_stack < k)
        return PFAIL(p, "stack underflow");
      for (int i = 0; i < k; i++)
        if (p->stack[p->n_stack - 1 - i] == MARK_ID)
          return PFAIL(p, "MARK inside TUPLE%ld", (long)k);
      if ((rc = make_tuple(p, p->stack + p->n_stack - k, k, &c)))
        return rc;
      p->n_stack -= k;
      return push(p, c);
    }
    case 'J': /* BININT */
      if ((rc = need(p, 4)))
        return rc;
      p->pos += 4;
      return push_int(p, (int32_t)(uint32_t)rd_le(p->buf + p->pos - 4, 4));
    case 'K': /* BININT1 */
      if ((rc = need(p, 1)))
        return rc;
      p->pos++;
      return push_int(p, p->buf[p->pos - 1]);
    case 'M': /* BININT2 */
      if ((rc = need(p, 2)))
        return rc;
      p->pos += 2;
      return push_int(p, (int64_t)rd_le(p->buf + p->pos - 2, 2));
    case 0x8a: { /* LONG1 */
      if ((rc = need(p, 1)))
        return rc;
      int k = p->buf[p->pos++];
      if (k > 8)
        return PFAIL(p, "LONG1 of %ld bytes", (long)k);
      if ((rc = need(p, (size_t)k)))
        return rc;
      uint64_t u = rd_le(p->buf + p->pos, k);
      if (k > 0 && k < 8 && (p->buf[p->pos + k - 1] & 0x80))
        u |= ~(uint64_t)0 << (8 * k); /* sign-extend */
      p->pos += (size_t)k;
      return push_int(p, (int64_t)u);
    }
    case 0x88:
    case 0x89: /* NEWTRUE, NEWFALSE */
      if ((a = new_val(p, V_BOOL)) < 0)
        return a;
      p->vals[a].i = op == 0x88;
      return push(p, a);
    case 'N': /* NONE */
      if ((a = new_val(p, V_NONE)) < 0)
        return a;
      return push(p, a);
    case 'Q': /* BINPERSID */
      return op_persid(p);
    case 'R': /* REDUCE */
      return op_reduce(p);
    case 's': /* SETITEM */
      if ((rc = pop(p, &c)) || (rc = pop(p, &b)) || (rc = top(p, &a)))
        return rc;
      return dict_set(p, a, b, c);
    case 'u': { /* SETITEMS */
      if ((rc = find_mark(p, &a, &b)))
        return rc;
      if (b % 2)
        return PFAIL(p, "SETITEMS with an odd count");
      int base = a - 1;
      if (base < 1 || p->stack[base - 1] == MARK_ID)
        return PFAIL(p, "SETITEMS without a dict");
      for (int i = 0; i < b; i += 2)
        if ((rc = dict_set(
                 p, p->stack[base - 1], p->stack[a + i], p->stack[a + i + 1])))
          return rc;
      p->n_stack = base;
      return SF_OK;
    }
    case 'b': /* BUILD */
      return op_build(p);
    case '.': /* STOP */
      *done = 1;
      return finish(p);
    default:
      p->pos--;
      return PFAIL(
          p, "opcode 0x%02lx is not allowed in a state_dict", (long)op);
  }
}

int sam__pickle_parse(const uint8_t* buf, size_t n, sam_ckpt* ck, sf_err* err) {
  parser p;
  memset(&p, 0, sizeof p);
  p.buf = buf;
  p.n = n;
  p.ck = ck;
  p.err = err;
  int rc = SF_OK, done = 0;
  if (n > SAM_CKPT_MAX_PICKLE_BYTES) {
    rc = sf_err_set(
        err,
        SF_ERANGE,
        "pickle of %zu bytes is over the "
        "limit",
        n);
    goto out;
  }
  while (!done && rc == SF_OK) {
    if (p.pos >= p.n) {
      rc = PFAIL(&p, "truncated pickle (no STOP)");
      break;
    }
    rc = step(&p, &done);
  }
  if (rc == SF_ENOMEM)
    sf_err_set(err, rc, "out of memory parsing pickle");
out:
  for (int i = 0; i < p.n_vals; i++) {
    free(p.vals[i].s);
    free(p.vals[i].items);
  }
  free(p.vals);
  free(p.stack);
  free(p.memo);
  free(p.tensors);
  return rc;
}

/* ------------------------------------------------------------ zip read */

static int zip_fail(
    sf_err* err,
    int code,
    const char* path,
    zip_error_t* ze,
    const char* what) {
  return sf_err_set(
      err,
      code,
      "%s: %s: %s",
      path,
      what,
      ze ? zip_error_strerror(ze) : "error");
}

static int read_entry(
    zip_t* z,
    zip_uint64_t idx,
    uint64_t size,
    void* dst,
    const char* path,
    const char* name,
    sf_err* err) {
  zip_file_t* f = zip_fopen_index(z, idx, 0);
  if (!f)
    return zip_fail(err, SF_EFORMAT, path, zip_get_error(z), name);
  uint8_t* d = dst;
  uint64_t got = 0;
  while (got < size) {
    uint64_t chunk = size - got > (1u << 30) ? (1u << 30) : size - got;
    zip_int64_t r = zip_fread(f, d + got, chunk);
    if (r <= 0)
      break;
    got += (uint64_t)r;
  }
  /* One more read hits the end and lets libzip check the CRC. */
  char extra;
  zip_int64_t tail = got == size ? zip_fread(f, &extra, 1) : -1;
  int rc = SF_OK;
  if (got != size || tail != 0)
    rc = sf_err_set(
        err,
        SF_EFORMAT,
        "%s: entry %s is truncated or "
        "corrupt (%s)",
        path,
        name,
        zip_error_strerror(zip_file_get_error(f)));
  zip_fclose(f);
  return rc;
}

/* Long by design (~175 lines): the archive's layout is validated step by
 * step (entries, data.pkl, every storage against its bounds) before
 * anything is trusted, with one cleanup path. */
int sam__ckpt_open(const char* path, sam_ckpt** out, sf_err* err) {
  int rc = SF_OK;
  zip_t* z = NULL;
  uint8_t* pkl = NULL;
  sam_ckpt* ck = NULL;
  char prefix[256] = "", name[512];
  *out = NULL;

  /* Sniff first, for clear messages about what the file is. */
  FILE* f = fopen(path, "rb");
  if (!f) {
    rc = sf_err_set(err, SF_EIO, "%s: %s", path, strerror(errno));
    goto out;
  }
  uint8_t head[16] = {0};
  size_t nh = fread(head, 1, sizeof head, f);
  fclose(f);
  if (nh < 4 || memcmp(head, "PK\3\4", 4)) {
    static const uint8_t legacy[] = {
        0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8};
    if (nh >= sizeof legacy && !memcmp(head, legacy, sizeof legacy))
      rc = sf_err_set(
          err,
          SF_EFORMAT,
          "%s: legacy (torch < 1.6) "
          "checkpoint format is not supported; re-save it "
          "with torch.save in the zip format",
          path);
    else
      rc = sf_err_set(
          err,
          SF_EFORMAT,
          "%s: not a torch checkpoint "
          "(no zip signature)",
          path);
    goto out;
  }

  int zerr = 0;
  z = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
  if (!z) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, zerr);
    rc = zip_fail(
        err, SF_EFORMAT, path, &ze, "not a readable zip archive (truncated?)");
    zip_error_fini(&ze);
    goto out;
  }
  zip_int64_t n = zip_get_num_entries(z, 0);
  zip_int64_t pkl_idx = -1;
  for (zip_int64_t i = 0; i < n; i++) {
    const char* e = zip_get_name(z, (zip_uint64_t)i, 0);
    if (!e)
      continue;
    const char* slash = strchr(e, '/');
    if (slash && !strcmp(slash, "/data.pkl") &&
        (size_t)(slash - e) < sizeof prefix) {
      if (pkl_idx >= 0) {
        rc = sf_err_set(
            err,
            SF_EFORMAT,
            "%s: more than one "
            "data.pkl",
            path);
        goto out;
      }
      pkl_idx = i;
      memcpy(prefix, e, (size_t)(slash - e));
      prefix[slash - e] = '\0';
    }
  }
  if (pkl_idx < 0) {
    rc = sf_err_set(
        err,
        SF_EFORMAT,
        "%s: zip archive without "
        "<name>/data.pkl: not a torch checkpoint",
        path);
    goto out;
  }
  zip_stat_t st;
  if (zip_stat_index(z, (zip_uint64_t)pkl_idx, 0, &st) ||
      !(st.valid & ZIP_STAT_SIZE)) {
    rc = zip_fail(err, SF_EFORMAT, path, zip_get_error(z), "data.pkl");
    goto out;
  }
  if (st.size > SAM_CKPT_MAX_PICKLE_BYTES) {
    rc = sf_err_set(
        err,
        SF_ERANGE,
        "%s: data.pkl of %llu bytes is over "
        "the limit",
        path,
        (unsigned long long)st.size);
    goto out;
  }
  if (!(pkl = malloc(st.size ? st.size : 1)) || !(ck = calloc(1, sizeof *ck))) {
    rc = sf_err_set(err, SF_ENOMEM, "out of memory");
    goto out;
  }
  if ((rc = read_entry(
           z, (zip_uint64_t)pkl_idx, st.size, pkl, path, "data.pkl", err)))
    goto out;
  if ((rc = sam__pickle_parse(pkl, st.size, ck, err))) {
    sf_err_wrap(err, "%s: data.pkl", path);
    goto out;
  }

  uint64_t total = 0;
  if (!(ck->entry = calloc((size_t)ck->n_storages + 1, sizeof *ck->entry))) {
    rc = sf_err_set(err, SF_ENOMEM, "out of memory");
    goto out;
  }
  for (int i = 0; i < ck->n_storages; i++) {
    sam_ckpt_storage* s = &ck->storages[i];
    snprintf(name, sizeof name, "%s/data/%s", prefix, s->key);
    zip_int64_t idx = zip_name_locate(z, name, 0);
    if (idx < 0) {
      rc = sf_err_set(err, SF_EFORMAT, "%s: storage %s is missing", path, name);
      goto out;
    }
    uint64_t bytes = (uint64_t)s->numel * (uint64_t)sam__dtype_size(s->dtype);
    if (zip_stat_index(z, (zip_uint64_t)idx, 0, &st) ||
        !(st.valid & ZIP_STAT_SIZE) || st.size != bytes) {
      rc = sf_err_set(
          err,
          SF_EFORMAT,
          "%s: storage %s has %llu bytes, "
          "the pickle declares %llu",
          path,
          name,
          (unsigned long long)st.size,
          (unsigned long long)bytes);
      goto out;
    }
    /* The sizes are the archive's word: a few bytes of compressed data
     * cannot inflate to more than ~1032x (deflate), so a larger claim is
     * a lie that would make load_storage allocate for nothing. */
    if (!(st.valid & ZIP_STAT_COMP_SIZE) ||
        bytes > (uint64_t)st.comp_size * 1100u + 4096u) {
      rc = sf_err_set(
          err,
          SF_EFORMAT,
          "%s: storage %s claims %llu bytes from %llu stored",
          path,
          name,
          (unsigned long long)bytes,
          (unsigned long long)st.comp_size);
      goto out;
    }
    total += bytes;
    if (total > SAM_CKPT_MAX_TOTAL_BYTES) {
      rc = sf_err_set(
          err,
          SF_ERANGE,
          "%s: storages exceed %llu bytes",
          path,
          (unsigned long long)SAM_CKPT_MAX_TOTAL_BYTES);
      goto out;
    }
    ck->entry[i] = idx;
  }
  if (!(ck->path = strdup(path))) {
    rc = sf_err_set(err, SF_ENOMEM, "out of memory");
    goto out;
  }
  ck->zip = z;
  z = NULL;
  *out = ck;
  ck = NULL;
out:
  if (z)
    zip_discard(z);
  free(pkl);
  sam__ckpt_free(ck);
  return rc;
}

int sam__ckpt_load_storage(sam_ckpt* ck, int i, sf_err* err) {
  if (!ck || i < 0 || i >= ck->n_storages)
    return sf_err_set(err, SF_EINVAL, "no storage %d", i);
  sam_ckpt_storage* s = &ck->storages[i];
  if (s->data)
    return SF_OK;
  if (!ck->zip)
    return sf_err_set(err, SF_EINVAL, "checkpoint is not open");
  uint64_t bytes = (uint64_t)s->numel * (uint64_t)sam__dtype_size(s->dtype);
  if (!(s->data = malloc(bytes ? bytes : 1)))
    return sf_err_set(
        err, SF_ENOMEM, "%s: out of memory for storage %s", ck->path, s->key);
  int rc = read_entry(
      ck->zip,
      (zip_uint64_t)ck->entry[i],
      bytes,
      s->data,
      ck->path,
      s->key,
      err);
  if (rc) {
    free(s->data);
    s->data = NULL;
  }
  return rc;
}

void sam__ckpt_drop_storage(sam_ckpt* ck, int i) {
  if (!ck || ck->borrowed || i < 0 || i >= ck->n_storages)
    return;
  free(ck->storages[i].data);
  ck->storages[i].data = NULL;
}

int sam__ckpt_read(const char* path, sam_ckpt** out, sf_err* err) {
  sam_ckpt* ck = NULL;
  int rc = sam__ckpt_open(path, &ck, err);
  for (int i = 0; rc == SF_OK && i < ck->n_storages; i++)
    rc = sam__ckpt_load_storage(ck, i, err);
  if (rc) {
    sam__ckpt_free(ck);
    return rc;
  }
  *out = ck;
  return SF_OK;
}

/* ------------------------------------------------------- pickle write */

typedef struct wbuf {
  uint8_t* b;
  size_t n, cap;
  int oom;
} wbuf;

static void put(wbuf* w, const void* d, size_t k) {
  if (w->oom)
    return;
  if (w->n + k > w->cap) {
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < w->n + k)
      cap *= 2;
    uint8_t* q = realloc(w->b, cap);
    if (!q) {
      w->oom = 1;
      return;
    }
    w->b = q;
    w->cap = cap;
  }
  memcpy(w->b + w->n, d, k);
  w->n += k;
}

static void put1(wbuf* w, uint8_t c) {
  put(w, &c, 1);
}

static void put_le(wbuf* w, uint64_t v, int k) {
  uint8_t b[8];
  for (int i = 0; i < k; i++)
    b[i] = (uint8_t)(v >> (8 * i));
  put(w, b, (size_t)k);
}

static void put_str(wbuf* w, const char* s) {
  size_t n = strlen(s);
  put1(w, 'X');
  put_le(w, n, 4);
  put(w, s, n);
}

static void put_int(wbuf* w, int64_t x) {
  if (x >= 0 && x < 256) {
    put1(w, 'K');
    put1(w, (uint8_t)x);
  } else if (x >= 0 && x < 65536) {
    put1(w, 'M');
    put_le(w, (uint64_t)x, 2);
  } else if (x >= INT32_MIN && x <= INT32_MAX) {
    put1(w, 'J');
    put_le(w, (uint64_t)(uint32_t)(int32_t)x, 4);
  } else {
    put1(w, 0x8a);
    put1(w, 8);
    put_le(w, (uint64_t)x, 8);
  }
}

static void put_global(wbuf* w, const char* mod, const char* name) {
  put1(w, 'c');
  put(w, mod, strlen(mod));
  put1(w, '\n');
  put(w, name, strlen(name));
  put1(w, '\n');
}

/* The layout torch.save produces for an OrderedDict of tensors (memo: 0 =
 * OrderedDict, 1 = _rebuild_tensor_v2, 2.. = one per storage type). */
int sam__pickle_write(
    const sam_ckpt* ck,
    uint8_t** out,
    size_t* n,
    sf_err* err) {
  wbuf w = {0};
  int type_memo[SAM_DT_COUNT];
  int next_memo = 2;
  for (int d = 0; d < SAM_DT_COUNT; d++)
    type_memo[d] = -1;
  put1(&w, 0x80);
  put1(&w, 2);
  put_global(&w, "collections", "OrderedDict");
  put1(&w, 'q'), put1(&w, 0);
  put1(&w, ')');
  put1(&w, 'R');
  put1(&w, '(');
  for (int i = 0; i < ck->n_tensors; i++) {
    const sam_ckpt_tensor* t = &ck->tensors[i];
    const sam_ckpt_storage* s = &ck->storages[t->storage];
    put_str(&w, t->name);
    if (i == 0) {
      put_global(&w, "torch._utils", "_rebuild_tensor_v2");
      put1(&w, 'q'), put1(&w, 1);
    } else {
      put1(&w, 'h'), put1(&w, 1);
    }
    put1(&w, '(');
    put1(&w, '(');
    put_str(&w, "storage");
    if (type_memo[s->dtype] < 0) {
      put_global(&w, "torch", dtypes[s->dtype].storage);
      type_memo[s->dtype] = next_memo++;
      put1(&w, 'q'), put1(&w, (uint8_t)type_memo[s->dtype]);
    } else {
      put1(&w, 'h'), put1(&w, (uint8_t)type_memo[s->dtype]);
    }
    put_str(&w, s->key);
    put_str(&w, "cpu");
    put_int(&w, s->numel);
    put1(&w, 't');
    put1(&w, 'Q');
    put_int(&w, t->offset);
    put1(&w, '(');
    for (int d = 0; d < t->ndim; d++)
      put_int(&w, t->shape[d]);
    put1(&w, 't');
    put1(&w, '(');
    for (int d = 0; d < t->ndim; d++)
      put_int(&w, t->stride[d]);
    put1(&w, 't');
    put1(&w, 0x89); /* requires_grad False */
    put1(&w, 'h'), put1(&w, 0);
    put1(&w, ')');
    put1(&w, 'R'); /* backward_hooks = OrderedDict() */
    put1(&w, 't');
    put1(&w, 'R');
  }
  put1(&w, 'u');
  put1(&w, '.');
  if (w.oom) {
    free(w.b);
    return sf_err_set(err, SF_ENOMEM, "out of memory writing pickle");
  }
  *out = w.b;
  *n = w.n;
  return SF_OK;
}

/* -------------------------------------------------------- zip write */

typedef struct zentry {
  char* name;
  uint32_t crc;
  uint64_t size, offset;
} zentry;

static uint32_t crc_of(const void* d, uint64_t n) {
  uLong c = crc32(0L, Z_NULL, 0);
  const Bytef* p = d;
  while (n > 0) {
    uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
    c = crc32(c, p, k);
    p += k;
    n -= k;
  }
  return (uint32_t)c;
}

static int put_entry(
    FILE* f,
    uint64_t* pos,
    zentry* e,
    const char* name,
    const void* data,
    uint64_t size) {
  size_t nl = strlen(name);
  /* torch aligns every record's data to 64 bytes with a padding extra
   * field ('FB'); readers that mmap rely on it. */
  uint64_t base = *pos + 30 + nl + 4;
  uint16_t pad = (uint16_t)((64 - base % 64) % 64);
  uint8_t h[30];
  uint8_t* q = h;
#define LE(v, k)                   \
  for (int i_ = 0; i_ < (k); i_++) \
  *q++ = (uint8_t)((uint64_t)(v) >> (8 * i_))
  e->crc = crc_of(data, size);
  e->size = size;
  e->offset = *pos;
  LE(0x04034b50u, 4);
  LE(20, 2); /* version needed */
  LE(0, 2); /* flags */
  LE(0, 2); /* stored */
  LE(0, 2); /* time */
  LE(0x21, 2); /* date 1980-01-01 */
  LE(e->crc, 4);
  LE(size, 4);
  LE(size, 4);
  LE(nl, 2);
  LE(4 + pad, 2);
  uint8_t ex[4 + 64] = {'F', 'B', (uint8_t)pad, (uint8_t)(pad >> 8)};
  memset(ex + 4, 'Z', pad);
  if (fwrite(h, 1, 30, f) != 30 || fwrite(name, 1, nl, f) != nl ||
      fwrite(ex, 1, 4u + pad, f) != 4u + pad ||
      (size && fwrite(data, 1, size, f) != size))
    return SF_EIO;
  *pos += 30 + nl + 4 + pad + size;
  return SF_OK;
}

static int put_central(FILE* f, const zentry* e) {
  uint8_t h[46], *q = h;
  size_t nl = strlen(e->name);
  LE(0x02014b50u, 4);
  LE(20, 2); /* made by */
  LE(20, 2); /* needed */
  LE(0, 2);
  LE(0, 2);
  LE(0, 2);
  LE(0x21, 2);
  LE(e->crc, 4);
  LE(e->size, 4);
  LE(e->size, 4);
  LE(nl, 2);
  LE(0, 2); /* extra */
  LE(0, 2); /* comment */
  LE(0, 2); /* disk */
  LE(0, 2); /* internal attr */
  LE(0, 4); /* external attr */
  LE(e->offset, 4);
  return fwrite(h, 1, 46, f) == 46 && fwrite(e->name, 1, nl, f) == nl ? SF_OK
                                                                      : SF_EIO;
}

int sam__ckpt_write(const char* path, const sam_ckpt* ck, sf_err* err) {
  int rc = SF_OK, n_entries = 0;
  uint8_t* pkl = NULL;
  size_t n_pkl = 0;
  zentry* ents = NULL;
  FILE* f = NULL;
  char tmp[4096], name[512];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
    return sf_err_set(err, SF_EINVAL, "path too long: %s", path);

  /* Size check first: no zip64, so everything must stay under 4 GiB. */
  uint64_t total = 0;
  for (int i = 0; i < ck->n_storages; i++)
    total += (uint64_t)ck->storages[i].numel *
            (uint64_t)sam__dtype_size(ck->storages[i].dtype) +
        200;
  if (total + ((uint64_t)ck->n_tensors << 10) >= 0xFFFFFFF0ull ||
      ck->n_storages + 3 > 65535)
    return sf_err_set(
        err,
        SF_ERANGE,
        "%s: checkpoint over 4 GiB or "
        "65535 entries (zip64 is not implemented)",
        path);

  if ((rc = sam__pickle_write(ck, &pkl, &n_pkl, err)))
    goto out;
  if (!(ents = calloc((size_t)ck->n_storages + 3, sizeof *ents))) {
    rc = sf_err_set(err, SF_ENOMEM, "out of memory");
    goto out;
  }
  if (!(f = fopen(tmp, "wb"))) {
    rc = sf_err_set(err, SF_EIO, "%s: %s", tmp, strerror(errno));
    goto out;
  }
  uint64_t pos = 0;
#define ENTRY(nm, d, sz)                                                 \
  do {                                                                   \
    if (!(ents[n_entries].name = xstrdup(nm))) {                         \
      rc = sf_err_set(err, SF_ENOMEM, "out of memory");                  \
      goto out;                                                          \
    }                                                                    \
    if ((rc = put_entry(f, &pos, &ents[n_entries], nm, d, sz))) {        \
      sf_err_set(err, rc, "%s: write failed: %s", tmp, strerror(errno)); \
      goto out;                                                          \
    }                                                                    \
    n_entries++;                                                         \
  } while (0)
  ENTRY("archive/data.pkl", pkl, n_pkl);
  ENTRY("archive/byteorder", "little", 6);
  for (int i = 0; i < ck->n_storages; i++) {
    const sam_ckpt_storage* s = &ck->storages[i];
    snprintf(name, sizeof name, "archive/data/%s", s->key);
    ENTRY(
        name,
        s->data,
        (uint64_t)s->numel * (uint64_t)sam__dtype_size(s->dtype));
  }
  ENTRY("archive/version", "3\n", 2);
#undef ENTRY
  uint64_t cd_start = pos, cd_size = 0;
  for (int i = 0; i < n_entries; i++) {
    if ((rc = put_central(f, &ents[i]))) {
      sf_err_set(err, rc, "%s: write failed", tmp);
      goto out;
    }
    cd_size += 46 + strlen(ents[i].name);
  }
  uint8_t eocd[22], *q = eocd;
  LE(0x06054b50u, 4);
  LE(0, 2);
  LE(0, 2);
  LE(n_entries, 2);
  LE(n_entries, 2);
  LE(cd_size, 4);
  LE(cd_start, 4);
  LE(0, 2);
#undef LE
  if (fwrite(eocd, 1, sizeof eocd, f) != sizeof eocd || fflush(f) ||
      fsync(fileno(f))) {
    rc = sf_err_set(err, SF_EIO, "%s: write failed: %s", tmp, strerror(errno));
    goto out;
  }
  if (fclose(f)) {
    f = NULL;
    rc = sf_err_set(err, SF_EIO, "%s: %s", tmp, strerror(errno));
    goto out;
  }
  f = NULL;
  if (rename(tmp, path)) {
    rc = sf_err_set(
        err, SF_EIO, "rename %s -> %s: %s", tmp, path, strerror(errno));
    goto out;
  }
out:
  if (f)
    fclose(f);
  if (rc != SF_OK)
    unlink(tmp);
  for (int i = 0; ents && i < ck->n_storages + 3; i++)
    free(ents[i].name);
  free(ents);
  free(pkl);
  return rc;
}
