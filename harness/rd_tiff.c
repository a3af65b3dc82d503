/*
 * rd_tiff.c - TIFF through libtiff: greyscale (MinIsBlack, or MinIsWhite
 * for unsigned data, inverted) with 8 or 16 bits (unsigned or signed) or
 * 32-bit float samples, one sample per pixel, strips or tiles, any
 * compression libtiff decodes. Every page (IFD) is one slice: nz = pages,
 * all of one size and sample format. No patient geometry (oriented = 0);
 * the pixel size comes from X/YResolution when ResolutionUnit is inch or
 * centimetre, else 1 (z spacing 1).
 *
 * open walks all directories and checks sizes, page count and formats
 * before anything is decoded; libtiff itself is opened with a 256 MiB cap
 * on any single allocation and its messages go to our sf_err, not stderr.
 */
#include "readers_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

#define TIFF_MAX_ALLOC ((tmsize_t)256 << 20)

static const char *const suffixes[] = {".tif", ".tiff", NULL};

static int sniff(const uint8_t *h, size_t n) {
    if (n < 4) return 0;
    return (h[0] == 'I' && h[1] == 'I' && (h[2] == 42 || h[2] == 43) &&
            h[3] == 0) ||
           (h[0] == 'M' && h[1] == 'M' && h[2] == 0 &&
            (h[3] == 42 || h[3] == 43));
}

typedef struct tiff_state {
    TIFF *tif;
    int type;      /* enum hx__rd_type */
    int invert;    /* MinIsWhite */
    int bps;       /* bits per sample */
    char msg[256]; /* libtiff's last error */
} tiff_state;

static int on_error(TIFF *tif, void *user, const char *module, const char *fmt,
                    va_list ap) {
    (void)tif;
    tiff_state *s = user;
    char m[200];
    vsnprintf(m, sizeof m, fmt, ap);
    snprintf(s->msg, sizeof s->msg, "%s%s%s", module ? module : "",
             module ? ": " : "", m);
    return 1; /* handled: libtiff prints nothing */
}

static int on_warning(TIFF *tif, void *user, const char *module,
                      const char *fmt, va_list ap) {
    (void)tif, (void)user, (void)module, (void)fmt, (void)ap;
    return 1;
}

static void close_tiff(void *state) {
    tiff_state *s = state;
    if (!s) return;
    if (s->tif) TIFFClose(s->tif);
    free(s);
}

/* The format of the current directory, checked. */
static int dir_format(const char *path, tiff_state *s, int page, uint32_t *w,
                      uint32_t *h, int *type, int *invert, sf_err *err) {
    TIFF *t = s->tif;
    uint16_t spp = 1, bps = 1, fmt = SAMPLEFORMAT_UINT, photo = 0;
    if (!TIFFGetField(t, TIFFTAG_IMAGEWIDTH, w) ||
        !TIFFGetField(t, TIFFTAG_IMAGELENGTH, h))
        return hx__rd_err(err, SF_EFORMAT, path, "page %d has no size", page);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &fmt);
    if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photo))
        photo = PHOTOMETRIC_MINISBLACK;
    int rc = hx__rd_check_dims(path, *w, *h, 1, err);
    if (rc != SF_OK) return rc;
    if (spp != 1 ||
        (photo != PHOTOMETRIC_MINISBLACK && photo != PHOTOMETRIC_MINISWHITE))
        return hx__rd_err(err, SF_EUNSUPPORTED, path,
                          "page %d: %u samples per pixel, photometric %u: "
                          "only greyscale TIFF is read",
                          page, spp, photo);
    *type = -1;
    if (fmt == SAMPLEFORMAT_UINT && bps == 8)
        *type = HX_RD_U8;
    else if (fmt == SAMPLEFORMAT_UINT && bps == 16)
        *type = HX_RD_U16;
    else if (fmt == SAMPLEFORMAT_INT && bps == 8)
        *type = HX_RD_I8;
    else if (fmt == SAMPLEFORMAT_INT && bps == 16)
        *type = HX_RD_I16;
    else if (fmt == SAMPLEFORMAT_IEEEFP && bps == 32)
        *type = HX_RD_F32;
    if (*type < 0)
        return hx__rd_err(err, SF_EUNSUPPORTED, path,
                          "page %d: %u-bit samples of format %u not "
                          "supported (8/16-bit integer, 32-bit float)",
                          page, bps, fmt);
    *invert = photo == PHOTOMETRIC_MINISWHITE;
    if (*invert && *type != HX_RD_U8 && *type != HX_RD_U16)
        return hx__rd_err(err, SF_EUNSUPPORTED, path,
                          "page %d: MinIsWhite with signed or float data",
                          page);
    return SF_OK;
}

static double res_mm(TIFF *t, ttag_t tag) {
    float r = 0;
    uint16_t unit = RESUNIT_NONE;
    TIFFGetFieldDefaulted(t, TIFFTAG_RESOLUTIONUNIT, &unit);
    if (!TIFFGetField(t, tag, &r) || !(r > 0) || !isfinite(r)) return 1.0;
    if (unit == RESUNIT_INCH) return 25.4 / r;
    if (unit == RESUNIT_CENTIMETER) return 10.0 / r;
    return 1.0;
}

static int open_tiff(const char *path, hx_volume *hdr, void **state,
                     sf_err *err) {
    *state = NULL;
    tiff_state *s = calloc(1, sizeof *s);
    if (!s) return hx__rd_err(err, SF_ENOMEM, path, "out of memory");
    int rc = SF_OK;
    TIFFOpenOptions *o = TIFFOpenOptionsAlloc();
    if (!o) {
        rc = hx__rd_err(err, SF_ENOMEM, path, "out of memory");
        goto out;
    }
    TIFFOpenOptionsSetMaxSingleMemAlloc(o, TIFF_MAX_ALLOC);
    TIFFOpenOptionsSetErrorHandlerExtR(o, on_error, s);
    TIFFOpenOptionsSetWarningHandlerExtR(o, on_warning, s);
    s->tif = TIFFOpenExt(path, "r", o);
    TIFFOpenOptionsFree(o);
    if (!s->tif) {
        rc = hx__rd_err(err, SF_EFORMAT, path, "not a readable TIFF: %s",
                        s->msg[0] ? s->msg : "open failed");
        goto out;
    }
    uint32_t w0 = 0, h0 = 0;
    int pages = 0;
    do {
        uint32_t w = 0, h = 0;
        int type = -1, invert = 0;
        if ((rc = dir_format(path, s, pages, &w, &h, &type, &invert, err)) !=
            SF_OK)
            goto out;
        if (pages == 0) {
            w0 = w;
            h0 = h;
            s->type = type;
            s->invert = invert;
        } else if (w != w0 || h != h0 || type != s->type ||
                   invert != s->invert) {
            rc = hx__rd_err(err, SF_EFORMAT, path,
                            "page %d is %ux%u, page 0 is %ux%u (or their "
                            "sample formats differ)",
                            pages, w, h, w0, h0);
            goto out;
        }
        if (++pages > HX_VOL_MAX_SIDE) {
            rc = hx__rd_err(err, SF_ERANGE, path, "more than %d pages",
                            HX_VOL_MAX_SIDE);
            goto out;
        }
    } while (TIFFReadDirectory(s->tif));
    if (s->msg[0]) {
        /* TIFFReadDirectory failed on a broken IFD chain, not at its end. */
        rc = hx__rd_err(err, SF_EFORMAT, path, "corrupt TIFF: %s", s->msg);
        goto out;
    }
    if ((rc = hx__rd_check_dims(path, w0, h0, pages, err)) != SF_OK) goto out;
    if (!TIFFSetDirectory(s->tif, 0)) {
        rc = hx__rd_err(err, SF_EFORMAT, path, "corrupt TIFF: %s", s->msg);
        goto out;
    }
    s->bps = (int)hx__rd_type_size(s->type) * 8;
    hdr->nx = (int)w0;
    hdr->ny = (int)h0;
    hdr->nz = pages;
    hx__rd_affine_diag(hdr, res_mm(s->tif, TIFFTAG_XRESOLUTION),
                       res_mm(s->tif, TIFFTAG_YRESOLUTION), 1.0);
    hdr->oriented = 0;
    *state = s;
    s = NULL;
out:
    close_tiff(s);
    return rc;
}

/* Decode the current directory into dst (nx * ny elements of the type). */
static int read_page(const char *path, tiff_state *s, int nx, int ny,
                     uint8_t *dst, uint8_t *tmp, size_t tmp_bytes,
                     sf_err *err) {
    TIFF *t = s->tif;
    size_t es = hx__rd_type_size(s->type);
    if (TIFFIsTiled(t)) {
        uint32_t tw = 0, th = 0;
        TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
        TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
        if (!tw || !th || (size_t)tw * th * es > tmp_bytes)
            return hx__rd_err(err, SF_EFORMAT, path, "bad tile size");
        for (uint32_t y = 0; y < (uint32_t)ny; y += th)
            for (uint32_t x = 0; x < (uint32_t)nx; x += tw) {
                uint32_t tile = TIFFComputeTile(t, x, y, 0, 0);
                tmsize_t want = (tmsize_t)((size_t)tw * th * es);
                if (TIFFReadEncodedTile(t, tile, tmp, want) != want)
                    return hx__rd_err(err, SF_EFORMAT, path,
                                      "corrupt or truncated tile %u: %s", tile,
                                      s->msg);
                uint32_t cw = x + tw > (uint32_t)nx ? nx - x : tw;
                uint32_t ch = y + th > (uint32_t)ny ? ny - y : th;
                for (uint32_t r = 0; r < ch; r++)
                    memcpy(dst + ((size_t)(y + r) * nx + x) * es,
                           tmp + (size_t)r * tw * es, (size_t)cw * es);
            }
        return SF_OK;
    }
    uint32_t rps = 0;
    TIFFGetFieldDefaulted(t, TIFFTAG_ROWSPERSTRIP, &rps);
    if (rps == 0 || rps > (uint32_t)ny) rps = (uint32_t)ny;
    size_t row_bytes = (size_t)nx * es;
    if ((size_t)TIFFScanlineSize64(t) != row_bytes)
        return hx__rd_err(err, SF_EFORMAT, path, "unexpected row layout");
    for (uint32_t y = 0; y < (uint32_t)ny; y += rps) {
        uint32_t rows = y + rps > (uint32_t)ny ? ny - y : rps;
        tmsize_t want = (tmsize_t)(rows * row_bytes);
        tstrip_t strip = TIFFComputeStrip(t, y, 0);
        if (TIFFReadEncodedStrip(t, strip, dst + y * row_bytes, want) != want)
            return hx__rd_err(err, SF_EFORMAT, path,
                              "corrupt or truncated strip %u: %s", strip,
                              s->msg);
    }
    return SF_OK;
}

static int read_tiff(void *state, const hx_volume *hdr, hx_volume **out,
                     sf_err *err) {
    tiff_state *s = state;
    const char *path = hdr->path;
    hx_volume *v = NULL;
    uint8_t *page = NULL, *tmp = NULL;
    size_t tmp_bytes = 0;
    int rc = hx__rd_volume_alloc(hdr, &v, err);
    if (rc != SF_OK) return rc;
    size_t npx = (size_t)hdr->nx * hdr->ny, es = hx__rd_type_size(s->type);
    page = malloc(npx * es);
    if (TIFFSetDirectory(s->tif, 0) && TIFFIsTiled(s->tif)) {
        tmsize_t ts = TIFFTileSize(s->tif);
        tmp_bytes = ts > 0 && ts <= TIFF_MAX_ALLOC ? (size_t)ts : 0;
        tmp = tmp_bytes ? malloc(tmp_bytes) : NULL;
        if (!tmp_bytes) {
            rc = hx__rd_err(err, SF_EFORMAT, path, "bad tile size");
            goto out;
        }
    }
    if (!page || (tmp_bytes && !tmp)) {
        rc = hx__rd_err(err, SF_ENOMEM, path, "out of memory");
        goto out;
    }
    for (int k = 0; k < hdr->nz; k++) {
        if (!TIFFSetDirectory(s->tif, (tdir_t)k)) {
            rc = hx__rd_err(err, SF_EFORMAT, path, "cannot read page %d: %s", k,
                            s->msg);
            goto out;
        }
        if (TIFFIsTiled(s->tif) && (size_t)TIFFTileSize(s->tif) > tmp_bytes) {
            rc = hx__rd_err(err, SF_EFORMAT, path,
                            "page %d: tiles differ from page 0", k);
            goto out;
        }
        if ((rc = read_page(path, s, hdr->nx, hdr->ny, page, tmp, tmp_bytes,
                            err)) != SF_OK)
            goto out;
        float *dst = v->data + (size_t)k * npx;
        hx__rd_to_float(page, s->type, 0, npx, dst);
        if (s->invert) {
            float mx = s->type == HX_RD_U8 ? 255.0f : 65535.0f;
            for (size_t i = 0; i < npx; i++)
                dst[i] = mx - dst[i];
        }
    }
    *out = v;
    v = NULL;
out:
    free(page);
    free(tmp);
    hx_volume_free(v);
    return rc;
}

const hx_reader_ops hx_reader_tiff = {
    "tiff", suffixes, sniff, open_tiff, read_tiff, close_tiff,
};
