/*
 * labels.c - label-map utilities: 4-connected components and per-label
 * erosion with the cross (4-neighbour) structuring element.
 *
 * Both work on (ny, nx) row-major uint16 maps, 0 = background. Neither
 * recurses nor depends on thread count; both are reentrant.
 */
#include "sf_int.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ components */

/* Union-find over provisional labels. Roots are always the smallest label of
 * their set (union by minimum), so parent[j] <= j holds throughout. */
static uint32_t uf_find(uint32_t *parent, uint32_t a) {
    while (parent[a] != a) {
        parent[a] = parent[parent[a]]; /* path halving */
        a = parent[a];
    }
    return a;
}

static uint32_t uf_union(uint32_t *parent, uint32_t a, uint32_t b) {
    a = uf_find(parent, a);
    b = uf_find(parent, b);
    if (a < b) {
        parent[b] = a;
        return a;
    }
    parent[a] = b;
    return b;
}

/*
 * Two-pass connected components, 4-connectivity, one component = a maximal
 * 4-connected set of pixels sharing one nonzero value.
 *
 * Pass 1 gives each pixel a provisional label (raster order) and records
 * equivalences; a component's root is the provisional label of its first
 * pixel in raster order (that pixel had no earlier neighbour in the
 * component, so it opened a new label, the smallest of its set). Visiting
 * roots in ascending order is therefore visiting components in raster order
 * of their first pixel, which makes the final numbering deterministic.
 *
 * Memory: 4 bytes per pixel for provisional labels, plus 8 bytes per
 * provisional label (at most one per pixel).
 */
int sf__relabel_components(uint16_t *labels, int nx, int ny, int min_area) {
    if (nx <= 0 || ny <= 0) return 0;
    size_t n = (size_t)nx * (size_t)ny;
    if (n >= UINT32_MAX) return SF_ERANGE;

    int rc = SF_ENOMEM;
    uint32_t *prov = malloc(n * sizeof *prov);
    uint32_t *parent = NULL, *area = NULL;
    if (!prov) goto out;
    /* Provisional labels start at 1; worst case one per pixel (e.g. a
     * checkerboard of two values). Grown on demand. */
    size_t cap = n < 4096 ? n + 1 : 4096;
    parent = malloc(cap * sizeof *parent);
    if (!parent) goto out;

    uint32_t m = 0; /* provisional labels used: 1..m */
    for (int y = 0; y < ny; y++) {
        const uint16_t *row = labels + (size_t)y * (size_t)nx;
        uint32_t *prow = prov + (size_t)y * (size_t)nx;
        for (int x = 0; x < nx; x++) {
            uint16_t v = row[x];
            if (!v) {
                prow[x] = 0;
                continue;
            }
            uint32_t left = (x > 0 && row[x - 1] == v) ? prow[x - 1] : 0;
            uint32_t up = (y > 0 && row[x - (ptrdiff_t)nx] == v)
                              ? prow[x - (ptrdiff_t)nx]
                              : 0;
            if (left && up) {
                prow[x] = left == up ? left : uf_union(parent, left, up);
            } else if (left | up) {
                prow[x] = left | up;
            } else {
                if ((size_t)m + 1 >= cap) {
                    size_t ncap = cap * 2 > n + 1 ? n + 1 : cap * 2;
                    uint32_t *p = realloc(parent, ncap * sizeof *p);
                    if (!p) goto out;
                    parent = p;
                    cap = ncap;
                }
                m++;
                parent[m] = m;
                prow[x] = m;
            }
        }
    }

    /* Flatten: parent[j] < j is already a root once lower labels are done. */
    area = calloc((size_t)m + 1, sizeof *area);
    if (!area) goto out;
    for (uint32_t j = 1; j <= m; j++) parent[j] = parent[parent[j]];
    for (size_t i = 0; i < n; i++)
        if (prov[i]) area[parent[prov[i]]]++;

    /* Final ids in ascending root order; area[] becomes the id map. */
    uint32_t k = 0;
    for (uint32_t j = 1; j <= m; j++) {
        if (parent[j] != j) continue;
        if (area[j] < (uint32_t)(min_area > 0 ? min_area : 0)) {
            area[j] = 0;
            continue;
        }
        if (k == 65535) {
            rc = SF_ERANGE;
            goto out;
        }
        area[j] = ++k;
    }
    for (size_t i = 0; i < n; i++)
        labels[i] = prov[i] ? (uint16_t)area[parent[prov[i]]] : 0;
    rc = (int)k;

out:
    free(prov);
    free(parent);
    free(area);
    return rc;
}

/* --------------------------------------------------------------- erosion */

/*
 * Reference erosion, one row at a time: pixel (x, y) of label l becomes 0
 * when a 4-neighbour inside the image holds another value. Row y is decided
 * from the original rows y-1, y, y+1; row y-1 has already been rewritten,
 * so its original membership is kept in scratch (2 * nx bytes: previous and
 * current row). The caller provides scratch, so this never fails (it
 * returns void and must not allocate). Cost: iters full passes over the
 * rows holding l; boundary.c erodes many labels at once with a distance
 * transform and is tested against this.
 */
void sf__erode_label(uint16_t *labels, int nx, int ny, uint16_t l, int iters,
                     uint8_t *scratch) {
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

    uint8_t *prev = scratch, *cur = scratch + nx;
    for (int it = 0; it < iters; it++) {
        for (int y = y0; y <= y1; y++) {
            uint16_t *row = labels + (size_t)y * (size_t)nx;
            const uint16_t *down = y + 1 < ny ? row + nx : NULL;
            for (int x = 0; x < nx; x++) cur[x] = row[x] == l;
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
