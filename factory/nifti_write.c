/*
 * nifti_write.c - a small NIfTI-1 writer for 2-D images (.nii.gz), the
 * files of an nnU-Net export (sf_export.h says what the header holds).
 *
 * Field offsets are those of nifti1.h's struct nifti_1_header (348 bytes,
 * packed); every value is written little-endian whatever the host.
 * The harness reads these files back with nifticlib in its tests
 * (tests/harness/test_export.c); the factory itself does not depend on
 * the harness.
 */
#include "sf_export.h"
#include "sf_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum {
    HDR_BYTES = 348,
    VOX_OFFSET = 352, /* header + the 4-byte extension flag */
    NIFTI_XFORM_SCANNER_ANAT = 1,
    NIFTI_UNITS_MM = 2,
    MAX_SIDE = 32767 /* dim[] is a short */
};

static void put16(uint8_t *p, int v) {
    uint16_t u = (uint16_t)(int16_t)v;
    p[0] = (uint8_t)u;
    p[1] = (uint8_t)(u >> 8);
}

static void put32(uint8_t *p, uint32_t u) {
    p[0] = (uint8_t)u;
    p[1] = (uint8_t)(u >> 8);
    p[2] = (uint8_t)(u >> 16);
    p[3] = (uint8_t)(u >> 24);
}

static void put_i32(uint8_t *p, int32_t v) {
    put32(p, (uint32_t)v);
}

static void put_f32(uint8_t *p, double v) {
    float f = (float)v;
    uint32_t u;
    memcpy(&u, &f, 4);
    put32(p, u);
}

/* The 352 bytes before the voxels. */
static void build_header(uint8_t h[VOX_OFFSET], int nx, int ny, int datatype,
                         const double sp[3], const char *descrip) {
    memset(h, 0, VOX_OFFSET);
    put_i32(h + 0, HDR_BYTES); /* sizeof_hdr */
    h[38] = 'r';               /* regular (ANALYZE legacy) */
    put16(h + 40, 3);          /* dim[0]: a 3-D volume ... */
    put16(h + 42, nx);         /* dim[1]: i, columns */
    put16(h + 44, ny);         /* dim[2]: j, rows */
    put16(h + 46, 1);          /* dim[3]: k, one slice */
    for (int d = 4; d < 8; d++)
        put16(h + 40 + 2 * d, 1);
    put16(h + 70, datatype);
    put16(h + 72, datatype == SF_NIFTI_UINT16 ? 16 : 8); /* bitpix */
    put_f32(h + 76, 1.0);                                /* pixdim[0] = qfac */
    put_f32(h + 80, sp[0]);
    put_f32(h + 84, sp[1]);
    put_f32(h + 88, sp[2]);
    for (int d = 4; d < 8; d++)
        put_f32(h + 76 + 4 * d, 1.0);
    put_f32(h + 108, VOX_OFFSET); /* vox_offset */
    put_f32(h + 112, 1.0);        /* scl_slope: values as stored */
    put_f32(h + 116, 0.0);        /* scl_inter */
    h[123] = NIFTI_UNITS_MM;      /* xyzt_units */
    if (descrip) {
        size_t n = strlen(descrip);
        memcpy(h + 148, descrip, n > 79 ? 79 : n);
    }
    put16(h + 252, NIFTI_XFORM_SCANNER_ANAT); /* qform_code */
    put16(h + 254, NIFTI_XFORM_SCANNER_ANAT); /* sform_code */
    /* qform: rotation diag(-1, -1, 1) = 180 degrees about z, i.e.
     * quaternion (a, b, c, d) = (0, 0, 0, 1); offsets 0. */
    put_f32(h + 256, 0.0);
    put_f32(h + 260, 0.0);
    put_f32(h + 264, 1.0);
    /* sform rows (RAS+ mm): x = -sx i, y = -sy j, z = sz k. */
    put_f32(h + 280, -sp[0]);
    put_f32(h + 300, -sp[1]);
    put_f32(h + 320, sp[2]);
    memcpy(h + 344, "n+1", 4); /* magic, with its NUL */
}

int sf_nifti_encode_2d(const void *px, int nx, int ny, int datatype,
                       const double spacing_mm[3], const char *descrip,
                       int gzip_level, uint8_t **out, size_t *out_n,
                       sf_err *err) {
    int rc = SF_OK, zinit = 0;
    uint8_t hdr[VOX_OFFSET], *buf = NULL, *le = NULL;
    z_stream z;
    if (!px || !out || !out_n || !spacing_mm)
        return sf_err_set(err, SF_EINVAL, "NIfTI: NULL argument");
    if (nx < 1 || ny < 1 || nx > MAX_SIDE || ny > MAX_SIDE)
        return sf_err_set(err, SF_EINVAL, "NIfTI: bad size %dx%d", nx, ny);
    if (datatype != SF_NIFTI_UINT8 && datatype != SF_NIFTI_UINT16)
        return sf_err_set(err, SF_EINVAL, "NIfTI: unsupported datatype %d",
                          datatype);
    for (int d = 0; d < 3; d++)
        if (!isfinite(spacing_mm[d]) || spacing_mm[d] <= 0)
            return sf_err_set(err, SF_EINVAL, "NIfTI: bad spacing %g",
                              spacing_mm[d]);
    if (gzip_level == -1)
        gzip_level = Z_DEFAULT_COMPRESSION;
    else if (gzip_level < 1 || gzip_level > 9)
        return sf_err_set(err, SF_EINVAL, "NIfTI: gzip level %d not 1..9",
                          gzip_level);

    build_header(hdr, nx, ny, datatype, spacing_mm, descrip);
    size_t n_px = (size_t)nx * (size_t)ny;
    size_t n_data = datatype == SF_NIFTI_UINT16 ? 2 * n_px : n_px;
    const uint8_t *data = px;
    if (datatype == SF_NIFTI_UINT16) {
        /* Little-endian bytes whatever the host. */
        const uint16_t *p16 = px;
        le = malloc(n_data);
        if (!le) {
            rc = sf_err_set(err, SF_ENOMEM, "NIfTI: out of memory");
            goto out;
        }
        for (size_t i = 0; i < n_px; i++) {
            le[2 * i] = (uint8_t)p16[i];
            le[2 * i + 1] = (uint8_t)(p16[i] >> 8);
        }
        data = le;
    }

    memset(&z, 0, sizeof z);
    /* windowBits 15 + 16: a gzip wrapper with zlib's default header
     * (no name, mtime 0). */
    if (deflateInit2(&z, gzip_level, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        rc = sf_err_set(err, SF_ENOMEM, "NIfTI: deflateInit2 failed");
        goto out;
    }
    zinit = 1;
    uLong cap = deflateBound(&z, (uLong)(VOX_OFFSET + n_data));
    buf = malloc(cap);
    if (!buf) {
        rc = sf_err_set(err, SF_ENOMEM, "NIfTI: out of memory");
        goto out;
    }
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    z.next_in = hdr;
    z.avail_in = VOX_OFFSET;
    int zr = deflate(&z, Z_NO_FLUSH);
    if (zr == Z_OK) {
        z.next_in = (Bytef *)data;
        z.avail_in = (uInt)n_data;
        zr = deflate(&z, Z_FINISH);
    }
    if (zr != Z_STREAM_END) {
        rc = sf_err_set(err, SF_ENOMEM, "NIfTI: deflate failed (%d)", zr);
        goto out;
    }
    *out = buf;
    *out_n = (size_t)z.total_out;
    buf = NULL;
out:
    if (zinit) deflateEnd(&z);
    free(buf);
    free(le);
    return rc;
}

int sf_nifti_write_2d(const char *path, const void *px, int nx, int ny,
                      int datatype, const double spacing_mm[3],
                      const char *descrip, int gzip_level, sf_err *err) {
    uint8_t *b = NULL;
    size_t n = 0;
    int rc = sf_nifti_encode_2d(px, nx, ny, datatype, spacing_mm, descrip,
                                gzip_level, &b, &n, err);
    if (rc) return sf_err_wrap(err, "%s", path ? path : "(null)");
    rc = sf__write_file(path, b, n, err);
    free(b);
    return rc;
}
