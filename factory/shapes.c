/*
 * shapes.c - the shape-aware module: closed composite Bezier shapes on a
 * black canvas or a canvas with a phantom, later shapes occluding earlier
 * ones, intensities from the contrast heuristic kept visible.
 */
#include "sf_int.h"

#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define PI 3.14159265358979323846

/* --------------------------------------------------------------- Bezier */

sf_pt sf__bezier_eval(const sf_pt *ctrl, int n, double t) {
    /* Bernstein form: B(t) = sum_k C(n-1,k) t^k (1-t)^(n-1-k) P_k. */
    sf_pt p = {0, 0};
    int deg = n - 1;
    double binom = 1.0, u = 1.0 - t;
    for (int k = 0; k <= deg; k++) {
        if (k > 0) binom = binom * (deg - k + 1) / k;
        double w = binom * pow(t, k) * pow(u, deg - k);
        p.x += w * ctrl[k].x;
        p.y += w * ctrl[k].y;
    }
    return p;
}

/* ------------------------------------------------------------ scan fill */

typedef void (*span_fn)(void *ctx, int y, int x0, int x1); /* [x0, x1) */

typedef struct xing {
    double x;
    int dir;
} xing;

static int cmp_xing(const void *a, const void *b) {
    double d = ((const xing *)a)->x - ((const xing *)b)->x;
    if (d < 0) return -1;
    if (d > 0) return 1;
    return ((const xing *)a)->dir - ((const xing *)b)->dir;
}

/* Nonzero-winding scanline fill sampled at pixel centres (x+0.5, y+0.5). */
static long scan_polygon(const sf_pt *poly, int n, int nx, int ny, span_fn fn,
                         void *ctx) {
    if (n < 3) return 0;
    double ymin = poly[0].y, ymax = ymin;
    for (int i = 1; i < n; i++) {
        if (poly[i].y < ymin) ymin = poly[i].y;
        if (poly[i].y > ymax) ymax = poly[i].y;
    }
    int y0 = (int)floor(ymin - 0.5), y1 = (int)ceil(ymax - 0.5);
    if (y0 < 0) y0 = 0;
    if (y1 > ny - 1) y1 = ny - 1;
    xing *xs = malloc(sizeof *xs * (size_t)n);
    if (!xs) return -1;
    long count = 0;
    for (int y = y0; y <= y1; y++) {
        double sy = y + 0.5;
        int nxs = 0;
        for (int i = 0; i < n; i++) {
            sf_pt a = poly[i], b = poly[(i + 1) % n];
            /* half-open rule: include the lower end, exclude the upper */
            if ((a.y <= sy && b.y > sy) || (b.y <= sy && a.y > sy)) {
                double x = a.x + (sy - a.y) * (b.x - a.x) / (b.y - a.y);
                xs[nxs].x = x;
                xs[nxs].dir = b.y > a.y ? 1 : -1;
                nxs++;
            }
        }
        qsort(xs, (size_t)nxs, sizeof *xs, cmp_xing);
        int wind = 0;
        for (int i = 0; i + 1 < nxs; i++) {
            wind += xs[i].dir;
            if (wind == 0) continue;
            /* pixels whose centre x+0.5 lies in [xs[i], xs[i+1]) */
            int xa = (int)ceil(xs[i].x - 0.5),
                xb = (int)ceil(xs[i + 1].x - 0.5);
            if (xa < 0) xa = 0;
            if (xb > nx) xb = nx;
            if (xb > xa) {
                fn(ctx, y, xa, xb);
                count += xb - xa;
            }
        }
    }
    free(xs);
    return count;
}

typedef struct fill8 {
    uint8_t *m;
    int nx;
    uint8_t v;
} fill8;

static void span8(void *ctx, int y, int x0, int x1) {
    fill8 *f = ctx;
    memset(f->m + (size_t)y * f->nx + x0, f->v, (size_t)(x1 - x0));
}

long sf__fill_polygon(const sf_pt *poly, int n, uint8_t *mask, int nx, int ny,
                      uint8_t v) {
    fill8 f = {mask, nx, v};
    return scan_polygon(poly, n, nx, ny, span8, &f);
}

typedef struct fill16 {
    uint16_t *m;
    int nx;
    uint16_t v;
} fill16;

static void span16(void *ctx, int y, int x0, int x1) {
    fill16 *f = ctx;
    uint16_t *row = f->m + (size_t)y * f->nx;
    for (int x = x0; x < x1; x++)
        row[x] = f->v;
}

/* ------------------------------------------------------------- contrast */

double sf__contrast_raw(int function, double i_b, int i, double delta) {
    if (function == SF_CONTRAST_LINEAR) return i_b + i * delta;
    return i_b + ((i & 1) ? -1.0 : 1.0) * i * delta;
}

static double reflect01(double v) {
    for (int k = 0; k < 64 && (v < 0.0 || v > 1.0); k++)
        v = v < 0.0 ? -v : 2.0 - v;
    return v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v;
}

static int admissible(double v, const double *s, int n, double mc) {
    if (v < 0.0 || v > 1.0) return 0;
    for (int j = 0; j < n; j++)
        if (fabs(v - s[j]) < mc) return 0;
    return 1;
}

double sf__contrast_visible(double raw, double i_b, const double *surround,
                            int n, double mc) {
    double v = reflect01(raw);
    if (admissible(v, surround, n, mc)) return v;
    double flipped = reflect01(2.0 * i_b - raw);
    if (admissible(flipped, surround, n, mc)) return flipped;
    /* Nearest admissible value: the optimum sits at a band edge or a bound. */
    double best = -1.0, best_d = INFINITY;
    double pad = mc * (1.0 + 1e-9) + 1e-12;
    for (int j = -2; j < 2 * n; j++) {
        double cand = j == -2   ? 0.0
                      : j == -1 ? 1.0
                                : surround[j / 2] + ((j & 1) ? pad : -pad);
        if (!admissible(cand, surround, n, mc)) continue;
        double d = fabs(cand - v);
        if (d < best_d || (d == best_d && cand < best)) {
            best = cand;
            best_d = d;
        }
    }
    return best >= 0.0 ? best : v; /* infeasible only if config invalid */
}

/* --------------------------------------------------------------- module */

#define MAX_PTS    64
#define MAX_SHAPES 60 /* schema bound of shape.n_shapes */

/* Adjacency (4-neighbour) of pixel x of a label row (below: the next
 * row, NULL on the last; bk: the row's background kinds) to its right and
 * lower neighbours, into adj (as sf__shape_generate describes). */
static inline void adj_pixel(uint64_t *adj, const uint16_t *row,
                             const uint16_t *below, const uint8_t *bk, int nx,
                             int x) {
    int a = row[x];
    /* skip runs that match both neighbours: most pixels */
    int right = x + 1 < nx ? row[x + 1] : a, down = below ? below[x] : a;
    if (a == right && a == down) return;
    for (int dir = 0; dir < 2; dir++) {
        int b = dir ? down : right;
        if (a == b) continue;
        size_t q = dir ? (size_t)nx : 1;
        if (a && b) {
            adj[a] |= 1ull << (b - 1);
            adj[b] |= 1ull << (a - 1);
        } else if (a) {
            adj[a] |= 1ull << (bk[x + q] ? 63 : 62);
        } else {
            adj[b] |= 1ull << (bk[x] ? 63 : 62);
        }
    }
}

typedef struct shape {
    int n_pts;
    double cx, cy, r_mean, smooth, rot;
    sf_pt pts[MAX_PTS];
    sf_pt *poly; /* polygonised outline */
    int n_poly;
    int keep; /* visible area >= min area */
    long area;
    uint16_t label;
    double raw, intensity;
} shape;

/* Closed composite cubic Bezier through the anchor points, C1 at anchors:
 * handles along the neighbour chord direction, length smooth * chord. */
static int polygonise(shape *s) {
    int n = s->n_pts;
    int per_seg[MAX_PTS], total = 0;
    for (int j = 0; j < n; j++) {
        sf_pt a = s->pts[j], b = s->pts[(j + 1) % n];
        double len = hypot(b.x - a.x, b.y - a.y);
        int m = (int)(len / 3.0);
        per_seg[j] = m < 8 ? 8 : m > 96 ? 96 : m;
        total += per_seg[j];
    }
    s->poly = malloc(sizeof *s->poly * (size_t)total);
    if (!s->poly) return SF_ENOMEM;
    int k = 0;
    for (int j = 0; j < n; j++) {
        sf_pt p0 = s->pts[j], p3 = s->pts[(j + 1) % n];
        sf_pt pm = s->pts[(j + n - 1) % n], pn = s->pts[(j + 2) % n];
        double chord = hypot(p3.x - p0.x, p3.y - p0.y);
        double t0x = p3.x - pm.x, t0y = p3.y - pm.y;
        double t1x = pn.x - p0.x, t1y = pn.y - p0.y;
        double l0 = hypot(t0x, t0y), l1 = hypot(t1x, t1y);
        if (l0 > 0) {
            t0x /= l0;
            t0y /= l0;
        }
        if (l1 > 0) {
            t1x /= l1;
            t1y /= l1;
        }
        double h = s->smooth * chord;
        sf_pt c[4] = {p0,
                      {p0.x + h * t0x, p0.y + h * t0y},
                      {p3.x - h * t1x, p3.y - h * t1y},
                      p3};
        for (int i = 0; i < per_seg[j]; i++)
            s->poly[k++] = sf__bezier_eval(c, 4, (double)i / per_seg[j]);
    }
    s->n_poly = k;
    return SF_OK;
}

static void paint(shape *sh, int n, uint16_t *labels, int nx, int ny) {
    memset(labels, 0, sizeof *labels * (size_t)nx * (size_t)ny);
    for (int i = 0; i < n; i++) {
        if (!sh[i].keep) continue;
        fill16 f = {labels, nx, (uint16_t)(i + 1)};
        scan_polygon(sh[i].poly, sh[i].n_poly, nx, ny, span16, &f);
    }
}

/* Pixels whose centres lie in the rotated ellipse: solve each row's
 * quadratic in x instead of testing every pixel. */
static void fill_ellipse(uint8_t *m, int nx, int ny, double cx, double cy,
                         double a, double b, double th) {
    double ct = cos(th), st = sin(th);
    double qa = ct * ct / (a * a) + st * st / (b * b);
    double qb = 2.0 * ct * st * (1.0 / (a * a) - 1.0 / (b * b));
    double qc = st * st / (a * a) + ct * ct / (b * b);
    memset(m, 0, (size_t)nx * (size_t)ny);
    for (int y = 0; y < ny; y++) {
        double dy = y + 0.5 - cy;
        /* qa dx^2 + qb dy dx + qc dy^2 - 1 <= 0 */
        double B = qb * dy, C = qc * dy * dy - 1.0;
        double disc = B * B - 4.0 * qa * C;
        if (disc < 0) continue;
        double r = sqrt(disc);
        double x0 = cx + (-B - r) / (2.0 * qa), x1 = cx + (-B + r) / (2.0 * qa);
        int xa = (int)ceil(x0 - 0.5), xb = (int)floor(x1 - 0.5);
        if (xa < 0) xa = 0;
        if (xb > nx - 1) xb = nx - 1;
        if (xb >= xa) memset(m + (size_t)y * nx + xa, 1, (size_t)(xb - xa + 1));
    }
}

static void json_pts(sf_buf *b, const sf_pt *p, int n) {
    sf_buf_puts(b, "[");
    for (int i = 0; i < n; i++) {
        sf_buf_puts(b, i ? ",[" : "[");
        sf_json_num(b, p[i].x);
        sf_buf_puts(b, ",");
        sf_json_num(b, p[i].y);
        sf_buf_puts(b, "]");
    }
    sf_buf_puts(b, "]");
}

/* Long by design (~240 lines): the shape module's draws happen in a fixed
 * order that is part of the stream contract (corpora regenerate from it);
 * one function keeps that order readable top to bottom. */
int sf__shape_generate(const sf_config *c, uint64_t seed, uint64_t index,
                       const sf_imgf *canvas, sf_imgf *im, uint16_t *labels,
                       int *n_instances, sf_buf *json, sf_err *err) {
    const int nx = im->nx, ny = im->ny;
    const double size = nx < ny ? nx : ny;
    sf_draw d, dc;
    sf__draw_init(&d, seed, index, SF_STREAM_SHAPE);
    sf__draw_init(&dc, seed, index, SF_STREAM_CONTRAST);
    int rc = SF_OK;
    shape *sh = NULL;
    uint8_t *bgkind = NULL;

    /* Background: I_b ~ U, optional elliptic phantom. */
    double i_b = sf__draw_range(&dc, c->contrast.background);
    double delta = sf__draw_range(&dc, c->contrast.delta);
    if (canvas) { /* the shapes' level follows the texture they lie on */
        double sum = 0;
        size_t np = (size_t)canvas->nx * (size_t)canvas->ny;
        for (size_t p = 0; p < np; p++)
            sum += canvas->px[p];
        i_b = np ? sum / (double)np : i_b;
    }
    int phantom = sf__draw_bernoulli(&d, c->shape.phantom_probability);
    double pcx = 0, pcy = 0, pa = 0, pb = 0, pth = 0;
    if (phantom) {
        pa = sf__draw_range(&d, c->shape.phantom_radius) * size;
        pb = pa * sf__draw_range(&d, c->shape.phantom_aspect);
        pcx = sf__draw_uniform(&d, 0.45, 0.55) * nx;
        pcy = sf__draw_uniform(&d, 0.45, 0.55) * ny;
        pth = sf__draw_uniform(&d, 0.0, PI);
    }

    int n = sf__draw_irange(&d, c->shape.n_shapes);
    if (n > MAX_SHAPES) n = MAX_SHAPES;
    sh = calloc((size_t)n, sizeof *sh);
    bgkind = malloc((size_t)nx * (size_t)ny);
    if (!sh || !bgkind) {
        rc = sf_err_set(err, SF_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        shape *s = &sh[i];
        s->n_pts = sf__draw_irange(&d, c->shape.n_control_points);
        if (s->n_pts > MAX_PTS) s->n_pts = MAX_PTS;
        s->r_mean = sf__draw_range(&d, c->shape.radius) * size;
        s->smooth = sf__draw_range(&d, c->shape.smoothness);
        s->rot = sf__draw_uniform(&d, 0.0, 2.0 * PI);
        if (phantom) {
            /* inside the phantom, like organs inside a body */
            double rr = 0.75 * sqrt(sf__draw_u01(&d)),
                   ang = sf__draw_uniform(&d, 0, 2 * PI);
            double u = rr * pa * cos(ang), v = rr * pb * sin(ang);
            s->cx = pcx + u * cos(pth) - v * sin(pth);
            s->cy = pcy + u * sin(pth) + v * cos(pth);
        } else {
            s->cx = sf__draw_uniform(&d, 0.1, 0.9) * nx;
            s->cy = sf__draw_uniform(&d, 0.1, 0.9) * ny;
        }
        /* stratified angles keep anchors ordered: no self-crossing loops */
        for (int j = 0; j < s->n_pts; j++) {
            double a = s->rot + (j + sf__draw_uniform(&d, 0.15, 0.85)) * 2.0 *
                                    PI / s->n_pts;
            double r = s->r_mean * sf__draw_range(&d, c->shape.radius_jitter);
            s->pts[j].x = s->cx + r * cos(a);
            s->pts[j].y = s->cy + r * sin(a);
        }
        if ((rc = polygonise(s))) {
            sf_err_set(err, rc, "out of memory");
            goto out;
        }
        s->keep = 1;
    }

    /* Paint in order (later occludes earlier); drop shapes whose visible
     * area is below the minimum and repaint until stable. */
    for (int pass = 0; pass <= n; pass++) {
        paint(sh, n, labels, nx, ny);
        /* four interleaved histograms: long runs of one label would
         * otherwise chain every increment on the one before */
        long *area = calloc(4 * ((size_t)n + 1), sizeof *area);
        if (!area) {
            rc = sf_err_set(err, SF_ENOMEM, "out of memory");
            goto out;
        }
        {
            const size_t np = (size_t)nx * (size_t)ny, m = (size_t)n + 1;
            long *a1 = area + m, *a2 = a1 + m, *a3 = a2 + m;
            size_t p = 0;
            for (; p + 4 <= np; p += 4) {
                area[labels[p]]++;
                a1[labels[p + 1]]++;
                a2[labels[p + 2]]++;
                a3[labels[p + 3]]++;
            }
            for (; p < np; p++)
                area[labels[p]]++;
            for (size_t l = 0; l < m; l++)
                area[l] += a1[l] + a2[l] + a3[l];
        }
        int dropped = 0;
        for (int i = 0; i < n; i++) {
            sh[i].area = sh[i].keep ? area[i + 1] : 0;
            if (sh[i].keep && sh[i].area < c->min_instance_area) {
                sh[i].keep = 0;
                dropped = 1;
            }
        }
        free(area);
        if (!dropped) break;
    }
    /* Renumber kept shapes 1..K in painting order. */
    uint16_t map[MAX_SHAPES + 1];
    int k = 0;
    map[0] = 0;
    for (int i = 0; i < n; i++) {
        sh[i].label = sh[i].keep ? (uint16_t)++k : 0;
        map[i + 1] = sh[i].label;
    }
    size_t npx = (size_t)nx * (size_t)ny;
    if (k != n) /* some shape was dropped: renumber */
        for (size_t p = 0; p < npx; p++)
            labels[p] = map[labels[p]];

    /* Background kind per pixel: 1 = phantom (I_b), 0 = black (or I_b
     * when there is no phantom: the canvas is then I_b everywhere). */
    if (phantom)
        fill_ellipse(bgkind, nx, ny, pcx, pcy, pa, pb, pth);
    else
        memset(bgkind, 1, (size_t)nx * (size_t)ny);

    /* Adjacency (4-neighbour) of each shape to other shapes and to the two
     * background kinds: what surrounds it. */
    uint64_t adj[MAX_SHAPES + 1] = {0};
    int track = k <= MAX_SHAPES;
    if (track) {
        for (int y = 0; y < ny; y++) {
            const uint16_t *row = labels + (size_t)y * nx;
            const uint16_t *below = y + 1 < ny ? row + nx : NULL;
            const uint8_t *bk = bgkind + (size_t)y * nx;
            int x = 0;
#ifdef __SSE2__
            /* 16 pixels at a time that match both neighbours (the
             * scalar test below, vectorised): skipped whole */
            if (below)
                for (; x + 17 <= nx; x += 16) {
                    const __m128i *r0 = (const __m128i *)(row + x);
                    const __m128i *r1 = (const __m128i *)(row + x + 1);
                    const __m128i *d0 = (const __m128i *)(below + x);
                    __m128i a0 = _mm_loadu_si128(r0),
                            a1 = _mm_loadu_si128(r0 + 1);
                    __m128i eq = _mm_and_si128(
                        _mm_and_si128(_mm_cmpeq_epi16(a0, _mm_loadu_si128(r1)),
                                      _mm_cmpeq_epi16(a0, _mm_loadu_si128(d0))),
                        _mm_and_si128(
                            _mm_cmpeq_epi16(a1, _mm_loadu_si128(r1 + 1)),
                            _mm_cmpeq_epi16(a1, _mm_loadu_si128(d0 + 1))));
                    if (_mm_movemask_epi8(eq) == 0xFFFF) continue;
                    for (int i = x; i < x + 16; i++)
                        adj_pixel(adj, row, below, bk, nx, i);
                }
#endif
            for (; x < nx; x++)
                adj_pixel(adj, row, below, bk, nx, x);
        }
    }

    /* Intensities in painting order: shape i (1-based among kept) gets the
     * heuristic's value, made visible against its surround. */
    double inten[MAX_SHAPES + 1] = {0};
    for (int i = 0; i < n; i++) {
        if (!sh[i].keep) continue;
        int l = sh[i].label;
        double sur[70];
        int ns = 0;
        if (track) {
            if (adj[l] >> 62 & 1) sur[ns++] = 0.0;
            if (adj[l] >> 63 & 1) sur[ns++] = i_b;
            for (int m = 1; m < l; m++)
                if (adj[l] >> (m - 1) & 1) sur[ns++] = inten[m];
        } else {
            sur[ns++] = i_b; /* conservative: at least the canvas */
        }
        sh[i].raw = sf__contrast_raw(c->contrast.function, i_b, l, delta);
        sh[i].intensity = sf__contrast_visible(sh[i].raw, i_b, sur, ns,
                                               c->contrast.min_contrast);
        inten[l] = sh[i].intensity;
    }

    /* Compose the image. */
    float lut[MAX_SHAPES + 1], bgv[2] = {0.0f, (float)i_b};
    for (int l = 0; l <= MAX_SHAPES; l++)
        lut[l] = (float)inten[l];
    float *restrict px = im->px;
    if (canvas) {
        for (size_t p = 0; p < npx; p++) {
            int l = labels[p];
            px[p] = l ? lut[l] : bgkind[p] ? canvas->px[p] : 0.0f;
        }
    } else {
        for (size_t p = 0; p < npx; p++) { /* both loads, then a select */
            int l = labels[p];
            float fg = lut[l], bg = bgv[bgkind[p] != 0];
            px[p] = l ? fg : bg;
        }
    }
    *n_instances = k;

    /* Record. */
    sf_buf_puts(json, "\"i_b\":");
    sf_json_num(json, i_b);
    sf_buf_puts(json, ",\"delta\":");
    sf_json_num(json, delta);
    if (canvas) sf_buf_puts(json, ",\"canvas\":\"texture\"");
    sf_buf_printf(json, ",\"contrast_function\":\"%s\"",
                  c->contrast.function == SF_CONTRAST_LINEAR ? "linear"
                                                             : "alternating");
    if (phantom) {
        sf_buf_puts(json, ",\"phantom\":{\"center\":[");
        sf_json_num(json, pcx);
        sf_buf_puts(json, ",");
        sf_json_num(json, pcy);
        sf_buf_puts(json, "],\"axes\":[");
        sf_json_num(json, pa);
        sf_buf_puts(json, ",");
        sf_json_num(json, pb);
        sf_buf_puts(json, "],\"angle\":");
        sf_json_num(json, pth);
        sf_buf_puts(json, "}");
    } else {
        sf_buf_puts(json, ",\"phantom\":null");
    }
    sf_buf_printf(json, ",\"n_shapes_drawn\":%d,\"shapes\":[", n);
    for (int i = 0; i < n; i++) {
        shape *s = &sh[i];
        sf_buf_printf(json,
                      "%s{\"label\":%d,\"n_control_points\":%d,\"center\":[",
                      i ? "," : "", s->label, s->n_pts);
        sf_json_num(json, s->cx);
        sf_buf_puts(json, ",");
        sf_json_num(json, s->cy);
        sf_buf_puts(json, "],\"radius\":");
        sf_json_num(json, s->r_mean);
        sf_buf_puts(json, ",\"smoothness\":");
        sf_json_num(json, s->smooth);
        sf_buf_puts(json, ",\"anchors\":");
        json_pts(json, s->pts, s->n_pts);
        sf_buf_printf(json, ",\"visible_area\":%ld", s->keep ? s->area : 0L);
        if (s->keep) {
            sf_buf_puts(json, ",\"intensity_raw\":");
            sf_json_num(json, s->raw);
            sf_buf_puts(json, ",\"intensity\":");
            sf_json_num(json, s->intensity);
        }
        sf_buf_puts(json, "}");
    }
    sf_buf_puts(json, "]");
out:
    if (sh)
        for (int i = 0; i < n; i++)
            free(sh[i].poly);
    free(sh);
    free(bgkind);
    return rc;
}
