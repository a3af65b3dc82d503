/*
 * generate.c - the corpus driver: samples in parallel (OpenMP, one sample
 * per task), files written under a temporary name and renamed, results
 * collected per batch and handed over in index order, so every output byte
 * is independent of thread count and shard split.
 */
#include "sf_int.h"

#include <errno.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

void sf_shard_range(uint64_t count, int shard_index, int shard_count,
                    uint64_t *first, uint64_t *end) {
    if (shard_count < 1) shard_count = 1;
    unsigned __int128 c = count;
    *first = (uint64_t)(c * (unsigned)shard_index / (unsigned)shard_count);
    *end = (uint64_t)(c * ((unsigned)shard_index + 1) / (unsigned)shard_count);
}

void sf_sample_name(uint64_t index, uint64_t count, char *buf, size_t n) {
    int width = 6;
    for (uint64_t m = 1000000; m < count && width < 20; m *= 10)
        width++;
    snprintf(buf, n, "%0*llu", width, (unsigned long long)index);
}

void sf__record_free(sf_record *r) {
    if (!r) return;
    free(r->params_json);
    free(r->instances);
    memset(r, 0, sizeof *r);
}

/* End of the run of equal labels that starts at x: the first x' > x with
 * row[x'] != row[x], or nx (SSE2: eight labels per compare). */
static inline int label_run_end(const uint16_t *row, int x, int nx) {
    const uint16_t l = row[x++];
#ifdef __SSE2__
    const __m128i lv = _mm_set1_epi16((short)l);
    for (; x + 8 <= nx; x += 8) {
        unsigned ne =
            0xFFFFu & ~(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi16(
                          _mm_loadu_si128((const __m128i *)(row + x)), lv));
        if (ne) return x + __builtin_ctz(ne) / 2;
    }
#endif
    while (x < nx && row[x] == l)
        x++;
    return x;
}

/* Instance statistics for the manifest: area, bbox, centroid and an
 * interior point (the pixel of the instance nearest its centroid, the
 * first in raster order among equals). One pass over label runs for area,
 * bbox and the (exact, integer) coordinate sums; then, per instance, a
 * search in square rings around the centroid that stops once no farther
 * ring can hold a pixel as near: the same answer as a full scan, without
 * touching the image again for the usual instance that covers its
 * centroid. */
int sf__instance_stats(const uint16_t *labels, int nx, int ny, int k,
                       sf_instance **out) {
    *out = NULL;
    if (k <= 0) return SF_OK;
    sf_instance *in = calloc((size_t)k, sizeof *in);
    int64_t *sxy = calloc(2 * (size_t)k, sizeof *sxy);
    if (!in || !sxy) {
        free(in);
        free(sxy);
        return SF_ENOMEM;
    }
    for (int l = 0; l < k; l++) {
        in[l].label = l + 1;
        in[l].bbox[0] = nx;
        in[l].bbox[1] = ny;
        in[l].bbox[2] = in[l].bbox[3] = -1;
    }
    for (int y = 0; y < ny; y++) {
        const uint16_t *row = labels + (size_t)y * nx;
        for (int x = 0; x < nx;) {
            int x0 = x, l = row[x];
            x = label_run_end(row, x, nx);
            if (!l || l > k) continue;
            sf_instance *p = &in[l - 1];
            int64_t len = x - x0;
            p->area += len;
            sxy[2 * (l - 1)] += len * (x0 + x - 1) / 2; /* sum x0 .. x-1 */
            sxy[2 * (l - 1) + 1] += len * y;
            if (x0 < p->bbox[0]) p->bbox[0] = x0;
            if (x - 1 > p->bbox[2]) p->bbox[2] = x - 1;
            if (y < p->bbox[1]) p->bbox[1] = y;
            p->bbox[3] = y;
        }
    }
    for (int l = 0; l < k; l++) {
        sf_instance *p = &in[l];
        p->interior[0] = p->interior[1] = -1;
        if (!p->area) continue;
        double cx = (double)sxy[2 * l] / (double)p->area;
        double cy = (double)sxy[2 * l + 1] / (double)p->area;
        p->centroid[0] = cx;
        p->centroid[1] = cy;
        /* Rings of Chebyshev radius r around pixel (qx, qy) nearest the
         * centroid: every pixel of ring r is at least r - 0.5 away. */
        int qx = (int)floor(cx + 0.5), qy = (int)floor(cy + 0.5);
        double best = INFINITY;
        int bx = -1, by = -1;
        int rmax = 0; /* rings beyond the bbox hold no pixel of l */
        {
            int d[4] = {qx - p->bbox[0], p->bbox[2] - qx, qy - p->bbox[1],
                        p->bbox[3] - qy};
            for (int i = 0; i < 4; i++)
                if (d[i] > rmax) rmax = d[i];
        }
        for (int r = 0; r <= rmax; r++) {
            if (r > 0 && best < INFINITY) {
                double lo = r - 0.5;
                if (lo * lo > best * (1.0 + 1e-9)) break;
            }
            int y0 = qy - r, y1 = qy + r;
            if (y0 < p->bbox[1]) y0 = p->bbox[1];
            if (y1 > p->bbox[3]) y1 = p->bbox[3];
            for (int y = y0; y <= y1; y++) {
                const uint16_t *row = labels + (size_t)y * nx;
                /* whole rows at the ring's top and bottom, else its two
                 * side pixels */
                int edge = y == qy - r || y == qy + r;
                int step = edge ? 1 : 2 * r;
                int x = qx - r, xe = qx + r;
                if (edge && x < p->bbox[0]) x = p->bbox[0];
                if (edge && xe > p->bbox[2]) xe = p->bbox[2];
                for (; x <= xe; x += step) {
                    if (x < p->bbox[0] || x > p->bbox[2] || row[x] != l + 1)
                        continue;
                    double dx = x - cx, dy = y - cy;
                    double d2 = dx * dx + dy * dy;
                    if (d2 < best ||
                        (d2 == best && (y < by || (y == by && x < bx)))) {
                        best = d2;
                        bx = x;
                        by = y;
                    }
                }
            }
        }
        p->interior[0] = bx;
        p->interior[1] = by;
    }
    free(sxy);
    *out = in;
    return SF_OK;
}

/* Make one sample and (optionally) its two files. Thread-safe. */
static int make_one(const sf_config *c, const sf_generate_opts *o,
                    uint64_t index, sf_record *r, sf_err *err) {
    sf_sample *s = NULL;
    uint8_t *png_i = NULL, *png_l = NULL;
    size_t n_i = 0, n_l = 0;
    char name[64], path[4200];
    int rc = sf_sample_generate(c, o->seed, index, &s, err);
    if (rc) goto out;
    r->s.index = index;
    r->s.seed = s->seed;
    r->s.module = s->module;
    r->s.nx = s->nx;
    r->s.ny = s->ny;
    r->s.n_instances = s->n_instances;
    if ((rc = sf__instance_stats(s->labels, s->nx, s->ny, s->n_instances,
                                 &r->instances))) {
        sf_err_set(err, rc, "out of memory");
        goto out;
    }
    if (o->write_files || o->encode_only) {
        if ((rc = sf__png_encode(s->image, s->nx, s->ny, 8, 1, c->png_level,
                                 &png_i, &n_i, err)) ||
            (rc = sf__png_encode(s->labels, s->nx, s->ny, 16, 1, c->png_level,
                                 &png_l, &n_l, err)))
            goto out;
        if (sf_sha256_hex(png_i, n_i, r->s.image_sha256) ||
            sf_sha256_hex(png_l, n_l, r->s.label_sha256)) {
            rc = sf_err_set(err, SF_ENOMEM, "SHA-256 failed");
            goto out;
        }
        r->s.image_bytes = n_i;
        r->s.label_bytes = n_l;
    }
    sf_sample_name(index, o->count, name, sizeof name);
    snprintf(r->s.image_path, sizeof r->s.image_path, "images/%s.png", name);
    snprintf(r->s.label_path, sizeof r->s.label_path, "labels/%s.png", name);
    if (o->write_files) {
        snprintf(path, sizeof path, "%s/%s", o->out_dir, r->s.image_path);
        if ((rc = sf_write_atomic(path, png_i, n_i, o->sync, err))) goto out;
        snprintf(path, sizeof path, "%s/%s", o->out_dir, r->s.label_path);
        if ((rc = sf_write_atomic(path, png_l, n_l, o->sync, err))) goto out;
    }
    r->params_json = s->params_json;
    s->params_json = NULL;
out:
    free(png_i);
    free(png_l);
    sf_sample_free(s);
    return rc;
}

/* One batch: its records, which of them to make, their results. */
typedef struct gen_batch {
    uint64_t b0, n;
    sf_record *recs;
    unsigned char *need;
    sf_err *errs;
    int *rcs;
} gen_batch;

static void batch_clear(gen_batch *b) {
    for (uint64_t i = 0; i < b->n; i++)
        sf__record_free(&b->recs[i]);
    b->n = 0;
}

/* The batch's first failure (index order) into err; SF_OK if none. */
static int batch_status(const gen_batch *b, sf_err *err) {
    for (uint64_t i = 0; i < b->n; i++)
        if (b->rcs[i]) {
            if (err) *err = b->errs[i];
            sf_err_wrap(err, "sample %llu", (unsigned long long)(b->b0 + i));
            return b->rcs[i];
        }
    return SF_OK;
}

/*
 * Batches of threads x 8 samples, one OpenMP task per sample. The commit
 * hook of batch b (the corpus: sync, then manifest rows, in index order)
 * runs as one more task while batch b + 1 is being made, so no thread
 * waits for it; is_done for batch b + 1 is asked before that commit
 * starts (the hooks never run concurrently with each other).
 */
int sf_generate(const sf_config *c, const sf_generate_opts *o,
                sf_generate_stats *st, sf_err *err) {
    uint64_t first, end;
    int rc = SF_OK;
    gen_batch bt[2] = {{0}};
    double t0 = sf_clock_s();
    memset(st, 0, sizeof *st);
    if (o->shard_count < 1 || o->shard_index < 0 ||
        o->shard_index >= o->shard_count)
        return sf_err_set(err, SF_EINVAL, "bad shard %d/%d", o->shard_index,
                          o->shard_count);
    sf_shard_range(o->count, o->shard_index, o->shard_count, &first, &end);
    int threads = o->threads > 0 ? o->threads : sf__ncores();
    if (o->write_files) {
        char p[4200];
        snprintf(p, sizeof p, "%s/images", o->out_dir);
        if ((rc = sf_mkdir_p(p, err))) return rc;
        snprintf(p, sizeof p, "%s/labels", o->out_dir);
        if ((rc = sf_mkdir_p(p, err))) return rc;
    }
    /* Batches keep memory bounded and give the committer index order. */
    const uint64_t batch = (uint64_t)threads * 8;
    for (int k = 0; k < 2; k++) {
        bt[k].recs = calloc(batch, sizeof *bt[k].recs);
        bt[k].need = calloc(batch, 1);
        bt[k].errs = calloc(batch, sizeof *bt[k].errs);
        bt[k].rcs = calloc(batch, sizeof *bt[k].rcs);
        if (!bt[k].recs || !bt[k].need || !bt[k].errs || !bt[k].rcs) {
            rc = sf_err_set(err, SF_ENOMEM, "out of memory");
            goto out;
        }
    }
    const uint64_t total = end - first;
    uint64_t done = 0;
    gen_batch *cur = &bt[0], *prev = &bt[1]; /* prev: made, not committed */
    sf_err cerr = {0};
#pragma omp parallel num_threads(threads)
#pragma omp single
    {
        for (uint64_t b0 = first; !rc; b0 += batch) {
            cur->b0 = b0;
            cur->n = b0 < end ? (end - b0 < batch ? end - b0 : batch) : 0;
            for (uint64_t i = 0; i < cur->n; i++) {
                cur->need[i] = !o->is_done || !o->is_done(o->hook_ctx, b0 + i);
                cur->rcs[i] = SF_OK;
                sf_err_clear(&cur->errs[i]);
            }
            if (!cur->n && !prev->n) break;
            gen_batch *gb = cur, *cb = prev;
            for (uint64_t i = 0; i < gb->n; i++) {
                if (!gb->need[i]) continue;
#pragma omp task firstprivate(i, gb)
                gb->rcs[i] =
                    make_one(c, o, gb->b0 + i, &gb->recs[i], &gb->errs[i]);
            }
            int crc = SF_OK;
            if (cb->n && o->commit) {
#pragma omp task firstprivate(cb) shared(crc, cerr)
                {
                    sf_err_clear(&cerr);
                    crc = o->commit(o->hook_ctx, cb->recs, cb->need, cb->n,
                                    &cerr);
                }
            }
#pragma omp taskwait
            if (prev->n) {
                if (crc) {
                    if (err) *err = cerr;
                    rc = crc;
                } else {
                    done += prev->n;
                    if (o->progress &&
                        o->progress(o->progress_ctx, done, total))
                        rc = sf_err_set(err, SF_ECANCEL,
                                        "cancelled after %llu samples",
                                        (unsigned long long)done);
                }
                batch_clear(prev);
            }
            if (!rc && (rc = batch_status(cur, err)) == SF_OK) {
                for (uint64_t i = 0; i < cur->n; i++) {
                    if (!cur->need[i]) {
                        st->n_skipped++;
                        continue;
                    }
                    st->n_generated++;
                    st->bytes_written +=
                        cur->recs[i].s.image_bytes + cur->recs[i].s.label_bytes;
                }
            }
            gen_batch *t = prev;
            prev = cur;
            cur = t;
        }
    }
out:
    st->seconds = sf_clock_s() - t0;
    for (int k = 0; k < 2; k++) {
        batch_clear(&bt[k]);
        free(bt[k].recs);
        free(bt[k].need);
        free(bt[k].errs);
        free(bt[k].rcs);
    }
    return rc;
}
