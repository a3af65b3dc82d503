/*
 * rd_nifti.c - NIfTI-1 and NIfTI-2 volumes (.nii, .nii.gz, .hdr/.img)
 * through nifticlib (Debian's libnifti2: nifti2_io reads both versions).
 *
 * Before nifticlib sees a file we read its fixed header ourselves (zlib's
 * gzread reads plain and gzip files alike) and check the limits of
 * readers.h: dimensions, a 3-D volume (dims 4..7 must be 1), a supported
 * datatype, vox_offset (header + extensions) <= HX_VOL_MAX_HEADER_BYTES,
 * and that the data fit in the file (gzip: within the inflate ratio), so
 * a tiny file can never make nifticlib allocate much. Geometry: the sform
 * when sform_code > 0, else the qform when qform_code > 0, else
 * diag(pixdim) with oriented = 0; NIfTI's RAS+ world becomes LPS+.
 * Values: scl_slope / scl_inter applied when slope is finite and not 0.
 * nifticlib parses the header and extensions and gives the geometry; the
 * voxels we read ourselves (read_nifti says why).
 */
#include "readers_int.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include <nifti2_io.h>

static const char *const suffixes[] = {".nii", ".nii.gz", ".hdr", NULL};

static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;
static void quiet(void) {
    nifti_set_debug_level(0); /* nifticlib prints at level >= 1 */
}

static int sniff(const uint8_t *h, size_t n) {
    if (n >= 348 &&
        (memcmp(h + 344, "n+1", 4) == 0 || memcmp(h + 344, "ni1", 4) == 0)) {
        int32_t s;
        memcpy(&s, h, 4);
        return s == 348 || s == 0x5C010000;
    }
    if (n >= 12 && (memcmp(h + 4, "n+2\0\r\n\032\n", 8) == 0 ||
                    memcmp(h + 4, "ni2\0\r\n\032\n", 8) == 0)) {
        int32_t s;
        memcpy(&s, h, 4);
        return s == 540 || s == 0x1C020000;
    }
    return 0;
}

static uint16_t sw16(uint16_t v, int s) {
    return s ? __builtin_bswap16(v) : v;
}
static uint32_t sw32(uint32_t v, int s) {
    return s ? __builtin_bswap32(v) : v;
}
static uint64_t sw64(uint64_t v, int s) {
    return s ? __builtin_bswap64(v) : v;
}

/* What we check before nifticlib reads the file. */
typedef struct nii_fixed {
    int version; /* 1 or 2 */
    int single;  /* 1: .nii (data in the same file) */
    int64_t dim[8];
    int datatype;
    double vox_offset;
} nii_fixed;

static int read_fixed(const char *path, nii_fixed *h, sf_err *err) {
    uint8_t b[540];
    gzFile g = gzopen(path, "rb");
    if (!g) return hx__rd_err(err, SF_EIO, path, "cannot open");
    int n = gzread(g, b, sizeof b);
    gzclose(g);
    if (n < 348)
        return hx__rd_err(err, SF_EFORMAT, path,
                          "truncated NIfTI header (%d bytes)", n < 0 ? 0 : n);
    int32_t s32;
    memcpy(&s32, b, 4);
    memset(h, 0, sizeof *h);
    if (s32 == 348 || s32 == 0x5C010000) {
        int sw = s32 != 348;
        nifti_1_header x;
        memcpy(&x, b, sizeof x);
        if (memcmp(x.magic, "n+1", 4) && memcmp(x.magic, "ni1", 4))
            return hx__rd_err(err, SF_EFORMAT, path, "bad NIfTI-1 magic");
        h->version = 1;
        h->single = x.magic[1] == '+';
        for (int i = 0; i < 8; i++)
            h->dim[i] = (int16_t)sw16((uint16_t)x.dim[i], sw);
        h->datatype = (int16_t)sw16((uint16_t)x.datatype, sw);
        uint32_t u;
        float f;
        memcpy(&u, &x.vox_offset, 4);
        u = sw32(u, sw);
        memcpy(&f, &u, 4);
        h->vox_offset = f;
    } else if (s32 == 540 || s32 == 0x1C020000) {
        if (n < 540)
            return hx__rd_err(err, SF_EFORMAT, path,
                              "truncated NIfTI-2 header (%d bytes)", n);
        int sw = s32 != 540;
        nifti_2_header x;
        memcpy(&x, b, sizeof x);
        if (memcmp(x.magic, "n+2", 4) && memcmp(x.magic, "ni2", 4))
            return hx__rd_err(err, SF_EFORMAT, path, "bad NIfTI-2 magic");
        h->version = 2;
        h->single = x.magic[1] == '+';
        for (int i = 0; i < 8; i++)
            h->dim[i] = (int64_t)sw64((uint64_t)x.dim[i], sw);
        h->datatype = (int16_t)sw16((uint16_t)x.datatype, sw);
        h->vox_offset = (double)(int64_t)sw64((uint64_t)x.vox_offset, sw);
    } else {
        return hx__rd_err(err, SF_EFORMAT, path,
                          "not a NIfTI file (sizeof_hdr %d)", (int)s32);
    }
    return SF_OK;
}

/* nifticlib datatype -> our element type, or -1. */
static int rd_type(int dt) {
    switch (dt) {
    case NIFTI_TYPE_UINT8: return HX_RD_U8;
    case NIFTI_TYPE_INT8: return HX_RD_I8;
    case NIFTI_TYPE_UINT16: return HX_RD_U16;
    case NIFTI_TYPE_INT16: return HX_RD_I16;
    case NIFTI_TYPE_UINT32: return HX_RD_U32;
    case NIFTI_TYPE_INT32: return HX_RD_I32;
    case NIFTI_TYPE_UINT64: return HX_RD_U64;
    case NIFTI_TYPE_INT64: return HX_RD_I64;
    case NIFTI_TYPE_FLOAT32: return HX_RD_F32;
    case NIFTI_TYPE_FLOAT64: return HX_RD_F64;
    default: return -1;
    }
}

static int is_gzip(const char *path) {
    FILE *f = fopen(path, "rb");
    unsigned char m[2] = {0, 0};
    size_t n = f ? fread(m, 1, 2, f) : 0;
    if (f) fclose(f);
    return n == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

/* The checks of the top of this file, on the fixed header. */
static int check_fixed(const char *path, const nii_fixed *h, sf_err *err) {
    int64_t nd = h->dim[0];
    if (nd < 1 || nd > 7)
        return hx__rd_err(err, SF_EFORMAT, path, "bad dim[0] = %lld",
                          (long long)nd);
    int64_t d[8];
    for (int i = 1; i < 8; i++)
        d[i] = i <= nd ? h->dim[i] : 1;
    for (int i = 1; i <= nd; i++)
        if (d[i] < 1)
            return hx__rd_err(err, SF_EFORMAT, path, "bad dim[%d] = %lld", i,
                              (long long)d[i]);
    int rc = hx__rd_check_dims(path, d[1], d[2], d[3], err);
    if (rc != SF_OK) return rc;
    for (int i = 4; i < 8; i++)
        if (d[i] != 1)
            return hx__rd_err(err, SF_EUNSUPPORTED, path,
                              "%d-D NIfTI (dim[%d] = %lld): only 3-D volumes "
                              "are read",
                              i, i, (long long)d[i]);
    int t = rd_type(h->datatype);
    if (t < 0)
        return hx__rd_err(err, SF_EUNSUPPORTED, path,
                          "NIfTI datatype %d not supported (integer or real "
                          "scalars only)",
                          h->datatype);
    if (!(h->vox_offset >= 0) || h->vox_offset > HX_VOL_MAX_HEADER_BYTES)
        return hx__rd_err(err, SF_ERANGE, path,
                          "vox_offset %.0f outside [0, %u] (header and "
                          "extensions limit)",
                          h->vox_offset, HX_VOL_MAX_HEADER_BYTES);
    /* Does the file hold what the header claims? */
    uint64_t need = (uint64_t)d[1] * d[2] * d[3] * hx__rd_type_size(t) +
                    (h->single ? (uint64_t)h->vox_offset : 0);
    char *img = h->single ? NULL
                          : nifti_findimgname(path, h->version == 1
                                                        ? NIFTI_FTYPE_NIFTI1_2
                                                        : NIFTI_FTYPE_NIFTI2_2);
    const char *dpath = h->single ? path : img;
    if (!dpath) return hx__rd_err(err, SF_EIO, path, "no .img file found");
    struct stat st;
    if (stat(dpath, &st) != 0) {
        rc = hx__rd_err(err, SF_EIO, path, "cannot stat data file %s", dpath);
    } else if (is_gzip(dpath)) {
        if (need / HX_VOL_MAX_INFLATE_RATIO > (uint64_t)st.st_size)
            rc = hx__rd_err(err, SF_EFORMAT, path,
                            "claims %llu bytes of data but the compressed "
                            "file has only %lld bytes (truncated or "
                            "corrupt)",
                            (unsigned long long)need, (long long)st.st_size);
    } else if (need > (uint64_t)st.st_size) {
        rc = hx__rd_err(err, SF_EFORMAT, path,
                        "truncated: needs %llu bytes, the file has %lld",
                        (unsigned long long)need, (long long)st.st_size);
    }
    free(img);
    return rc;
}

static int open_nifti(const char *path, hx_volume *hdr, void **state,
                      sf_err *err) {
    pthread_once(&quiet_once, quiet);
    *state = NULL;
    nii_fixed fx;
    int rc = read_fixed(path, &fx, err);
    if (rc == SF_OK) rc = check_fixed(path, &fx, err);
    if (rc != SF_OK) return rc;
    nifti_image *nim = nifti_image_read(path, 0);
    if (!nim)
        return hx__rd_err(err, SF_EFORMAT, path,
                          "nifticlib could not read the header (corrupt?)");
    if (nim->nx != fx.dim[1] || nim->ny != (fx.dim[0] >= 2 ? fx.dim[2] : 1) ||
        nim->nz != (fx.dim[0] >= 3 ? fx.dim[3] : 1) ||
        nim->nvox != nim->nx * nim->ny * nim->nz ||
        rd_type(nim->datatype) < 0 ||
        (size_t)nim->nbyper != hx__rd_type_size(rd_type(nim->datatype))) {
        rc = hx__rd_err(err, SF_EFORMAT, path, "inconsistent NIfTI header");
        goto out;
    }
    hdr->nx = (int)nim->nx;
    hdr->ny = (int)nim->ny;
    hdr->nz = (int)nim->nz;
    const nifti_dmat44 *m = NULL;
    if (nim->sform_code > 0)
        m = &nim->sto_xyz;
    else if (nim->qform_code > 0)
        m = &nim->qto_xyz;
    if (m) {
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) {
                double x = m->m[r][c];
                if (!isfinite(x)) {
                    rc = hx__rd_err(err, SF_EFORMAT, path,
                                    "non-finite %s matrix",
                                    nim->sform_code > 0 ? "sform" : "qform");
                    goto out;
                }
                /* RAS+ -> LPS+: negate the x and y rows. */
                hdr->ijk_to_lps[r][c] = r < 2 ? -x : x;
            }
        hdr->ijk_to_lps[3][0] = hdr->ijk_to_lps[3][1] = 0;
        hdr->ijk_to_lps[3][2] = 0;
        hdr->ijk_to_lps[3][3] = 1;
        hx__rd_spacing_from_affine(hdr);
        hdr->oriented = 1;
    } else {
        double s[3];
        for (int i = 0; i < 3; i++) {
            s[i] = fabs(nim->pixdim[i + 1]);
            if (!(s[i] > 0) || !isfinite(s[i])) s[i] = 1.0;
        }
        hx__rd_affine_diag(hdr, s[0], s[1], s[2]);
        hdr->oriented = 0;
    }
    *state = nim;
    nim = NULL;
out:
    nifti_image_free(nim);
    return rc;
}

/* Bytes [off, off + n) of a gzip file into dst, inflating the whole
 * stream (all members) so that its CRC and length trailers are checked:
 * zlib's gzread accepts a stream whose trailer is missing. At most 16 MiB
 * may follow the voxel data. Returns SF_OK or SF_EFORMAT / SF_EIO. */
static int read_gz(const char *path, uint64_t off, uint8_t *dst, size_t n,
                   sf_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return hx__rd_err(err, SF_EIO, path, "cannot open");
    enum { CHUNK = 1 << 17 };
    uint8_t *in = malloc(CHUNK), *junk = malloc(CHUNK);
    z_stream z;
    memset(&z, 0, sizeof z);
    int rc = SF_OK, zr = Z_OK, init = 0;
    uint64_t pos = 0, end = off + n, cap = end + (16u << 20);
    if (!in || !junk) {
        rc = hx__rd_err(err, SF_ENOMEM, path, "out of memory");
        goto out;
    }
    if (inflateInit2(&z, 15 + 16) != Z_OK) {
        rc = hx__rd_err(err, SF_ENOMEM, path, "zlib init failed");
        goto out;
    }
    init = 1;
    int eof = 0;
    for (;;) {
        if (z.avail_in == 0 && !eof) {
            size_t k = fread(in, 1, CHUNK, f);
            eof = k == 0;
            z.next_in = in;
            z.avail_in = (uInt)k;
        }
        if (zr == Z_STREAM_END) {
            /* A further gzip member (as gzread allows) only matters while
             * voxel data are missing; anything after them is ignored. */
            if (pos >= end || (z.avail_in == 0 && eof)) break;
            if (inflateReset(&z) != Z_OK) break;
        }
        /* Output: discard before off and after end; dst in between. */
        uint8_t *o;
        uint64_t room;
        if (pos < off) {
            o = junk;
            room = off - pos < CHUNK ? off - pos : CHUNK;
        } else if (pos < end) {
            o = dst + (pos - off);
            room = end - pos < (1u << 30) ? end - pos : (1u << 30);
        } else {
            o = junk;
            room = CHUNK;
        }
        z.next_out = o;
        z.avail_out = (uInt)room;
        zr = inflate(&z, Z_NO_FLUSH);
        pos += room - z.avail_out;
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
            rc = hx__rd_err(err, SF_EFORMAT, path, "corrupt gzip data: %s",
                            z.msg ? z.msg : "inflate failed");
            goto out;
        }
        if (zr == Z_BUF_ERROR && eof && z.avail_in == 0) break; /* stuck */
        if (pos > cap) break; /* a long tail: not ours to check */
    }
    if (ferror(f)) {
        rc = hx__rd_err(err, SF_EIO, path, "read error");
    } else if (pos < end) {
        rc = hx__rd_err(err, SF_EFORMAT, path,
                        "truncated: %llu of %llu bytes of header and voxel "
                        "data in the gzip stream",
                        (unsigned long long)pos, (unsigned long long)end);
    } else if (zr != Z_STREAM_END && pos <= cap) {
        rc = hx__rd_err(err, SF_EFORMAT, path,
                        "truncated gzip stream (no end-of-stream trailer)");
    }
out:
    if (init) inflateEnd(&z);
    free(in);
    free(junk);
    fclose(f);
    return rc;
}

/* Bytes [off, off + n) of a plain file. */
static int read_plain(const char *path, uint64_t off, uint8_t *dst, size_t n,
                      sf_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return hx__rd_err(err, SF_EIO, path, "cannot open");
    int rc = SF_OK;
    if (fseeko(f, (off_t)off, SEEK_SET) != 0 || fread(dst, 1, n, f) != n)
        rc = hx__rd_err(err, SF_EFORMAT, path,
                        "truncated: cannot read %zu bytes of voxel data", n);
    fclose(f);
    return rc;
}

/* The voxel data, read by us rather than by nifti_image_load, which stops
 * after the last voxel of a .nii.gz and so never checks the gzip trailer
 * (a file cut just before it, or with a corrupt CRC, would pass). */
static int read_nifti(void *state, const hx_volume *hdr, hx_volume **out,
                      sf_err *err) {
    nifti_image *nim = state;
    hx_volume *v = NULL;
    uint8_t *raw = NULL;
    int t = rd_type(nim->datatype);
    size_t n = (size_t)hdr->nx * hdr->ny * hdr->nz;
    size_t nbytes = n * hx__rd_type_size(t);
    int rc = hx__rd_volume_alloc(hdr, &v, err);
    if (rc != SF_OK) return rc;
    const char *dpath = nim->iname ? nim->iname : hdr->path;
    uint64_t off = nim->iname_offset > 0 ? (uint64_t)nim->iname_offset : 0;
    raw = malloc(nbytes);
    if (!raw) {
        rc = hx__rd_err(err, SF_ENOMEM, hdr->path, "out of memory");
        goto out;
    }
    rc = is_gzip(dpath) ? read_gz(dpath, off, raw, nbytes, err)
                        : read_plain(dpath, off, raw, nbytes, err);
    if (rc != SF_OK) goto out;
    int swap = nim->byteorder != nifti_short_order();
    hx__rd_to_float(raw, t, swap, n, v->data);
    double a = nim->scl_slope, b = nim->scl_inter;
    if (isfinite(a) && a != 0 && isfinite(b) && (a != 1 || b != 0))
        for (size_t i = 0; i < n; i++)
            v->data[i] = (float)(a * v->data[i] + b);
    *out = v;
    v = NULL;
out:
    free(raw);
    hx_volume_free(v);
    return rc;
}

static void close_nifti(void *state) {
    nifti_image_free(state);
}

const hx_reader_ops hx_reader_nifti = {
    "nifti", suffixes, sniff, open_nifti, read_nifti, close_nifti,
};
