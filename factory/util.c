/*
 * util.c - errors, logging, text buffers and JSON helpers, clocks.
 */
#include "sf_int.h"

#include <malloc.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

void sf_err_clear(sf_err *e) {
    if (!e) return;
    e->code = SF_OK;
    e->where[0] = e->msg[0] = '\0';
}

int sf_err_set(sf_err *e, int code, const char *fmt, ...) {
    if (!e) return code;
    e->code = code;
    e->where[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

int sf_err_at(sf_err *e, int code, const char *file, int line, int col,
              const char *fmt, ...) {
    if (!e) return code;
    e->code = code;
    if (line > 0 && col > 0)
        snprintf(e->where, sizeof e->where, "%s:%d:%d", file, line, col);
    else if (line > 0)
        snprintf(e->where, sizeof e->where, "%s:%d", file, line);
    else
        snprintf(e->where, sizeof e->where, "%s", file);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

int sf_err_wrap(sf_err *e, const char *fmt, ...) {
    if (!e) return SF_OK;
    char pre[256], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    snprintf(e->msg, sizeof e->msg, "%s: %s", pre, old);
    return e->code;
}

const char *sf_strerror(int code) {
    switch (code) {
    case SF_OK: return "ok";
    case SF_ENOMEM: return "out of memory";
    case SF_EINVAL: return "invalid argument";
    case SF_EIO: return "I/O error";
    case SF_ECONFIG: return "invalid config";
    case SF_EFORMAT: return "bad file format";
    case SF_ECORRUPT: return "integrity check failed";
    case SF_EEXIST: return "already exists";
    case SF_ECANCEL: return "cancelled";
    case SF_ERANGE: return "out of range";
    case SF_EDB: return "database error";
    case SF_EUNSUPPORTED: return "unsupported";
    default: return "unknown error";
    }
}

const char *sf_err_text(const sf_err *e, char *buf, size_t n) {
    if (!e) {
        snprintf(buf, n, "unknown error");
    } else if (e->where[0]) {
        snprintf(buf, n, "%s: %s", e->where,
                 e->msg[0] ? e->msg : sf_strerror(e->code));
    } else {
        snprintf(buf, n, "%s", e->msg[0] ? e->msg : sf_strerror(e->code));
    }
    return buf;
}

/* ------------------------------------------------------------------ log */

static int g_level = -1;

static int level_from_env(void) {
    const char *s = getenv("SF_LOG");
    if (!s) return SF_LOG_INFO;
    if (!strcmp(s, "debug")) return SF_LOG_DEBUG;
    if (!strcmp(s, "warn")) return SF_LOG_WARN;
    if (!strcmp(s, "error")) return SF_LOG_ERROR;
    return SF_LOG_INFO;
}

void sf_log_set_level(int level) {
    g_level = level;
}

int sf_log_level(void) {
    if (g_level < 0) g_level = level_from_env();
    return g_level;
}

void sf_log(int level, const char *fmt, ...) {
    static const char *names[] = {"debug", "info", "warning", "error"};
    if (level < sf_log_level()) return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (level == SF_LOG_INFO)
        fprintf(stderr, "synthfm: %s\n", line);
    else
        fprintf(stderr, "synthfm: %s: %s\n", names[level & 3], line);
}

/* --------------------------------------------------------------- buffers */

static int buf_grow(sf_buf *b, size_t need) {
    if (b->oom) return -1;
    if (b->len + need + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + need + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->oom = 1;
        return -1;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

void sf_buf_printf(sf_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_grow(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sf_buf_puts(sf_buf *b, const char *s) {
    size_t n = strlen(s);
    if (buf_grow(b, n)) return;
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
}

void sf_buf_release(sf_buf *b) {
    if (!b) return;
    free(b->s);
    memset(b, 0, sizeof *b);
}

char *sf_buf_take(sf_buf *b) {
    char *s = b->oom ? NULL : b->s;
    if (b->oom) free(b->s);
    if (s == NULL && !b->oom) s = calloc(1, 1);
    memset(b, 0, sizeof *b);
    return s;
}

void sf_json_num(sf_buf *b, double v) {
    if (!isfinite(v)) {
        sf_buf_puts(b, "null");
        return;
    }
    /* Integers print exactly; others with 9 significant digits. */
    if (v == floor(v) && fabs(v) < 1e15)
        sf_buf_printf(b, "%.0f", v);
    else
        sf_buf_printf(b, "%.9g", v);
}

void sf_json_str(sf_buf *b, const char *s) {
    sf_buf_puts(b, "\"");
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            sf_buf_printf(b, "\\%c", ch);
        else if (ch < 0x20)
            sf_buf_printf(b, "\\u%04x", ch);
        else
            sf_buf_printf(b, "%c", ch);
    }
    sf_buf_puts(b, "\"");
}

/* ----------------------------------------------------------------- misc */

int sf__ncores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

double sf_clock_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* --------------------------------------------------------------- images */

int sf__imgf_alloc(sf_imgf *im, int nx, int ny, float fill) {
    im->nx = nx;
    im->ny = ny;
    im->px = malloc((size_t)nx * (size_t)ny * sizeof(float));
    if (!im->px) return SF_ENOMEM;
    size_t n = (size_t)nx * (size_t)ny;
    for (size_t i = 0; i < n; i++)
        im->px[i] = fill;
    return SF_OK;
}

void sf__imgf_release(sf_imgf *im) {
    if (!im) return;
    free(im->px);
    im->px = NULL;
}

void sf__imgf_to_u8(const sf_imgf *im, uint8_t *restrict out) {
    size_t n = (size_t)im->nx * (size_t)im->ny, i = 0;
    const float *restrict px = im->px;
#ifdef __SSE2__
    /* Same IEEE operations as the scalar loop (max, min, mul, add, trunc),
     * 16 pixels at a time; maxps returns its second operand for NaN -> 0. */
    const __m128 zero = _mm_setzero_ps(), one = _mm_set1_ps(1.0f);
    const __m128 scale = _mm_set1_ps(255.0f), half = _mm_set1_ps(0.5f);
    for (; i + 16 <= n; i += 16) {
        __m128i q[4];
        for (int k = 0; k < 4; k++) {
            __m128 v = _mm_loadu_ps(px + i + 4 * k);
            v = _mm_min_ps(_mm_max_ps(v, zero), one);
            v = _mm_add_ps(_mm_mul_ps(v, scale), half);
            q[k] = _mm_cvttps_epi32(v);
        }
        __m128i w0 = _mm_packs_epi32(q[0], q[1]),
                w1 = _mm_packs_epi32(q[2], q[3]);
        _mm_storeu_si128((__m128i *)(out + i), _mm_packus_epi16(w0, w1));
    }
#endif
    for (; i < n; i++) {
        float v = px[i];
        v = v > 0.0f ? v : 0.0f; /* NaN -> 0 */
        v = v < 1.0f ? v : 1.0f;
        out[i] = (uint8_t)(int)(v * 255.0f + 0.5f);
    }
}

void sf_tune_allocator(void) {
    /* 32 MB is glibc's largest mmap threshold on 64-bit (HEAP_MAX_SIZE / 2);
     * a fixed threshold also stops its dynamic adjustment. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
}
