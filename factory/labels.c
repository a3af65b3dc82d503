/*
 * labels.c - label-map utilities: 4-connected components and per-label
 * erosion with the cross (4-neighbour) structuring element.
 *
 * Both work on (ny, nx) row-major uint16 maps, 0 = background. Neither
 * recurses nor depends on thread count; both are reentrant.
 */
#include "sf_int.h"

#include <assert.h>
#include <stdlib.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ------------------------------------------------------------ components */

/* Union-find over run numbers. Roots are always the smallest number of
 * their set (union by minimum), so parent[j] <= j holds throughout. */
static uint32_t uf_find(uint32_t *parent, uint32_t a) {
    while (parent[a] != a) {
        parent[a] = parent[parent[a]]; /* path halving */
        a = parent[a];
    }
    return a;
}

static void uf_union(uint32_t *parent, uint32_t a, uint32_t b) {
    a = uf_find(parent, a);
    b = uf_find(parent, b);
    if (a < b)
        parent[b] = a;
    else
        parent[a] = b;
}

/* End of the run of value v that starts at r[x]: the first x' >= x with
 * r[x'] != v, or nx. Eight pixels per step on SSE2. */
static inline int run_end(const uint16_t *r, int x, int nx, uint16_t v) {
#ifdef __SSE2__
    const __m128i vv = _mm_set1_epi16((short)v);
    for (; x + 8 <= nx; x += 8) {
        __m128i q = _mm_loadu_si128((const __m128i *)(r + x));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi16(q, vv));
        if (m != 0xFFFFu) return x + __builtin_ctz(~m) / 2;
    }
#endif
    while (x < nx && r[x] == v)
        x++;
    return x;
}

/* p[0..n-1] = v. Eight at a time on SSE2, the last eight overlapping
 * (runs are short: no alignment prologue). */
static inline void fill16(uint16_t *p, int n, uint16_t v) {
#ifdef __SSE2__
    if (n >= 8) {
        const __m128i vv = _mm_set1_epi16((short)v);
        for (int x = 0; x + 8 < n; x += 8)
            _mm_storeu_si128((__m128i *)(p + x), vv);
        _mm_storeu_si128((__m128i *)(p + n - 8), vv);
        return;
    }
#endif
    for (int x = 0; x < n; x++)
        p[x] = v;
}

/* A horizontal run of one nonzero value: pixels [x0, x1) of its row. */
typedef struct run {
    int x0, x1;
    uint16_t v;
} run;

/*
 * Connected components, 4-connectivity, one component = a maximal
 * 4-connected set of pixels sharing one nonzero value. Run-based two-pass
 * labelling: each run of equal values in a row is a node, joined to the
 * runs of the row above that overlap it and hold the same value. Runs are
 * numbered in raster order and union-find keeps the smallest number as the
 * root, so a component's root is the run holding its first pixel in raster
 * order: numbering roots in ascending order numbers components in raster
 * order of their first pixel (deterministic). Memory: about 20 bytes per
 * run (at most one run per pixel). On error (SF_ENOMEM, or SF_ERANGE when
 * more than 65535 components survive) labels is left unchanged.
 */
int sf__relabel_components(uint16_t *labels, int nx, int ny, int min_area) {
    if (nx <= 0 || ny <= 0) return 0;
    size_t n = (size_t)nx * (size_t)ny;
    if (n >= UINT32_MAX) return SF_ERANGE;

    int rc = SF_ENOMEM;
    /* About 30 runs per 1024-px row in practice: few reallocations. */
    size_t cap = 4096 + 32 * (size_t)ny, nr = 0;
    run *runs = malloc(cap * sizeof *runs);
    uint32_t *parent = malloc(cap * sizeof *parent); /* by run index */
    uint32_t *area = NULL;
    size_t *row0 = malloc(((size_t)ny + 1) * sizeof *row0); /* first run */
    if (!runs || !parent || !row0) goto out;

    for (int y = 0; y < ny; y++) {
        const uint16_t *r = labels + (size_t)y * (size_t)nx;
        row0[y] = nr;
        for (int x = 0; x < nx;) {
            uint16_t v = r[x];
            int x0 = x;
            x = run_end(r, x + 1, nx, v);
            if (!v) continue;
            if (nr == cap) {
                size_t ncap = cap * 2;
                run *nruns = realloc(runs, ncap * sizeof *runs);
                if (nruns) runs = nruns;
                uint32_t *npar = realloc(parent, ncap * sizeof *parent);
                if (npar) parent = npar;
                if (!nruns || !npar) goto out;
                cap = ncap;
            }
            runs[nr] = (run){x0, x, v};
            parent[nr] = (uint32_t)nr;
            nr++;
        }
        if (y == 0) continue;
        /* Join overlapping runs of equal value with the row above. */
        size_t i = row0[y - 1], j = row0[y];
        while (i < row0[y] && j < nr) {
            const run *a = &runs[i], *b = &runs[j];
            if (a->x1 <= b->x0) {
                i++;
            } else if (b->x1 <= a->x0) {
                j++;
            } else {
                if (a->v == b->v) uf_union(parent, (uint32_t)i, (uint32_t)j);
                if (a->x1 < b->x1)
                    i++;
                else
                    j++;
            }
        }
    }
    row0[ny] = nr;

    /* Flatten (parent[j] < j is final once lower runs are), then areas. */
    area = calloc(nr ? nr : 1, sizeof *area);
    if (!area) goto out;
    for (size_t j = 0; j < nr; j++) {
        parent[j] = parent[parent[j]];
        area[parent[j]] += (uint32_t)(runs[j].x1 - runs[j].x0);
    }
    /* Final ids in ascending root order; area[] becomes the id map. */
    uint32_t k = 0, amin = (uint32_t)(min_area > 0 ? min_area : 0);
    for (size_t j = 0; j < nr; j++) {
        if (parent[j] != j) continue;
        if (area[j] < amin) {
            area[j] = 0;
            continue;
        }
        if (k == 65535) {
            rc = SF_ERANGE;
            goto out;
        }
        area[j] = ++k;
    }
    for (int y = 0; y < ny; y++) {
        uint16_t *r = labels + (size_t)y * (size_t)nx;
        for (size_t j = row0[y]; j < row0[y + 1]; j++) {
            uint16_t id = (uint16_t)area[parent[j]];
            fill16(r + runs[j].x0, runs[j].x1 - runs[j].x0, id);
        }
    }
    rc = (int)k;

out:
    free(runs);
    free(parent);
    free(area);
    free(row0);
    return rc;
}

/* --------------------------------------------------------------- erosion */

/*
 * Reference erosion, one row at a time: pixel (x, y) of label l becomes 0
 * when a 4-neighbour inside the image holds another value (0 included).
 * Row y is decided from the original rows y-1, y, y+1; row y-1 has already
 * been rewritten, so its original membership is kept in scratch.
 *
 * scratch: min(ny, 2) * nx bytes (nx * ny always suffices), provided by
 * the caller and required: the function returns void, so it must not
 * allocate (it cannot fail). NULL is a programmer error (asserted; a no-op
 * under NDEBUG). l = 0 or iters <= 0 change nothing.
 *
 * Cost: iters passes over the rows that hold l. boundary.c erodes all
 * clusters at once with a distance transform and is tested against this.
 */
void sf__erode_label(uint16_t *labels, int nx, int ny, uint16_t l, int iters,
                     uint8_t *scratch) {
    assert(scratch);
    if (nx <= 0 || ny <= 0 || iters <= 0 || l == 0 || !scratch) return;

    /* Rows that hold l: nothing outside [y0, y1] can change. */
    int y0 = -1, y1 = -1;
    for (int y = 0; y < ny; y++) {
        const uint16_t *row = labels + (size_t)y * (size_t)nx;
        for (int x = 0; x < nx; x++) {
            if (row[x] == l) {
                if (y0 < 0) y0 = y;
                y1 = y;
                break;
            }
        }
    }
    if (y0 < 0) return;

    for (int it = 0; it < iters; it++) {
        /* The first row goes to scratch[0, nx); the second half is touched
         * only from the second row on, so a one-row image needs nx bytes. */
        uint8_t *cur = scratch, *prev = scratch + nx;
        for (int y = y0; y <= y1; y++) {
            uint16_t *row = labels + (size_t)y * (size_t)nx;
            const uint16_t *down = y + 1 < ny ? row + nx : NULL;
            for (int x = 0; x < nx; x++)
                cur[x] = row[x] == l;
            for (int x = 0; x < nx; x++) {
                if (!cur[x]) continue;
                int edge = (x > 0 && !cur[x - 1]) ||
                           (x + 1 < nx && !cur[x + 1]) ||
                           (y > y0 && !prev[x]) ||
                           (y == y0 && y > 0) || /* row above holds no l */
                           (down && down[x] != l);
                if (edge) row[x] = 0;
            }
            uint8_t *t = prev;
            prev = cur;
            cur = t;
        }
    }
}
