/*
 * npy.c - NumPy .npy arrays (format 1.0/2.0/3.0), little-endian, C order:
 * the format of the reference outputs the parity tests compare against.
 */
#include "sf_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void sam_npy_free(sam_npy* a) {
  if (!a)
    return;
  free(a->data);
  free(a);
}

/* Value of 'key' in the header dict: a pointer just past "'key':". */
static const char* dict_value(const char* h, const char* key) {
  char pat[64];
  snprintf(pat, sizeof pat, "'%s':", key);
  const char* p = strstr(h, pat);
  if (!p)
    return NULL;
  p += strlen(pat);
  while (*p == ' ')
    p++;
  return p;
}

int sam_npy_read(const char* path, sam_npy** out, sf_err* err) {
  int rc = SF_OK;
  char* hdr = NULL;
  sam_npy* a = NULL;
  FILE* f = fopen(path, "rb");
  *out = NULL;
  if (!f)
    return sf_err_set(err, SF_EIO, "%s: %s", path, strerror(errno));
  uint8_t pre[12];
  if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) || pre[6] < 1 ||
      pre[6] > 3) {
    rc = sf_err_set(err, SF_EFORMAT, "%s: not a .npy file", path);
    goto out;
  }
  uint32_t hlen = pre[8] | (uint32_t)pre[9] << 8;
  if (pre[6] >= 2) {
    if (fread(pre + 10, 1, 2, f) != 2) {
      rc = sf_err_set(err, SF_EFORMAT, "%s: truncated header", path);
      goto out;
    }
    hlen |= (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
  }
  if (hlen > 65536) {
    rc = sf_err_set(err, SF_EFORMAT, "%s: header too long", path);
    goto out;
  }
  if (!(hdr = malloc(hlen + 1)) || !(a = calloc(1, sizeof *a))) {
    rc = sf_err_set(err, SF_ENOMEM, "out of memory");
    goto out;
  }
  if (fread(hdr, 1, hlen, f) != hlen) {
    rc = sf_err_set(err, SF_EFORMAT, "%s: truncated header", path);
    goto out;
  }
  hdr[hlen] = '\0';
  const char* d = dict_value(hdr, "descr");
  const char* fo = dict_value(hdr, "fortran_order");
  const char* sh = dict_value(hdr, "shape");
  if (!d || !fo || !sh || d[0] != '\'' || strncmp(fo, "False", 5) ||
      *sh != '(') {
    rc =
        sf_err_set(err, SF_EFORMAT, "%s: unsupported header %.120s", path, hdr);
    goto out;
  }
  /* descr: '<f4', '|u1', '<i4', '|b1', ... */
  char endian = d[1], kind = d[2];
  int size = atoi(d + 3);
  if ((endian != '<' && endian != '|') || !strchr("fiub", kind) ||
      (size != 1 && size != 2 && size != 4 && size != 8) ||
      (endian == '|' && size != 1)) {
    rc = sf_err_set(err, SF_EFORMAT, "%s: unsupported dtype %.8s", path, d);
    goto out;
  }
  a->dtype = kind;
  a->elsize = size;
  a->numel = 1;
  const char* p = sh + 1;
  while (*p && *p != ')') {
    while (*p == ' ' || *p == ',')
      p++;
    if (*p == ')')
      break;
    char* end;
    long long v = strtoll(p, &end, 10);
    if (end == p || v < 0 || a->ndim >= 8 || v > (1LL << 40)) {
      rc = sf_err_set(err, SF_EFORMAT, "%s: bad shape", path);
      goto out;
    }
    a->shape[a->ndim++] = v;
    if (__builtin_mul_overflow(a->numel, (int64_t)v, &a->numel) ||
        a->numel > (1LL << 36)) {
      rc = sf_err_set(err, SF_EFORMAT, "%s: array too large", path);
      goto out;
    }
    p = end;
  }
  /* The data must be exactly what remains of the file. */
  long here = ftell(f);
  if (fseek(f, 0, SEEK_END) || here < 0) {
    rc = sf_err_set(err, SF_EIO, "%s: seek failed", path);
    goto out;
  }
  long end_pos = ftell(f);
  uint64_t bytes = (uint64_t)a->numel * (uint64_t)size;
  if (end_pos < here || (uint64_t)(end_pos - here) != bytes) {
    rc = sf_err_set(
        err,
        SF_EFORMAT,
        "%s: %ld data bytes, header says "
        "%llu",
        path,
        end_pos - here,
        (unsigned long long)bytes);
    goto out;
  }
  fseek(f, here, SEEK_SET);
  if (!(a->data = malloc(bytes ? bytes : 1))) {
    rc = sf_err_set(err, SF_ENOMEM, "out of memory");
    goto out;
  }
  if (fread(a->data, 1, bytes, f) != bytes) {
    rc = sf_err_set(err, SF_EFORMAT, "%s: truncated data", path);
    goto out;
  }
  *out = a;
  a = NULL;
out:
  fclose(f);
  free(hdr);
  sam_npy_free(a);
  return rc;
}

int sam_npy_write(
    const char* path,
    char dtype,
    int elsize,
    int ndim,
    const int64_t* shape,
    const void* data,
    sf_err* err) {
  if (!path || !data || ndim < 0 || ndim > 8 || !strchr("fiub", dtype))
    return sf_err_set(err, SF_EINVAL, "npy_write: bad argument");
  char dict[256], shp[160] = "";
  int64_t numel = 1;
  for (int i = 0; i < ndim; i++) {
    size_t l = strlen(shp);
    snprintf(
        shp + l,
        sizeof shp - l,
        "%lld,%s",
        (long long)shape[i],
        i + 1 < ndim ? " " : "");
    numel *= shape[i];
  }
  if (ndim > 1)
    shp[strlen(shp) - 1] = '\0'; /* (a, b) not (a, b,) */
  int n = snprintf(
      dict,
      sizeof dict,
      "{'descr': '%c%c%d', 'fortran_order': False, "
      "'shape': (%s), }",
      elsize == 1 ? '|' : '<',
      dtype,
      elsize,
      shp);
  int total = 10 + n + 1;
  int pad = (64 - total % 64) % 64;
  FILE* f = fopen(path, "wb");
  if (!f)
    return sf_err_set(err, SF_EIO, "%s: %s", path, strerror(errno));
  uint16_t hl = (uint16_t)(n + pad + 1);
  uint8_t pre[10] = {
      0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)hl, (uint8_t)(hl >> 8)};
  int ok =
      fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)n, f) == (size_t)n;
  for (int i = 0; ok && i < pad; i++)
    ok = fputc(' ', f) != EOF;
  ok = ok && fputc('\n', f) != EOF &&
      fwrite(data, (size_t)elsize, (size_t)numel, f) == (size_t)numel;
  if (fclose(f) || !ok) {
    unlink(path);
    return sf_err_set(err, SF_EIO, "%s: write failed", path);
  }
  return SF_OK;
}
