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
#include <sys/stat.h>

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
 * stream: level 1 from the RLE coder below, other levels from libdeflate,
 * several times faster than zlib at the same level and smaller), IEND. Filters,
 * one per image kind, measured at 1024x1024 level 1 on corpus samples: noisy
 * 8-bit images gain ~8% size from SUB at no cost; 16-bit label maps compress
 * best with UP (a row is mostly zeros below the one above it). */
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
            for (size_t x = 0; x < bpp && x < rb; x++)
                d[1 + x] = s[x];
            for (size_t x = bpp; x < rb; x++)
                d[1 + x] = (uint8_t)(s[x] - s[x - bpp]);
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

/* ---------------------------------------------------- fast RLE deflate */

/*
 * Level 1: a deflate stream of literals and distance-1 matches (runs of
 * the previous byte) in dynamic-Huffman blocks, as zlib's Z_RLE strategy
 * makes, but without a match finder: measured at 1024x1024 on corpus
 * samples it is ~3x faster than libdeflate level 1 and no larger (noisy
 * SUB-filtered images; UP-filtered label maps are mostly runs of zeros).
 */
#define RLE_BLOCK  (1u << 17) /* input bytes per block */
#define RLE_MAXLEN 258

typedef struct bitw {
    uint8_t *p;
    uint64_t acc;
    int n;
} bitw;

static inline void bw_put(bitw *w, uint32_t bits, int n) {
    w->acc |= (uint64_t)bits << w->n;
    w->n += n;
    if (w->n >= 32) {
        w->p[0] = (uint8_t)w->acc;
        w->p[1] = (uint8_t)(w->acc >> 8);
        w->p[2] = (uint8_t)(w->acc >> 16);
        w->p[3] = (uint8_t)(w->acc >> 24);
        w->p += 4;
        w->acc >>= 32;
        w->n -= 32;
    }
}

static void bw_flush(bitw *w) {
    while (w->n > 0) {
        *w->p++ = (uint8_t)w->acc;
        w->acc >>= 8;
        w->n -= 8;
    }
    w->n = 0;
    w->acc = 0;
}

/* Huffman code lengths (<= maxlen) for freq[0 .. n); unused symbols get 0.
 * Plain Huffman by repeated merging of the two lightest trees; if the
 * longest code is too long, the frequencies are flattened and it is
 * rebuilt. At least two symbols get a code (deflate's decoders want a
 * complete code). */
static void huff_lengths(const uint32_t *freq, int n, int maxlen,
                         uint8_t *len) {
    uint32_t f[320];
    int sym[320], parent[640], nn;
    uint64_t w[640];
    for (int i = 0; i < n; i++)
        f[i] = freq[i];
    for (;;) {
        nn = 0;
        for (int i = 0; i < n; i++)
            if (f[i]) sym[nn++] = i;
        for (int i = 0; nn < 2 && i < n; i++) /* pad to two codes */
            if (!f[i]) f[i] = 1, sym[nn++] = i;
        if (nn < 2) { /* n < 2: cannot happen for deflate's alphabets */
            memset(len, 0, (size_t)n);
            return;
        }
        /* Sort leaves by weight (insertion sort on small counts, stable by
         * symbol), then merge with the two-queue method. */
        for (int i = 1; i < nn; i++) {
            int s = sym[i], j = i;
            while (j > 0 && f[sym[j - 1]] > f[s])
                sym[j] = sym[j - 1], j--;
            sym[j] = s;
        }
        for (int i = 0; i < nn; i++)
            w[i] = f[sym[i]];
        int leaf = 0, node = nn, nodes_end = nn;
        for (int k = 0; k < nn - 1; k++) {
            int pick[2];
            for (int t = 0; t < 2; t++) {
                if (leaf < nn && (node >= nodes_end || w[leaf] <= w[node]))
                    pick[t] = leaf++;
                else
                    pick[t] = node++;
            }
            w[nodes_end] = w[pick[0]] + w[pick[1]];
            parent[pick[0]] = parent[pick[1]] = nodes_end;
            nodes_end++;
        }
        /* depths: root is nodes_end - 1 */
        uint8_t depth[640];
        depth[nodes_end - 1] = 0;
        int too_long = 0;
        for (int i = nodes_end - 2; i >= 0; i--) {
            depth[i] = (uint8_t)(depth[parent[i]] + 1);
            if (i < nn && depth[i] > maxlen) too_long = 1;
        }
        if (!too_long) {
            memset(len, 0, (size_t)n);
            for (int i = 0; i < nn; i++)
                len[sym[i]] = depth[i];
            return;
        }
        for (int i = 0; i < n; i++)
            if (f[i]) f[i] = (f[i] >> 1) | 1;
    }
}

/* Canonical codes, bit-reversed for LSB-first output. */
static void huff_codes(const uint8_t *len, int n, uint16_t *code) {
    int count[16] = {0}, next[16];
    for (int i = 0; i < n; i++)
        count[len[i]]++;
    count[0] = 0;
    int c = 0;
    for (int b = 1; b < 16; b++) {
        c = (c + count[b - 1]) << 1;
        next[b] = c;
    }
    for (int i = 0; i < n; i++) {
        if (!len[i]) {
            code[i] = 0;
            continue;
        }
        unsigned v = (unsigned)next[len[i]]++, r = 0;
        for (int b = 0; b < len[i]; b++)
            r |= ((v >> b) & 1u) << (len[i] - 1 - b);
        code[i] = (uint16_t)r;
    }
}

/* deflate length symbols 257..285: base lengths and extra bits */
static const uint16_t len_base[29] = {
    3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
    31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1,
                                      1, 1, 2, 2, 2, 2, 3, 3, 3, 3,
                                      4, 4, 4, 4, 5, 5, 5, 5, 0};

/* One dynamic block of tokens tok[0 .. nt): t < 256 a literal, else a
 * match of length t - 256 at distance 1. */
static void rle_block(bitw *w, const uint16_t *tok, size_t nt, int final,
                      const uint8_t *len_sym) {
    uint32_t lf[286] = {0}, df[30] = {0};
    for (size_t i = 0; i < nt; i++)
        lf[tok[i] < 256 ? tok[i] : 257 + len_sym[tok[i] - 256]]++;
    lf[256] = 1;
    df[0] = df[1] = 1; /* distance 1 only; two codes keep the code complete */
    uint8_t ll[286 + 30], *dl = ll + 286;
    huff_lengths(lf, 286, 15, ll);
    huff_lengths(df, 30, 15, dl);
    int hlit = 286, hdist = 30;
    while (hlit > 257 && !ll[hlit - 1])
        hlit--;
    while (hdist > 1 && !dl[hdist - 1])
        hdist--;
    /* code lengths of both trees, run-length coded (16, 17, 18) */
    uint8_t all[286 + 30], cls[286 + 30], clx[286 + 30];
    int na = 0, nc = 0;
    for (int i = 0; i < hlit; i++)
        all[na++] = ll[i];
    for (int i = 0; i < hdist; i++)
        all[na++] = dl[i];
    uint32_t cf[19] = {0};
    for (int i = 0; i < na;) {
        int v = all[i], r = 1;
        while (i + r < na && all[i + r] == v)
            r++;
        if (v == 0 && r >= 11) {
            int m = r > 138 ? 138 : r;
            cls[nc] = 18, clx[nc++] = (uint8_t)(m - 11), i += m;
        } else if (v == 0 && r >= 3) {
            cls[nc] = 17, clx[nc++] = (uint8_t)(r - 3), i += r;
        } else if (v != 0 && r >= 4) {
            cls[nc] = (uint8_t)v, clx[nc++] = 0, i++;
            int m = r - 1 > 6 ? 6 : r - 1;
            cls[nc] = 16, clx[nc++] = (uint8_t)(m - 3), i += m;
        } else {
            cls[nc] = (uint8_t)v, clx[nc++] = 0, i++;
        }
    }
    for (int i = 0; i < nc; i++)
        /* cppcheck-suppress uninitvar ; cls[0 .. nc) set */
        cf[cls[i]]++;
    uint8_t cl[19];
    uint16_t cc[19], lc[286], dc[30];
    huff_lengths(cf, 19, 7, cl);
    huff_codes(cl, 19, cc);
    huff_codes(ll, 286, lc);
    huff_codes(dl, 30, dc);
    static const uint8_t order[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                      11, 4,  12, 3, 13, 2, 14, 1, 15};
    int hclen = 19;
    while (hclen > 4 && !cl[order[hclen - 1]])
        hclen--;
    bw_put(w, (uint32_t) final | 2u << 1, 3); /* BFINAL, BTYPE = 10 */
    bw_put(w, (uint32_t)(hlit - 257), 5);
    bw_put(w, (uint32_t)(hdist - 1), 5);
    bw_put(w, (uint32_t)(hclen - 4), 4);
    for (int i = 0; i < hclen; i++)
        bw_put(w, cl[order[i]], 3);
    static const uint8_t xbits[19] = {[16] = 2, [17] = 3, [18] = 7};
    for (int i = 0; i < nc; i++) {
        bw_put(w, cc[cls[i]], cl[cls[i]]);
        if (cls[i] >= 16) bw_put(w, clx[i], xbits[cls[i]]);
    }
    const uint32_t d1 = (uint32_t)dc[0];
    const int d1n = dl[0];
    for (size_t i = 0; i < nt; i++) {
        unsigned t = tok[i];
        if (t < 256) {
            bw_put(w, lc[t], ll[t]);
        } else {
            unsigned m = t - 256, s = len_sym[m];
            bw_put(w, lc[257 + s], ll[257 + s]);
            bw_put(w, m - len_base[s], len_extra[s]);
            bw_put(w, d1, d1n);
        }
    }
    bw_put(w, lc[256], ll[256]);
}

/* Output capacity: a code is at most 15 bits a byte (a match, 35 bits
 * for >= 3 bytes), plus each block's header. */
static size_t rle_bound(size_t n) {
    return 2 * n + 1024 * (n / RLE_BLOCK + 2);
}

/* zlib stream of in[0 .. n) into out (capacity rle_bound(n)); returns its
 * size, 0 without memory for the token buffer. */
static size_t rle_zlib_compress(const uint8_t *in, size_t n, uint8_t *out) {
    uint16_t *tok = malloc(sizeof *tok * (RLE_BLOCK + 1));
    if (!tok) return 0;
    uint8_t len_sym[RLE_MAXLEN + 1];
    for (int m = 3, s = 0; m <= RLE_MAXLEN; m++) {
        while (s < 28 && m >= len_base[s + 1])
            s++;
        len_sym[m] = (uint8_t)s;
    }
    out[0] = 0x78, out[1] = 0x01; /* deflate, 32K window, fastest */
    bitw w = {out + 2, 0, 0};
    size_t i = 0;
    do {
        size_t end = n - i > RLE_BLOCK ? i + RLE_BLOCK : n, nt = 0;
        while (i < end) {
            uint8_t b = in[i];
            if (i > 0 && in[i - 1] == b) {
                size_t r = 1, lim = end - i < RLE_MAXLEN ? end - i : RLE_MAXLEN;
                const uint64_t bb = 0x0101010101010101ull * b;
                for (uint64_t q; r + 8 <= lim; r += 8) { /* 8 bytes a step */
                    memcpy(&q, in + i + r, 8);
                    if (q != bb) break;
                }
                while (r < lim && in[i + r] == b)
                    r++;
                if (r >= 3) {
                    tok[nt++] = (uint16_t)(256 + r);
                    i += r;
                    continue;
                }
            }
            tok[nt++] = b;
            i++;
        }
        rle_block(&w, tok, nt, i == n, len_sym);
    } while (i < n);
    bw_flush(&w);
    uint32_t a = libdeflate_adler32(1, in, n);
    put32(w.p, a);
    free(tok);
    return (size_t)(w.p + 4 - out);
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
    /* level 1: the RLE coder above; others: libdeflate at that level */
    struct libdeflate_compressor *z =
        level == 1 ? NULL : libdeflate_alloc_compressor(level);
    uint8_t *f = malloc(n_raw), *png = NULL;
    size_t bound = level == 1 ? rle_bound(n_raw)
                   : z        ? libdeflate_zlib_compress_bound(z, n_raw)
                              : 0;
    /* One IDAT chunk: at SF_PNG_MAX_SIDE the bound stays below the
     * chunk limit 2^31 - 1 (2 x 16384^2 x 3 bytes + overhead). */
    size_t cap = 8 + 25 + 12 + bound + 12;
    if ((z || level == 1) && f) png = malloc(cap);
    if (!png) {
        libdeflate_free_compressor(z);
        free(f);
        return sf_err_set(err, SF_ENOMEM, "out of memory for a %dx%d PNG", nx,
                          ny);
    }
    filter_rows(px, nx, ny, bit_depth, channels, f);
    static const uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    memcpy(png, sig, 8);
    uint8_t ihdr[13];
    put32(ihdr, (uint32_t)nx);
    put32(ihdr + 4, (uint32_t)ny);
    ihdr[8] = (uint8_t)bit_depth;
    ihdr[9] = channels == 3 ? 2 : 0; /* colour type: RGB or gray */
    ihdr[10] = ihdr[11] = ihdr[12] =
        0; /* deflate, adaptive filters, no interlace */
    size_t at = 8 + put_chunk(png + 8, "IHDR", ihdr, 13);
    size_t zn =
        level == 1 ? rle_zlib_compress(f, n_raw, png + at + 8)
                   : libdeflate_zlib_compress(z, f, n_raw, png + at + 8, bound);
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
    int rc =
        sf__png_encode(px, nx, ny, bit_depth, channels, level, &buf, &n, err);
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
    /* Deflate cannot inflate more than ~1032x: a small file claiming a
     * large image is refused before anything is allocated for it. */
    struct stat fst;
    uint64_t raw =
        ((uint64_t)nx * (uint64_t)depth * png_get_channels(p, info) + 7) / 8 +
        1;
    if (fstat(fileno(f), &fst) == 0 &&
        raw * ny > (uint64_t)fst.st_size * 1100u + (64u << 10))
        png_error(p, "image size is impossible for the file's size");
    if (want == 2 && (depth != 16 || (color & PNG_COLOR_MASK_COLOR)))
        png_error(p, "expected a 16-bit grayscale PNG");
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(p);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(p);
    if (png_get_valid(p, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(p);
    if (want != 2 && depth == 16) png_set_strip_16(p);
    if (color & PNG_COLOR_MASK_ALPHA || png_get_valid(p, info, PNG_INFO_tRNS))
        png_set_strip_alpha(p);
    if (want == 1 &&
        (color & PNG_COLOR_MASK_COLOR || color == PNG_COLOR_TYPE_PALETTE))
        png_set_rgb_to_gray_fixed(p, 1, -1, -1);
    if (want == 3 && !(color & PNG_COLOR_MASK_COLOR) &&
        color != PNG_COLOR_TYPE_PALETTE)
        png_set_gray_to_rgb(p);
    if (want == 2) png_set_swap(p); /* to host order on little-endian */
    png_read_update_info(p, info);
    size_t rb = png_get_rowbytes(p, info);
    size_t expect = (size_t)nx * (want == 3 ? 3u : want == 2 ? 2u : 1u);
    if (rb != expect) png_error(p, "unexpected row layout");
    data = malloc(rb * ny);
    rows = malloc(sizeof *rows * ny);
    if (!data || !rows) png_error(p, "out of memory");
    for (png_uint_32 y = 0; y < ny; y++)
        rows[y] = data + y * rb;
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
