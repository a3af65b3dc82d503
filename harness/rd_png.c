/*
 * rd_png.c - PNG images as 1-slice volumes (8-bit, or 16-bit grey kept at
 * 16 bits) through the factory's libpng reader, and the HC18 helper that
 * fills an ellipse outline annotation into a region mask.
 *
 * open reads only the IHDR chunk and checks the size against the volume
 * limits before libpng decodes anything. A PNG has no patient geometry:
 * spacing 1, oriented = 0 (HC18's pixel size comes from its CSV).
 */
#include "readers_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const suffixes[] = {".png", NULL};

static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static int sniff(const uint8_t *h, size_t n) {
    return n >= 8 && memcmp(h, png_sig, 8) == 0;
}

typedef struct png_state {
    int gray16; /* 16-bit greyscale: read at 16 bits */
} png_state;

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static int open_png(const char *path, hx_volume *hdr, void **state,
                    sf_err *err) {
    *state = NULL;
    uint8_t h[33];
    FILE *f = fopen(path, "rb");
    if (!f)
        return hx__rd_err(err, SF_EIO, path, "cannot open: %s",
                          strerror(errno));
    size_t n = fread(h, 1, sizeof h, f);
    fclose(f);
    if (n < sizeof h || memcmp(h, png_sig, 8) || memcmp(h + 12, "IHDR", 4))
        return hx__rd_err(err, SF_EFORMAT, path,
                          "not a PNG file, or truncated before IHDR");
    uint32_t w = be32(h + 16), ht = be32(h + 20);
    int depth = h[24], color = h[25];
    if (w > INT32_MAX || ht > INT32_MAX)
        return hx__rd_err(err, SF_ERANGE, path, "PNG size %ux%u too large", w,
                          ht);
    int rc = hx__rd_check_dims(path, w, ht, 1, err);
    if (rc != SF_OK) return rc;
    png_state *s = malloc(sizeof *s);
    if (!s) return hx__rd_err(err, SF_ENOMEM, path, "out of memory");
    s->gray16 = depth == 16 && (color == 0 || color == 4);
    hdr->nx = (int)w;
    hdr->ny = (int)ht;
    hdr->nz = 1;
    hx__rd_affine_diag(hdr, 1, 1, 1);
    hdr->oriented = 0;
    *state = s;
    return SF_OK;
}

static int read_png_vol(void *state, const hx_volume *hdr, hx_volume **out,
                        sf_err *err) {
    const png_state *s = state;
    void *px = NULL;
    int nx = 0, ny = 0, rc;
    hx_volume *v = NULL;
    rc = s->gray16
             ? sf_png_read_gray16(hdr->path, (uint16_t **)&px, &nx, &ny, err)
             : sf_png_read_gray8(hdr->path, (uint8_t **)&px, &nx, &ny, err);
    if (rc != SF_OK) return rc;
    if (nx != hdr->nx || ny != hdr->ny) {
        rc = hx__rd_err(err, SF_EFORMAT, hdr->path,
                        "decoded %dx%d, header said %dx%d", nx, ny, hdr->nx,
                        hdr->ny);
        goto out;
    }
    if ((rc = hx__rd_volume_alloc(hdr, &v, err)) != SF_OK) goto out;
    hx__rd_to_float(px, s->gray16 ? HX_RD_U16 : HX_RD_U8, 0, (size_t)nx * ny,
                    v->data);
    *out = v;
    v = NULL;
out:
    free(px);
    hx_volume_free(v);
    return rc;
}

static void close_png(void *state) {
    free(state);
}

const hx_reader_ops hx_reader_png = {
    "png", suffixes, sniff, open_png, read_png_vol, close_png,
};

/* ----------------------------------------------------------------- HC18 */

/* Flood the outside: from every border pixel that is not wall, through
 * 4-connected non-wall pixels. out[i] = 1 where reached. */
static int flood_outside(const uint8_t *wall, int nx, int ny, uint8_t *out) {
    size_t n = (size_t)nx * ny, head = 0, tail = 0;
    uint32_t *q = malloc(n * sizeof *q);
    if (!q) return SF_ENOMEM;
    memset(out, 0, n);
#define PUSH(i)                                                                \
    do {                                                                       \
        size_t i_ = (i);                                                       \
        if (!wall[i_] && !out[i_]) {                                           \
            out[i_] = 1;                                                       \
            q[tail++] = (uint32_t)i_;                                          \
        }                                                                      \
    } while (0)
    for (int x = 0; x < nx; x++) {
        PUSH((size_t)x);
        PUSH((size_t)(ny - 1) * nx + x);
    }
    for (int y = 0; y < ny; y++) {
        PUSH((size_t)y * nx);
        PUSH((size_t)y * nx + nx - 1);
    }
    while (head < tail) {
        size_t i = q[head++];
        int x = (int)(i % (size_t)nx), y = (int)(i / (size_t)nx);
        if (x > 0) PUSH(i - 1);
        if (x + 1 < nx) PUSH(i + 1);
        if (y > 0) PUSH(i - (size_t)nx);
        if (y + 1 < ny) PUSH(i + (size_t)nx);
    }
#undef PUSH
    free(q);
    return SF_OK;
}

/* dst = src dilated by a (2r+1)^2 square (separable max). */
static void dilate(const uint8_t *src, int nx, int ny, int r, uint8_t *tmp,
                   uint8_t *dst) {
    for (int y = 0; y < ny; y++) {
        const uint8_t *s = src + (size_t)y * nx;
        uint8_t *t = tmp + (size_t)y * nx;
        for (int x = 0; x < nx; x++) {
            int lo = x - r < 0 ? 0 : x - r, hi = x + r >= nx ? nx - 1 : x + r;
            uint8_t m = 0;
            for (int k = lo; k <= hi && !m; k++)
                m = s[k];
            t[x] = m;
        }
    }
    for (int y = 0; y < ny; y++) {
        int lo = y - r < 0 ? 0 : y - r, hi = y + r >= ny ? ny - 1 : y + r;
        for (int x = 0; x < nx; x++) {
            uint8_t m = 0;
            for (int k = lo; k <= hi && !m; k++)
                m = tmp[(size_t)k * nx + x];
            dst[(size_t)y * nx + x] = m;
        }
    }
}

int hx_hc18_fill_outline(const uint8_t *outline, int nx, int ny, uint8_t *mask,
                         int *gap_radius, sf_err *err) {
    if (!outline || !mask || nx < 1 || ny < 1 ||
        (uint64_t)nx * (uint64_t)ny > UINT32_MAX)
        return sf_err_set(err, SF_EINVAL, "hx_hc18_fill_outline: bad args");
    size_t n = (size_t)nx * ny, n_curve = 0;
    uint8_t *curve = malloc(n), *wall = malloc(n), *tmp = malloc(n);
    uint8_t *outside = malloc(n);
    int rc = SF_ENOMEM;
    if (!curve || !wall || !tmp || !outside) goto out;
    for (size_t i = 0; i < n; i++)
        n_curve += curve[i] = outline[i] > 127;
    if (n_curve == 0) {
        rc = sf_err_set(err, SF_EFORMAT, "annotation has no outline pixels");
        goto out;
    }
    for (int r = 0; r <= 3; r++) {
        if (r == 0)
            memcpy(wall, curve, n);
        else
            dilate(curve, nx, ny, r, tmp, wall);
        if (flood_outside(wall, nx, ny, outside) != SF_OK) goto out;
        /* Give the dilation's outer band back to the outside: r steps of
         * 4-connected growth through non-curve pixels. */
        for (int step = 0; step < r; step++) {
            memcpy(tmp, outside, n);
            for (int y = 0; y < ny; y++)
                for (int x = 0; x < nx; x++) {
                    size_t i = (size_t)y * nx + x;
                    if (tmp[i] || curve[i]) continue;
                    if ((x > 0 && tmp[i - 1]) || (x + 1 < nx && tmp[i + 1]) ||
                        (y > 0 && tmp[i - nx]) || (y + 1 < ny && tmp[i + nx]))
                        outside[i] = 1;
                }
        }
        size_t enclosed = 0;
        for (size_t i = 0; i < n; i++)
            enclosed += !outside[i] && !curve[i];
        if (enclosed >= n_curve) { /* a real region, not just the curve */
            for (size_t i = 0; i < n; i++)
                mask[i] = !outside[i];
            if (gap_radius) *gap_radius = r;
            rc = SF_OK;
            goto out;
        }
    }
    rc = sf_err_set(err, SF_EFORMAT,
                    "the outline does not enclose a region (gaps wider "
                    "than 6 px?)");
out:
    if (rc == SF_ENOMEM) sf_err_set(err, rc, "out of memory");
    free(curve);
    free(wall);
    free(tmp);
    free(outside);
    return rc;
}

int hx_hc18_read_annotation(const char *path, uint8_t **mask, int *nx, int *ny,
                            int *gap_radius, sf_err *err) {
    if (!mask) return sf_err_set(err, SF_EINVAL, "NULL mask");
    *mask = NULL;
    hx_reader *r = NULL;
    uint8_t *px = NULL, *m = NULL;
    int w = 0, h = 0;
    /* Through the PNG reader's open: the size limits come first. */
    int rc = hx_reader_open_with(&hx_reader_png, path, &r, err);
    if (rc != SF_OK) goto out;
    if ((rc = sf_png_read_gray8(path, &px, &w, &h, err)) != SF_OK) goto out;
    m = malloc((size_t)w * h);
    if (!m) {
        rc = hx__rd_err(err, SF_ENOMEM, path, "out of memory");
        goto out;
    }
    rc = hx_hc18_fill_outline(px, w, h, m, gap_radius, err);
    if (rc != SF_OK) {
        if (err) {
            sf_err_wrap(err, "%s", path);
            snprintf(err->where, sizeof err->where, "%s", path);
        }
        goto out;
    }
    *mask = m;
    m = NULL;
    if (nx) *nx = w;
    if (ny) *ny = h;
out:
    hx_reader_close(r);
    free(px);
    free(m);
    return rc;
}
