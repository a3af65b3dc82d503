/*
 * png.c - PNG reading on libpng (classic API, setjmp errors); writing
 * straight to memory with libdeflate (below).
 */
#include "sf_int.h"

#include <libdeflate.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

typedef struct png_ctx {
    char msg[256];
} png_ctx;

static void on_error(png_structp p, png_const_charp m) {
    png_ctx *c = png_get_error_ptr(p);
    if (c) snprintf(c->msg, sizeof c->msg, "%s", m);
    png_longjmp(p, 1);
}

static void on_warning(png_structp p, png_const_charp m) {
    (void)p;
    (void)m; /* warnings (e.g. bad CRC in ancillary chunks) are not fatal */
}

/* PNG bytes are written here directly: signature, IHDR, IDAT (a zlib
 * stream from libdeflate, several times faster than zlib at the same
 * level and smaller), IEND. Filters, one per image kind, measured at
 * 1024x1024 level 1 on corpus samples: noisy 8-bit images gain ~8% size
 * from SUB at no cost; 16-bit label maps compress best with UP (a row is
 * mostly zeros below the one above it). */
static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* One chunk (length, type, data, CRC) at p; returns the bytes written. */
static size_t put_chunk(uint8_t *p, const char type[4], const uint8_t *data,
                        size_t n) {
    put32(p, (uint32_t)n);
    memcpy(p + 4, type, 4);
    if (n && data != p + 8) memmove(p + 8, data, n);
    put32(p + 8 + n, (uint32_t)libdeflate_crc32(0, p + 4, n + 4));
    return n + 12;
}

/* Filtered scanlines: per row its filter byte, then the row. */
static void filter_rows(const void *px, int nx, int ny, int bit_depth,
                        int channels, uint8_t *f) {
    size_t rb = (size_t)nx * (size_t)channels * (size_t)(bit_depth / 8);
    if (bit_depth == 8) { /* SUB: byte minus the byte one pixel left */
        const uint8_t *src = px;
        size_t bpp = (size_t)channels;
        for (int y = 0; y < ny; y++) {
            const uint8_t *s = src + (size_t)y * rb;
            uint8_t *d = f + (size_t)y * (rb + 1);
            d[0] = 1;
            for (size_t x = 0; x < bpp && x < rb; x++) d[1 + x] = s[x];
            for (size_t x = bpp; x < rb; x++) d[1 + x] = (uint8_t)(s[x] - s[x - bpp]);
        }
        return;
    }
    /* 16-bit, big-endian samples, UP: byte minus the byte above. */
    const uint16_t *src = px;
    size_t ns = (size_t)nx * (size_t)channels;
    for (int y = 0; y < ny; y++) {
        const uint16_t *s = src + (size_t)y * ns, *u = y ? s - ns : NULL;
        uint8_t *d = f + (size_t)y * (rb + 1);
        d[0] = 2;
        if (!u) {
            for (size_t x = 0; x < ns; x++) {
                d[1 + 2 * x] = (uint8_t)(s[x] >> 8);
                d[2 + 2 * x] = (uint8_t)s[x];
            }
        } else {
            for (size_t x = 0; x < ns; x++) {
                d[1 + 2 * x] = (uint8_t)((s[x] >> 8) - (u[x] >> 8));
                d[2 + 2 * x] = (uint8_t)(s[x] - u[x]);
            }
        }
    }
}

int sf__png_encode(const void *px, int nx, int ny, int bit_depth, int channels,
                   int level, uint8_t **out, size_t *out_n, sf_err *err) {
    *out = NULL;
    *out_n = 0;
    if (nx <= 0 || ny <= 0 || nx > SF_PNG_MAX_SIDE || ny > SF_PNG_MAX_SIDE ||
        level < 0 || level > 9 || (bit_depth != 8 && bit_depth != 16) ||
        (channels != 1 && channels != 3))
        return sf_err_set(err, SF_EINVAL, "bad PNG size, depth or level");
    size_t rb = (size_t)nx * (size_t)channels * (size_t)(bit_depth / 8);
    size_t n_raw = (rb + 1) * (size_t)ny;
    struct libdeflate_compressor *z = libdeflate_alloc_compressor(level);
    uint8_t *f = malloc(n_raw), *png = NULL;
    size_t bound = z ? libdeflate_zlib_compress_bound(z, n_raw) : 0;
    /* One IDAT chunk: at SF_PNG_MAX_SIDE the bound stays below the
     * chunk limit 2^31 - 1 (16384^2 x 3 bytes + overhead). */
    size_t cap = 8 + 25 + 12 + bound + 12;
    if (z && f) png = malloc(cap);
    if (!png) {
        libdeflate_free_compressor(z);
        free(f);
        return sf_err_set(err, SF_ENOMEM, "out of memory for a %dx%d PNG", nx, ny);
    }
    filter_rows(px, nx, ny, bit_depth, channels, f);
    static const uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    memcpy(png, sig, 8);
    uint8_t ihdr[13];
    put32(ihdr, (uint32_t)nx);
    put32(ihdr + 4, (uint32_t)ny);
    ihdr[8] = (uint8_t)bit_depth;
    ihdr[9] = channels == 3 ? 2 : 0; /* colour type: RGB or gray */
    ihdr[10] = ihdr[11] = ihdr[12] = 0; /* deflate, adaptive filters, no interlace */
    size_t at = 8 + put_chunk(png + 8, "IHDR", ihdr, 13);
    size_t zn = libdeflate_zlib_compress(z, f, n_raw, png + at + 8, bound);
    libdeflate_free_compressor(z);
    free(f);
    if (!zn) {
        free(png);
        return sf_err_set(err, SF_ENOMEM, "PNG encoding failed (deflate)");
    }
    at += put_chunk(png + at, "IDAT", png + at + 8, zn);
    at += put_chunk(png + at, "IEND", NULL, 0);
    *out = png;
    *out_n = at;
    return SF_OK;
}

int sf__write_file(const char *path, const void *data, size_t n, sf_err *err) {
    FILE *f = fopen(path, "wb");
    if (!f) return sf_err_set(err, SF_EIO, "%s: cannot create: %m", path);
    if (n && fwrite(data, 1, n, f) != n) {
        fclose(f);
        return sf_err_set(err, SF_EIO, "%s: write failed: %m", path);
    }
    if (fclose(f) != 0)
        return sf_err_set(err, SF_EIO, "%s: write failed: %m", path);
    return SF_OK;
}

static int write_png(const char *path, const void *px, int nx, int ny,
                     int bit_depth, int channels, int level, sf_err *err) {
    uint8_t *buf;
    size_t n;
    int rc = sf__png_encode(px, nx, ny, bit_depth, channels, level, &buf, &n, err);
    if (rc) return sf_err_wrap(err, "%s", path);
    rc = sf__write_file(path, buf, n, err);
    free(buf);
    return rc;
}

int sf_png_write_gray8(const char *path, const uint8_t *px, int nx, int ny,
                       int level, sf_err *err) {
    return write_png(path, px, nx, ny, 8, 1, level, err);
}

int sf_png_write_gray16(const char *path, const uint16_t *px, int nx, int ny,
                        int level, sf_err *err) {
    return write_png(path, px, nx, ny, 16, 1, level, err);
}

int sf_png_write_rgb8(const char *path, const uint8_t *rgb, int nx, int ny,
                      int level, sf_err *err) {
    return write_png(path, rgb, nx, ny, 8, 3, level, err);
}

/* want: 1 = gray8, 2 = gray16, 3 = rgb8 */
static int read_png(const char *path, int want, void **out, int *pnx, int *pny,
                    sf_err *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return sf_err_set(err, SF_EIO, "%s: cannot open: %m", path);
    unsigned char sig[8];
    if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8)) {
        fclose(f);
        return sf_err_set(err, SF_EFORMAT, "%s: not a PNG file", path);
    }
    png_ctx ctx = {{0}};
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx,
                                           on_error, on_warning);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    if (!p || !info) {
        png_destroy_read_struct(&p, &info, NULL);
        fclose(f);
        return sf_err_set(err, SF_ENOMEM, "%s: libpng init failed", path);
    }
    unsigned char *volatile data = NULL;
    unsigned char **volatile rows = NULL;
    if (setjmp(png_jmpbuf(p))) {
        png_destroy_read_struct(&p, &info, NULL);
        fclose(f);
        free(data);
        free(rows);
        return sf_err_set(err, SF_EFORMAT, "%s: corrupt or truncated PNG: %s",
                          path, ctx.msg);
    }
    png_set_user_limits(p, SF_PNG_MAX_SIDE, SF_PNG_MAX_SIDE);
    png_set_chunk_malloc_max(p, 64u << 20);
    png_init_io(p, f);
    png_set_sig_bytes(p, 8);
    png_read_info(p, info);
    png_uint_32 nx = png_get_image_width(p, info);
    png_uint_32 ny = png_get_image_height(p, info);
    int depth = png_get_bit_depth(p, info);
    int color = png_get_color_type(p, info);
    if (want == 2 && (depth != 16 || (color & PNG_COLOR_MASK_COLOR)))
        png_error(p, "expected a 16-bit grayscale PNG");
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(p);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(p);
    if (png_get_valid(p, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(p);
    if (want != 2 && depth == 16) png_set_strip_16(p);
    if (color & PNG_COLOR_MASK_ALPHA || png_get_valid(p, info, PNG_INFO_tRNS))
        png_set_strip_alpha(p);
    if (want == 1 && (color & PNG_COLOR_MASK_COLOR || color == PNG_COLOR_TYPE_PALETTE))
        png_set_rgb_to_gray_fixed(p, 1, -1, -1);
    if (want == 3 && !(color & PNG_COLOR_MASK_COLOR) && color != PNG_COLOR_TYPE_PALETTE)
        png_set_gray_to_rgb(p);
    if (want == 2) png_set_swap(p); /* to host order on little-endian */
    png_read_update_info(p, info);
    size_t rb = png_get_rowbytes(p, info);
    size_t expect = (size_t)nx * (want == 3 ? 3u : want == 2 ? 2u : 1u);
    if (rb != expect) png_error(p, "unexpected row layout");
    data = malloc(rb * ny);
    rows = malloc(sizeof *rows * ny);
    if (!data || !rows) png_error(p, "out of memory");
    for (png_uint_32 y = 0; y < ny; y++) rows[y] = data + y * rb;
    png_read_image(p, rows);
    png_read_end(p, NULL);
    png_destroy_read_struct(&p, &info, NULL);
    fclose(f);
    free(rows);
    *out = data;
    *pnx = (int)nx;
    *pny = (int)ny;
    return SF_OK;
}

int sf_png_read_gray8(const char *path, uint8_t **px, int *nx, int *ny,
                      sf_err *err) {
    return read_png(path, 1, (void **)px, nx, ny, err);
}

int sf_png_read_gray16(const char *path, uint16_t **px, int *nx, int *ny,
                       sf_err *err) {
    return read_png(path, 2, (void **)px, nx, ny, err);
}

int sf_png_read_rgb8(const char *path, uint8_t **rgb, int *nx, int *ny,
                     sf_err *err) {
    return read_png(path, 3, (void **)rgb, nx, ny, err);
}
