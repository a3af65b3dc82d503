/*
 * volume.c - the reader table, reader selection (sniff, then suffix), the
 * open/read/close handle, volumes, canonical LPS+ reorientation, and the
 * helpers the rd_*.c readers share. Contracts: readers.h.
 */
#include "readers_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* Sniffing order: formats with strong magic first. MetaImage's sniff
 * looks at text keys, so it comes after the binary formats. */
static const hx_reader_ops *const reader_table[] = {
    &hx_reader_nifti, &hx_reader_dicom,     &hx_reader_png,
    &hx_reader_tiff,  &hx_reader_metaimage, NULL /* the only list to edit */
};

const hx_reader_ops *const *hx_readers(void) {
    return reader_table;
}

const hx_reader_ops *hx_reader_by_name(const char *name) {
    if (!name) return NULL;
    for (const hx_reader_ops *const *r = reader_table; *r; r++)
        if (strcmp((*r)->name, name) == 0) return *r;
    return NULL;
}

/* ------------------------------------------------------------- helpers */

int hx__rd_err(sf_err *err, int code, const char *path, const char *fmt, ...) {
    if (!err) return code;
    char m[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    err->code = code;
    snprintf(err->where, sizeof err->where, "%s", path ? path : "");
    snprintf(err->msg, sizeof err->msg, "%s: %s", path ? path : "?", m);
    return code;
}

int hx__rd_check_dims(const char *path, int64_t nx, int64_t ny, int64_t nz,
                      sf_err *err) {
    if (nx < 1 || ny < 1 || nz < 1)
        return hx__rd_err(err, SF_EFORMAT, path,
                          "bad dimensions %lld x %lld x %lld", (long long)nx,
                          (long long)ny, (long long)nz);
    if (nx > HX_VOL_MAX_SIDE || ny > HX_VOL_MAX_SIDE || nz > HX_VOL_MAX_SIDE)
        return hx__rd_err(err, SF_ERANGE, path,
                          "dimensions %lld x %lld x %lld exceed the limit of "
                          "%d per side",
                          (long long)nx, (long long)ny, (long long)nz,
                          HX_VOL_MAX_SIDE);
    uint64_t n = (uint64_t)nx * (uint64_t)ny * (uint64_t)nz;
    if (n > HX_VOL_MAX_VOXELS)
        return hx__rd_err(
            err, SF_ERANGE, path, "%llu voxels exceed the limit of %llu",
            (unsigned long long)n, (unsigned long long)HX_VOL_MAX_VOXELS);
    return SF_OK;
}

int hx__rd_volume_alloc(const hx_volume *hdr, hx_volume **out, sf_err *err) {
    *out = NULL;
    int rc = hx__rd_check_dims(hdr->path, hdr->nx, hdr->ny, hdr->nz, err);
    if (rc != SF_OK) return rc;
    hx_volume *v = malloc(sizeof *v);
    if (!v) return hx__rd_err(err, SF_ENOMEM, hdr->path, "out of memory");
    *v = *hdr;
    size_t n = (size_t)hdr->nx * (size_t)hdr->ny * (size_t)hdr->nz;
    v->data = malloc(n * sizeof *v->data);
    if (!v->data) {
        free(v);
        return hx__rd_err(err, SF_ENOMEM, hdr->path,
                          "out of memory for %zu voxels", n);
    }
    *out = v;
    return SF_OK;
}

void hx__rd_affine_diag(hx_volume *hdr, double sx, double sy, double sz) {
    memset(hdr->ijk_to_lps, 0, sizeof hdr->ijk_to_lps);
    hdr->ijk_to_lps[0][0] = sx;
    hdr->ijk_to_lps[1][1] = sy;
    hdr->ijk_to_lps[2][2] = sz;
    hdr->ijk_to_lps[3][3] = 1.0;
    hdr->spacing_mm[0] = sx;
    hdr->spacing_mm[1] = sy;
    hdr->spacing_mm[2] = sz;
}

void hx__rd_spacing_from_affine(hx_volume *hdr) {
    for (int a = 0; a < 3; a++) {
        double s = 0;
        for (int w = 0; w < 3; w++)
            s += hdr->ijk_to_lps[w][a] * hdr->ijk_to_lps[w][a];
        hdr->spacing_mm[a] = sqrt(s);
    }
}

size_t hx__rd_type_size(int type) {
    static const size_t size[] = {1, 1, 2, 2, 4, 4, 8, 8, 4, 8};
    return type >= 0 && type <= HX_RD_F64 ? size[type] : 0;
}

/* Load one element of `sz` bytes (unaligned-safe), reversing its bytes
 * when swap is set. */
static inline void load(const uint8_t *p, size_t sz, int swap, void *v) {
    if (!swap) {
        memcpy(v, p, sz);
        return;
    }
    uint8_t b[8] = {0};
    for (size_t i = 0; i < sz; i++)
        b[i] = p[sz - 1 - i];
    memcpy(v, b, sz);
}

void hx__rd_to_float(const void *src, int type, int swap, size_t n,
                     float *dst) {
    const uint8_t *p = src;
    size_t sz = hx__rd_type_size(type);
    if (sz == 1) swap = 0;
#define CONV(T)                                                                \
    for (size_t i = 0; i < n; i++) {                                           \
        T x;                                                                   \
        load(p + i * sizeof(T), sizeof(T), swap, &x);                          \
        dst[i] = (float)x;                                                     \
    }                                                                          \
    break
    switch (type) {
    case HX_RD_U8: CONV(uint8_t);
    case HX_RD_I8: CONV(int8_t);
    case HX_RD_U16: CONV(uint16_t);
    case HX_RD_I16: CONV(int16_t);
    case HX_RD_U32: CONV(uint32_t);
    case HX_RD_I32: CONV(int32_t);
    case HX_RD_U64: CONV(uint64_t);
    case HX_RD_I64: CONV(int64_t);
    case HX_RD_F32: CONV(float);
    case HX_RD_F64: CONV(double);
    default: break;
    }
#undef CONV
}

/* ----------------------------------------------------------- selection */

static int suffix_match(const char *path, const char *suf) {
    size_t n = strlen(path), m = strlen(suf);
    if (m > n) return 0;
    for (size_t i = 0; i < m; i++)
        if (tolower((unsigned char)path[n - m + i]) != suf[i]) return 0;
    return 1;
}

int hx_reader_find(const char *path, const hx_reader_ops **out, sf_err *err) {
    *out = NULL;
    if (!path || !*path) return sf_err_set(err, SF_EINVAL, "empty path");
    struct stat st;
    if (stat(path, &st) != 0)
        return hx__rd_err(err, SF_EIO, path, "cannot open: %s",
                          strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        *out = &hx_reader_dicom;
        return SF_OK;
    }
    uint8_t head[HX_SNIFF_BYTES];
    size_t n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return hx__rd_err(err, SF_EIO, path, "cannot open: %s",
                          strerror(errno));
    n = fread(head, 1, sizeof head, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) return hx__rd_err(err, SF_EIO, path, "read error");
    if (n >= 2 && head[0] == 0x1f && head[1] == 0x8b) {
        /* A gzip file: sniff the inflated start (a truncated stream just
         * gives fewer bytes; the reader reports it). */
        gzFile g = gzopen(path, "rb");
        int k = g ? gzread(g, head, sizeof head) : -1;
        if (g) gzclose(g);
        n = k > 0 ? (size_t)k : 0;
    }
    const hx_reader_ops *const *r;
    for (r = reader_table; *r; r++)
        if ((*r)->sniff && (*r)->sniff(head, n)) {
            *out = *r;
            return SF_OK;
        }
    for (r = reader_table; *r; r++)
        for (const char *const *s = (*r)->suffixes; s && *s; s++)
            if (suffix_match(path, *s)) {
                *out = *r;
                return SF_OK;
            }
    return hx__rd_err(err, SF_EUNSUPPORTED, path,
                      "not a volume format we read (NIfTI, DICOM, "
                      "MetaImage, PNG, TIFF)");
}

/* -------------------------------------------------------------- handle */

struct hx_reader {
    const hx_reader_ops *ops;
    void *state;
    hx_volume hdr;
};

int hx_reader_open_with(const hx_reader_ops *ops, const char *path,
                        hx_reader **out, sf_err *err) {
    if (!out) return sf_err_set(err, SF_EINVAL, "hx_reader_open: NULL out");
    *out = NULL;
    if (!ops || !path || !*path)
        return sf_err_set(err, SF_EINVAL, "hx_reader_open: no path/reader");
    if (strlen(path) >= HX_VOL_PATH_MAX)
        return sf_err_set(err, SF_EINVAL, "path longer than %d bytes",
                          HX_VOL_PATH_MAX - 1);
    hx_reader *r = calloc(1, sizeof *r);
    if (!r) return hx__rd_err(err, SF_ENOMEM, path, "out of memory");
    r->ops = ops;
    strcpy(r->hdr.path, path);
    r->hdr.format = ops->name;
    hx__rd_affine_diag(&r->hdr, 1, 1, 1);
    int rc = ops->open(path, &r->hdr, &r->state, err);
    if (rc == SF_OK)
        rc = hx__rd_check_dims(path, r->hdr.nx, r->hdr.ny, r->hdr.nz, err);
    if (rc != SF_OK) goto out;
    r->hdr.data = NULL;
    *out = r;
    r = NULL;
out:
    hx_reader_close(r);
    return rc;
}

int hx_reader_open(const char *path, hx_reader **out, sf_err *err) {
    const hx_reader_ops *ops = NULL;
    if (out) *out = NULL;
    int rc = hx_reader_find(path, &ops, err);
    return rc != SF_OK ? rc : hx_reader_open_with(ops, path, out, err);
}

const hx_volume *hx_reader_header(const hx_reader *r) {
    return r ? &r->hdr : NULL;
}

const hx_reader_ops *hx_reader_get_ops(const hx_reader *r) {
    return r ? r->ops : NULL;
}

int hx_reader_read(hx_reader *r, hx_volume **out, sf_err *err) {
    if (!out) return sf_err_set(err, SF_EINVAL, "hx_reader_read: NULL out");
    *out = NULL;
    if (!r) return sf_err_set(err, SF_EINVAL, "hx_reader_read: NULL reader");
    return r->ops->read_volume(r->state, &r->hdr, out, err);
}

void hx_reader_close(hx_reader *r) {
    if (!r) return;
    if (r->ops && r->ops->close) r->ops->close(r->state);
    free(r);
}

int hx_volume_read(const char *path, hx_volume **out, sf_err *err) {
    if (!out) return sf_err_set(err, SF_EINVAL, "hx_volume_read: NULL out");
    *out = NULL;
    hx_reader *r = NULL;
    int rc = hx_reader_open(path, &r, err);
    if (rc == SF_OK) rc = hx_reader_read(r, out, err);
    hx_reader_close(r);
    return rc;
}

void hx_volume_free(hx_volume *v) {
    if (!v) return;
    free(v->data);
    free(v);
}

/* ------------------------------------------------------------ geometry */

void hx_volume_to_world(const hx_volume *v, double i, double j, double k,
                        double xyz[3]) {
    for (int w = 0; w < 3; w++)
        xyz[w] = v->ijk_to_lps[w][0] * i + v->ijk_to_lps[w][1] * j +
                 v->ijk_to_lps[w][2] * k + v->ijk_to_lps[w][3];
}

/* The world axis each voxel axis runs most nearly along: the permutation
 * maximising the sum of |direction cosines| (first of the fixed order on
 * ties, so the choice is deterministic). Returns 0 if a column is 0. */
static int dominant_axes(const double m[4][4], int perm[3]) {
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                    {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    double c[3][3]; /* |cosine| of voxel axis a against world axis w */
    for (int a = 0; a < 3; a++) {
        double s = 0;
        for (int w = 0; w < 3; w++)
            s += m[w][a] * m[w][a];
        s = sqrt(s);
        if (!(s > 0) || !isfinite(s)) return 0;
        for (int w = 0; w < 3; w++)
            c[a][w] = fabs(m[w][a]) / s;
    }
    double best = -1;
    for (int p = 0; p < 6; p++) {
        double sc = c[0][perms[p][0]] + c[1][perms[p][1]] + c[2][perms[p][2]];
        if (sc > best + 1e-12) {
            best = sc;
            memcpy(perm, perms[p], sizeof perms[p]);
        }
    }
    return 1;
}

const char *hx_volume_axcodes(const hx_volume *v, char buf[4]) {
    static const char pos[3] = {'L', 'P', 'S'}, neg[3] = {'R', 'A', 'I'};
    int perm[3];
    if (!v || !dominant_axes(v->ijk_to_lps, perm)) {
        strcpy(buf, "???");
        return buf;
    }
    for (int a = 0; a < 3; a++)
        buf[a] = v->ijk_to_lps[perm[a]][a] >= 0 ? pos[perm[a]] : neg[perm[a]];
    buf[3] = '\0';
    return buf;
}

int hx_volume_canonical(hx_volume *v, sf_err *err) {
    if (!v || !v->data)
        return sf_err_set(err, SF_EINVAL, "hx_volume_canonical: no volume");
    if (!v->oriented) return SF_OK;
    int perm[3];
    if (!dominant_axes(v->ijk_to_lps, perm))
        return hx__rd_err(err, SF_EFORMAT, v->path,
                          "singular voxel-to-world matrix");
    int n[3] = {v->nx, v->ny, v->nz}, flip[3], nn[3];
    int identity = 1;
    for (int a = 0; a < 3; a++) {
        flip[a] = v->ijk_to_lps[perm[a]][a] < 0;
        nn[perm[a]] = n[a];
        if (flip[a] || perm[a] != a) identity = 0;
    }
    if (identity) return SF_OK;
    size_t nvox = (size_t)n[0] * n[1] * n[2];
    float *d = malloc(nvox * sizeof *d);
    if (!d)
        return hx__rd_err(err, SF_ENOMEM, v->path,
                          "out of memory reorienting %zu voxels", nvox);
    /* New linear index of old voxel (i0, i1, i2): sum over old axes a of
     * off[a] + step[a] * i_a, with the new strides of axis perm[a]. */
    ptrdiff_t stride[3] = {1, nn[0], (ptrdiff_t)nn[0] * nn[1]};
    ptrdiff_t step[3], off[3];
    for (int a = 0; a < 3; a++) {
        ptrdiff_t s = stride[perm[a]];
        step[a] = flip[a] ? -s : s;
        off[a] = flip[a] ? (ptrdiff_t)(n[a] - 1) * s : 0;
    }
    const float *src = v->data;
    for (int k = 0; k < n[2]; k++)
        for (int j = 0; j < n[1]; j++) {
            ptrdiff_t base =
                off[0] + off[1] + off[2] + step[2] * k + step[1] * j;
            const float *row = src + ((size_t)k * n[1] + j) * n[0];
            for (int i = 0; i < n[0]; i++)
                d[base + step[0] * i] = row[i];
        }
    /* Affine: new column perm[a] = +-old column a; the new origin is the
     * world position of the old voxel that became (0, 0, 0). */
    double m[4][4] = {{0}}, o[3] = {0, 0, 0};
    for (int a = 0; a < 3; a++)
        o[a] = flip[a] ? n[a] - 1 : 0;
    double org[3];
    hx_volume_to_world(v, o[0], o[1], o[2], org);
    for (int a = 0; a < 3; a++)
        for (int w = 0; w < 3; w++)
            m[w][perm[a]] =
                flip[a] ? -v->ijk_to_lps[w][a] : v->ijk_to_lps[w][a];
    for (int w = 0; w < 3; w++)
        m[w][3] = org[w];
    m[3][3] = 1.0;
    free(v->data);
    v->data = d;
    v->nx = nn[0];
    v->ny = nn[1];
    v->nz = nn[2];
    memcpy(v->ijk_to_lps, m, sizeof m);
    hx__rd_spacing_from_affine(v);
    return SF_OK;
}
