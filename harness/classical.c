/*
 * classical.c - the weight-free click method (`--method classical`), a
 * floor for the learnt ones: seeded region growing from the positive
 * clicks with an intensity tolerance taken from the clicks'
 * neighbourhoods, held back by the negative clicks, holes filled.
 * Integer/double arithmetic on 8-bit pixels, no RNG: deterministic.
 */
#include "eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void hx_classical_opts_init(hx_classical_opts *o) {
    o->window_radius = 2;
    o->tol_sigmas = 2.5;
    o->tol_min = 8.0;
    o->tol_max = 40.0;
    o->neg_radius = 3;
}

/* Mean and sd of the (2r+1)^2 windows (clipped) around the clicks of
 * kind `positive`. Returns the number of pixels used. */
static long window_stats(const uint8_t *img, int nx, int ny, const sf_click *c,
                         int n, int positive, int r, double *mean, double *sd) {
    double s = 0, s2 = 0;
    long k = 0;
    for (int i = 0; i < n; i++) {
        if (c[i].positive != positive) continue;
        for (int y = c[i].y - r; y <= c[i].y + r; y++)
            for (int x = c[i].x - r; x <= c[i].x + r; x++) {
                if (x < 0 || y < 0 || x >= nx || y >= ny) continue;
                double v = img[(size_t)y * nx + x];
                s += v;
                s2 += v * v;
                k++;
            }
    }
    *mean = k ? s / k : 0;
    double var = k ? s2 / k - *mean * *mean : 0;
    *sd = var > 0 ? sqrt(var) : 0;
    return k;
}

int hx_classical_segment(const uint8_t *img, int nx, int ny,
                         const sf_click *clicks, int n_clicks,
                         const hx_classical_opts *o, uint8_t *mask,
                         sf_err *err) {
    if (!img || !clicks || !mask || nx < 1 || ny < 1 || n_clicks < 1 ||
        n_clicks > 2 * SF_PROMPT_MAX_CLICKS)
        return sf_err_set(err, SF_EINVAL, "classical: bad arguments");
    hx_classical_opts def;
    if (!o) {
        hx_classical_opts_init(&def);
        o = &def;
    }
    size_t n = (size_t)nx * ny;
    /* One intensity model per click: the mean and sd of its window. A
     * pixel joins when some positive model accepts it and it is no nearer
     * any negative model's mean (edges inflate a pooled sd, so models are
     * kept per click; the tolerance is clamped to [tol_min, tol_max]). */
    double mu[2 * SF_PROMPT_MAX_CLICKS], tol[2 * SF_PROMPT_MAX_CLICKS];
    double mun[2 * SF_PROMPT_MAX_CLICKS];
    int n_pos = 0, n_neg = 0;
    for (int i = 0; i < n_clicks; i++) {
        double m, sd;
        if (!window_stats(img, nx, ny, &clicks[i], 1, clicks[i].positive,
                          o->window_radius, &m, &sd))
            continue;
        if (clicks[i].positive) {
            /* A later click's window that straddles an edge (sd well above
             * the first click's) would let the region leak: it stays a
             * seed without a model of its own. */
            double t = fmin(fmax(o->tol_sigmas * sd, o->tol_min), o->tol_max);
            if (n_pos && t > 1.5 * tol[0]) continue;
            mu[n_pos] = m;
            tol[n_pos++] = t;
        } else {
            mun[n_neg++] = m;
        }
    }
    if (!n_pos)
        return sf_err_set(err, SF_EINVAL,
                          "classical: no positive click inside the image");
    /* state: 0 free, 1 region, 2 blocked (near a negative) */
    uint8_t *state = calloc(n, 1);
    int *queue = malloc(n * sizeof *queue);
    if (!state || !queue) {
        free(state);
        free(queue);
        return sf_err_set(err, SF_ENOMEM, "classical: %dx%d", nx, ny);
    }
    int rr = o->neg_radius;
    for (int i = 0; i < n_clicks; i++) {
        if (clicks[i].positive) continue;
        for (int y = clicks[i].y - rr; y <= clicks[i].y + rr; y++)
            for (int x = clicks[i].x - rr; x <= clicks[i].x + rr; x++)
                if (x >= 0 && y >= 0 && x < nx && y < ny &&
                    (x - clicks[i].x) * (x - clicks[i].x) +
                            (y - clicks[i].y) * (y - clicks[i].y) <=
                        rr * rr)
                    state[(size_t)y * nx + x] = 2;
    }
    size_t head = 0, tail = 0;
    for (int i = 0; i < n_clicks; i++) {
        const sf_click *c = &clicks[i];
        if (!c->positive || c->x < 0 || c->y < 0 || c->x >= nx || c->y >= ny)
            continue;
        size_t p = (size_t)c->y * nx + c->x;
        if (state[p] == 1) continue;
        state[p] = 1; /* a positive click is in, even near a negative */
        queue[tail++] = (int)p;
    }
    while (head < tail) {
        int p = queue[head++], x = p % nx, y = p / nx;
        const int nb[4][2] = {{x - 1, y}, {x + 1, y}, {x, y - 1}, {x, y + 1}};
        for (int k = 0; k < 4; k++) {
            int qx = nb[k][0], qy = nb[k][1];
            if (qx < 0 || qy < 0 || qx >= nx || qy >= ny) continue;
            size_t q = (size_t)qy * nx + qx;
            if (state[q]) continue;
            double v = img[q];
            int ok = 0;
            for (int a = 0; a < n_pos && !ok; a++) {
                double d = fabs(v - mu[a]);
                if (d > tol[a]) continue;
                ok = 1;
                for (int b = 0; b < n_neg && ok; b++)
                    if (fabs(v - mun[b]) < d) ok = 0;
            }
            if (!ok) continue;
            state[q] = 1;
            queue[tail++] = (int)q;
        }
    }
    /* Fill holes: flood the non-region from the border; the rest is in. */
    for (size_t i = 0; i < n; i++)
        mask[i] = state[i] == 1;
    head = tail = 0;
    for (int x = 0; x < nx; x++)
        for (int e = 0; e < 2; e++) {
            size_t p = (size_t)(e ? ny - 1 : 0) * nx + x;
            if (!mask[p]) mask[p] = 2, queue[tail++] = (int)p;
        }
    for (int y = 0; y < ny; y++)
        for (int e = 0; e < 2; e++) {
            size_t p = (size_t)y * nx + (e ? nx - 1 : 0);
            if (!mask[p]) mask[p] = 2, queue[tail++] = (int)p;
        }
    while (head < tail) {
        int p = queue[head++], x = p % nx, y = p / nx;
        const int nb[4][2] = {{x - 1, y}, {x + 1, y}, {x, y - 1}, {x, y + 1}};
        for (int k = 0; k < 4; k++) {
            int qx = nb[k][0], qy = nb[k][1];
            if (qx < 0 || qy < 0 || qx >= nx || qy >= ny) continue;
            size_t q = (size_t)qy * nx + qx;
            if (!mask[q]) mask[q] = 2, queue[tail++] = (int)q;
        }
    }
    for (size_t i = 0; i < n; i++)
        mask[i] = mask[i] != 2;
    free(state);
    free(queue);
    return SF_OK;
}
