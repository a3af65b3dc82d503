/*
 * corpus_check.c - `verify` (files vs manifest vs SHA256SUMS, manifest
 * integrity, regeneration from recorded seeds) and `merge` (shards into one
 * corpus equal to a single run).
 */
#include "sf_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct problems {
    sf_problem_fn fn;
    void *ctx;
    long n;
} problems;

static void problem(problems *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void problem(problems *p, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->n++;
    if (p->fn) p->fn(p->ctx, msg);
}

/* Corpus files are never symbolic links (a manifest could point one
 * anywhere): O_NOFOLLOW makes a link fail with ELOOP. */
static int read_file(const char *path, uint8_t **out, size_t *n) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "rb");
    if (!f) {
        if (fd >= 0) close(fd);
        return -1;
    }
    size_t cap = 1 << 20, len = 0;
    uint8_t *b = malloc(cap);
    while (b) {
        size_t got = fread(b + len, 1, cap - len, f);
        len += got;
        if (len < cap) break;
        uint8_t *nb = realloc(b, cap * 2);
        if (!nb) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
    }
    int bad = ferror(f) || !b;
    fclose(f);
    if (bad) {
        free(b);
        return -1;
    }
    *out = b;
    *n = len;
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Binary search of a sorted path list. */
static int has_path(char **sorted, size_t n, const char *p) {
    return bsearch(&p, sorted, n, sizeof *sorted, cmp_str) != NULL;
}

static void check_manifest(sqlite3 *db, const sf_corpus *c, problems *p) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) ==
        SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *r = (const char *)sqlite3_column_text(st, 0);
            if (r && strcmp(r, "ok"))
                problem(p, "manifest.sqlite: integrity: %s", r);
        }
    }
    sqlite3_finalize(st);
    const sf_corpus_info *in = sf_corpus_get_info(c);
    uint64_t want = in->end - in->first, n = sf_corpus_count(c);
    if (n != want)
        problem(p,
                "manifest.sqlite: %llu sample rows, the corpus range [%llu, "
                "%llu) needs %llu",
                (unsigned long long)n, (unsigned long long)in->first,
                (unsigned long long)in->end, (unsigned long long)want);
    /* Missing rows by index: the rows are sorted and inside the range, so
     * walk the gaps between them (not the range: a manifest can claim
     * 10^8 samples and hold three rows). */
    uint64_t next = in->first, listed = 0, missing = 0;
    for (uint64_t pos = 0; pos <= n; pos++) {
        sf_corpus_sample s;
        uint64_t upto = in->end;
        if (pos < n) {
            if (sf_corpus_sample_at(c, pos, &s, NULL) || s.index < next)
                continue;
            upto = s.index;
        }
        for (uint64_t i = next; i < upto && listed < 20; i++, listed++)
            problem(p, "manifest.sqlite: no row for sample %llu",
                    (unsigned long long)i);
        missing += upto - next;
        next = upto + 1;
    }
    if (missing > 20)
        problem(p, "manifest.sqlite: ... and %llu more missing rows",
                (unsigned long long)(missing - 20));
    const char *sql =
        "SELECT s.sample_index, s.n_instances, COUNT(i.label) FROM samples s"
        " LEFT JOIN instances i ON i.sample_index = s.sample_index"
        " GROUP BY s.sample_index HAVING COUNT(i.label) != s.n_instances";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW)
            problem(p,
                    "manifest.sqlite: sample %lld has %d instance rows, "
                    "n_instances says %d",
                    sqlite3_column_int64(st, 0), sqlite3_column_int(st, 2),
                    sqlite3_column_int(st, 1));
    sqlite3_finalize(st);
    sql =
        "SELECT DISTINCT sample_index FROM instances WHERE sample_index NOT IN"
        " (SELECT sample_index FROM samples)";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW)
            problem(p,
                    "manifest.sqlite: instance rows for sample %lld, which has "
                    "no row",
                    sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
}

static void check_files(const sf_corpus *c, problems *p) {
    const char *dir = sf_corpus_dir(c);
    for (uint64_t i = 0; i < sf_corpus_count(c); i++) {
        sf_corpus_sample s;
        sf_corpus_sample_at(c, i, &s, NULL);
        for (int k = 0; k < 2; k++) {
            const char *rel = k ? s.label_path : s.image_path;
            const char *want = k ? s.label_sha256 : s.image_sha256;
            uint64_t bytes = k ? s.label_bytes : s.image_bytes;
            char path[4200], hex[65];
            snprintf(path, sizeof path, "%s/%s", dir, rel);
            uint8_t *b;
            size_t n;
            if (read_file(path, &b, &n)) {
                problem(p, "%s: %s (sample %llu)", rel,
                        errno == ELOOP ? "a symbolic link: refused"
                                       : "missing or unreadable",
                        (unsigned long long)s.index);
                continue;
            }
            sf_sha256_hex(b, n, hex);
            free(b);
            if (n != bytes)
                problem(p, "%s: %zu bytes, manifest says %llu", rel, n,
                        (unsigned long long)bytes);
            else if (strcmp(hex, want))
                problem(p, "%s: SHA-256 %s does not match the manifest's %s",
                        rel, hex, want);
        }
    }
}

static void check_sums(const sf_corpus *c, problems *p) {
    const char *dir = sf_corpus_dir(c);
    uint64_t n = sf_corpus_count(c);
    char path[4200];
    snprintf(path, sizeof path, "%s/SHA256SUMS", dir);
    uint8_t *b;
    size_t len;
    if (read_file(path, &b, &len)) {
        problem(p, "SHA256SUMS: missing");
        return;
    }
    char *text = realloc(b, len + 1);
    if (!text) {
        free(b);
        return;
    }
    text[len] = '\0';
    unsigned char *seen = calloc(2 * n + 1, 1);
    int line = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
         l = strtok_r(NULL, "\n", &save)) {
        line++;
        char hex[65], rel[200];
        if (strlen(l) < 67 || sscanf(l, "%64[0-9a-f]  %199s", hex, rel) != 2 ||
            strlen(hex) != 64) {
            problem(p, "SHA256SUMS:%d: malformed line", line);
            continue;
        }
        /* find the file in the manifest: names are index-derived and the
         * rows sorted by index, so a binary search (a linear one made
         * verify quadratic in the corpus size) */
        int found = 0, k = !strncmp(rel, "labels/", 7);
        const char *q = rel + 7;
        char *e = NULL;
        unsigned long long want = 0;
        if ((k || !strncmp(rel, "images/", 7)) && *q >= '0' && *q <= '9') {
            errno = 0;
            want = strtoull(q, &e, 10);
            if (errno || strcmp(e, ".png")) e = NULL;
        }
        uint64_t lo = 0, hi = e ? n : 0;
        sf_corpus_sample s;
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo) / 2;
            sf_corpus_sample_at(c, mid, &s, NULL);
            if (s.index < want)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (e && lo < n && !sf_corpus_sample_at(c, lo, &s, NULL) &&
            s.index == want && !strcmp(rel, k ? s.label_path : s.image_path)) {
            found = 1;
            if (seen) seen[2 * lo + (uint64_t)k] = 1;
            if (strcmp(hex, k ? s.label_sha256 : s.image_sha256))
                problem(p, "SHA256SUMS:%d: %s hash differs from the manifest",
                        line, rel);
        }
        if (!found)
            problem(p, "SHA256SUMS:%d: %s is not in the manifest", line, rel);
    }
    for (uint64_t i = 0; seen && i < n; i++)
        for (int k = 0; k < 2; k++)
            if (!seen[2 * i + (uint64_t)k]) {
                sf_corpus_sample s;
                sf_corpus_sample_at(c, i, &s, NULL);
                problem(p, "SHA256SUMS: %s is not listed",
                        k ? s.label_path : s.image_path);
            }
    free(seen);
    free(text);
}

static void check_orphans(const sf_corpus *c, problems *p) {
    uint64_t n = sf_corpus_count(c);
    char **paths = calloc(2 * n + 1, sizeof *paths);
    if (!paths) return;
    for (uint64_t i = 0; i < n; i++) {
        sf_corpus_sample s;
        sf_corpus_sample_at(c, i, &s, NULL);
        paths[2 * i] = strdup(s.image_path);
        paths[2 * i + 1] = strdup(s.label_path);
    }
    qsort(paths, 2 * n, sizeof *paths, cmp_str);
    for (int k = 0; k < 2; k++) {
        const char *sub = k ? "labels" : "images";
        char d[4200];
        snprintf(d, sizeof d, "%s/%s", sf_corpus_dir(c), sub);
        DIR *dh = opendir(d);
        if (!dh) {
            problem(p, "%s/: missing directory", sub);
            continue;
        }
        struct dirent *e;
        while ((e = readdir(dh))) {
            if (e->d_name[0] == '.') continue;
            char rel[600];
            snprintf(rel, sizeof rel, "%s/%s", sub, e->d_name);
            if (!has_path(paths, 2 * n, rel))
                problem(p, "%s: extra file not in the manifest", rel);
        }
        closedir(dh);
    }
    for (uint64_t i = 0; i < 2 * n; i++)
        free(paths[i]);
    free(paths);
}

static void check_regenerate(const sf_corpus *c, sqlite3 *db, int k,
                             uint64_t pick_seed, problems *p) {
    sf_config cfg;
    sf_err e = {0};
    const char *y = sf_corpus_config_yaml(c);
    if (sf_config_parse("manifest config", y, strlen(y), &cfg, &e)) {
        problem(p, "manifest.sqlite: recorded config does not parse: %s",
                e.msg);
        return;
    }
    uint64_t n = sf_corpus_count(c);
    if (n == 0 || k <= 0) return;
    if ((uint64_t)k > n) k = (int)n;
    sf_draw d;
    sf__draw_init(&d, pick_seed, 0, SF_STREAM_VERIFY_PICK);
    unsigned char *picked = calloc(n, 1);
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(db,
                       "SELECT params_json FROM samples WHERE sample_index = ?",
                       -1, &st, NULL);
    for (int done = 0; picked && done < k;) {
        uint64_t pos = (uint64_t)sf__draw_int(&d, 0, (int)(n - 1));
        if (picked[pos]) continue;
        picked[pos] = 1;
        done++;
        sf_corpus_sample s;
        sf_corpus_sample_at(c, pos, &s, NULL);
        sf_sample *smp = NULL;
        if (sf_sample_generate(&cfg, sf_corpus_get_info(c)->master_seed,
                               s.index, &smp, &e)) {
            problem(p, "sample %llu: regeneration failed: %s",
                    (unsigned long long)s.index, e.msg);
            continue;
        }
        uint8_t *png;
        size_t np;
        char hex[65];
        for (int kk = 0; kk < 2; kk++) {
            if (sf__png_encode(kk ? (const void *)smp->labels : smp->image,
                               smp->nx, smp->ny, kk ? 16 : 8, 1, cfg.png_level,
                               &png, &np, &e))
                continue;
            sf_sha256_hex(png, np, hex);
            free(png);
            if (strcmp(hex, kk ? s.label_sha256 : s.image_sha256))
                problem(p, "sample %llu: regenerated %s differs from %s",
                        (unsigned long long)s.index, kk ? "label map" : "image",
                        kk ? s.label_path : s.image_path);
        }
        if (st) {
            sqlite3_reset(st);
            sqlite3_bind_int64(st, 1, (sqlite3_int64)s.index);
            if (sqlite3_step(st) == SQLITE_ROW) {
                const char *j = (const char *)sqlite3_column_text(st, 0);
                if (!j || strcmp(j, smp->params_json))
                    problem(p,
                            "sample %llu: regenerated parameters differ from "
                            "the manifest",
                            (unsigned long long)s.index);
            }
        }
        sf_sample_free(smp);
    }
    sqlite3_finalize(st);
    free(picked);
}

int sf_corpus_verify(const char *dir, int regenerate, uint64_t pick_seed,
                     sf_problem_fn fn, void *ctx, long *n_problems,
                     sf_err *err) {
    sf_corpus *c = NULL;
    sqlite3 *db = NULL;
    problems p = {fn, ctx, 0};
    int rc = sf_corpus_open(dir, &c, err);
    if (rc) return rc;
    char path[4200];
    snprintf(path, sizeof path, "%s/manifest.sqlite", dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        rc = sf_err_set(err, SF_EIO, "%s: %s", path, sqlite3_errmsg(db));
        goto out;
    }
    check_manifest(db, c, &p);
    check_files(c, &p);
    check_sums(c, &p);
    check_orphans(c, &p);
    if (regenerate > 0) check_regenerate(c, db, regenerate, pick_seed, &p);
    *n_problems = p.n;
out:
    sqlite3_close(db);
    sf_corpus_close(c);
    return rc;
}

/* ------------------------------------------------------------------ merge */

typedef struct shard {
    sf_corpus *c;
    const char *dir;
} shard;

static int cmp_shard(const void *a, const void *b) {
    uint64_t x = sf_corpus_get_info(((const shard *)a)->c)->first;
    uint64_t y = sf_corpus_get_info(((const shard *)b)->c)->first;
    return x < y ? -1 : x > y;
}

static int copy_checked(const char *src, const char *dst, const char *sha,
                        sf_err *err) {
    uint8_t *b;
    size_t n;
    char hex[65];
    if (read_file(src, &b, &n))
        return errno == ELOOP
                   ? sf_err_set(err, SF_ECORRUPT,
                                "%s: a symbolic link in a shard: refused", src)
                   : sf_err_set(err, SF_EIO, "%s: cannot read: %m", src);
    sf_sha256_hex(b, n, hex);
    int rc = strcmp(hex, sha)
                 ? sf_err_set(err, SF_ECORRUPT,
                              "%s: SHA-256 does not match its manifest", src)
                 : sf_write_atomic(dst, b, n, 0, err);
    free(b);
    return rc;
}

/* Long by design (~170 lines): every shard is checked against the first
 * before anything is written, then copied; checks and copy share one
 * cleanup path, so a refused or failed merge leaves no half corpus. */
int sf_corpus_merge(const char *out, const char *const *dirs, int n_shards,
                    sf_progress_fn progress, void *progress_ctx, sf_err *err) {
    int rc = SF_OK;
    shard *sh = calloc((size_t)n_shards + 1, sizeof *sh);
    sqlite3 *db = NULL;
    char tmp[4200], path[4200], path2[4200];
    if (!sh) return sf_err_set(err, SF_ENOMEM, "out of memory");
    if (n_shards < 1) {
        rc = sf_err_set(err, SF_EINVAL,
                        "merge needs at least one shard directory");
        goto out;
    }
    struct stat sb;
    if (stat(out, &sb) == 0) {
        rc = sf_err_set(err, SF_EEXIST,
                        "%s already exists: merge writes a new corpus", out);
        goto out;
    }
    uint64_t total = 0;
    for (int i = 0; i < n_shards; i++) {
        sh[i].dir = dirs[i];
        if ((rc = sf_corpus_open(dirs[i], &sh[i].c, err))) goto out;
        const sf_corpus_info *a = sf_corpus_get_info(sh[i].c),
                             *z = sf_corpus_get_info(sh[0].c);
        if (strcmp(a->config_sha256, z->config_sha256) ||
            a->master_seed != z->master_seed ||
            a->sample_count != z->sample_count ||
            a->rng_version != z->rng_version ||
            strcmp(a->generator, z->generator) ||
            a->image_size != z->image_size) {
            rc = sf_err_set(err, SF_EEXIST,
                            "%s and %s are not shards of one corpus (config, "
                            "seed, count or "
                            "generator differ)",
                            dirs[0], dirs[i]);
            goto out;
        }
        if (sf_corpus_count(sh[i].c) != a->end - a->first) {
            rc = sf_err_set(err, SF_ECORRUPT,
                            "%s is incomplete: %llu of %llu samples", dirs[i],
                            (unsigned long long)sf_corpus_count(sh[i].c),
                            (unsigned long long)(a->end - a->first));
            goto out;
        }
        total += a->end - a->first;
    }
    qsort(sh, (size_t)n_shards, sizeof *sh, cmp_shard);
    uint64_t expect = 0, count = sf_corpus_get_info(sh[0].c)->sample_count;
    for (int i = 0; i < n_shards; i++) {
        const sf_corpus_info *a = sf_corpus_get_info(sh[i].c);
        if (a->first > expect) {
            rc = sf_err_set(
                err, SF_ECORRUPT, "gap: samples [%llu, %llu) are in no shard",
                (unsigned long long)expect, (unsigned long long)a->first);
            goto out;
        }
        if (a->first < expect) {
            rc = sf_err_set(err, SF_ECORRUPT,
                            "overlap: %s starts at %llu, before %llu",
                            sh[i].dir, (unsigned long long)a->first,
                            (unsigned long long)expect);
            goto out;
        }
        expect = a->end;
    }
    if (expect != count) {
        rc = sf_err_set(err, SF_ECORRUPT,
                        "gap: samples [%llu, %llu) are in no shard",
                        (unsigned long long)expect, (unsigned long long)count);
        goto out;
    }

    /* Build in OUT.partial, rename at the end: OUT appears complete or not
     * at all; a killed merge is restarted from scratch. */
    snprintf(tmp, sizeof tmp, "%s.partial", out);
    snprintf(path, sizeof path, "rm -rf -- '%s'", tmp);
    if (strchr(tmp, '\'') || system(path) != 0) {
        rc = sf_err_set(err, SF_EIO, "%s: cannot clear", tmp);
        goto out;
    }
    snprintf(path, sizeof path, "%s/images", tmp);
    if ((rc = sf_mkdir_p(path, err))) goto out;
    snprintf(path, sizeof path, "%s/labels", tmp);
    if ((rc = sf_mkdir_p(path, err))) goto out;
    uint64_t done = 0;
    for (int i = 0; i < n_shards; i++)
        for (uint64_t k = 0; k < sf_corpus_count(sh[i].c); k++) {
            sf_corpus_sample s;
            sf_corpus_sample_at(sh[i].c, k, &s, NULL);
            for (int f = 0; f < 2; f++) {
                const char *rel = f ? s.label_path : s.image_path;
                snprintf(path, sizeof path, "%s/%s", sh[i].dir, rel);
                snprintf(path2, sizeof path2, "%s/%s", tmp, rel);
                if ((rc = copy_checked(path, path2,
                                       f ? s.label_sha256 : s.image_sha256,
                                       err)))
                    goto out;
            }
            done++;
            if (progress && progress(progress_ctx, done, total)) {
                rc = sf_err_set(err, SF_ECANCEL, "cancelled");
                goto out;
            }
        }
    /* Manifest: the shard rows, in index order, under one corpus row. */
    snprintf(path, sizeof path, "%s/manifest.sqlite", tmp);
    if (sqlite3_open_v2(path, &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_URI,
                        NULL) != SQLITE_OK) {
        rc = sf_err_set(err, SF_EDB, "%s: %s", path, sqlite3_errmsg(db));
        goto out;
    }
    char *msg = NULL;
    /* OUT.partial is private until renamed, so per-shard transactions are
     * enough (an attached database cannot be detached mid-transaction). */
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL;", NULL, NULL, &msg) ||
        sqlite3_exec(db, sf__manifest_sql, NULL, NULL, &msg)) {
        rc = sf_err_set(err, SF_EDB, "%s: %s", path, msg ? msg : "error");
        sqlite3_free(msg);
        goto out;
    }
    for (int i = 0; i < n_shards; i++) {
        sqlite3_stmt *st = NULL;
        char uri[4300];
        snprintf(path2, sizeof path2, "%s/manifest.sqlite", sh[i].dir);
        /* A URI: every byte of the path but [A-Za-z0-9/._-] percent-encoded,
         * so a '?', '#' or '%' in a directory name stays part of the name. */
        size_t u = (size_t)snprintf(uri, sizeof uri, "file:");
        for (const char *p = path2; *p && u + 4 < sizeof uri - 12; p++) {
            unsigned char ch = (unsigned char)*p;
            if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                (ch >= '0' && ch <= '9') || strchr("/._-", ch))
                uri[u++] = (char)ch;
            else
                u += (size_t)snprintf(uri + u, sizeof uri - u, "%%%02X", ch);
        }
        snprintf(uri + u, sizeof uri - u, "?mode=ro");
        const char *steps[] = {
            "ATTACH DATABASE ?1 AS shard",
            "BEGIN",
            i == 0 ? "INSERT INTO corpus SELECT id, format_version, generator, "
                     "git_commit,"
                     " rng_version, config_yaml, config_sha256, master_seed, "
                     "sample_count,"
                     " 0, 1, 0, sample_count, image_size,"
                     " strftime('%Y-%m-%dT%H:%M:%SZ','now') FROM shard.corpus"
                   : "SELECT 1",
            "INSERT INTO samples SELECT * FROM shard.samples ORDER BY "
            "sample_index",
            "INSERT INTO instances SELECT * FROM shard.instances ORDER BY "
            "sample_index, label",
            "COMMIT",
            "DETACH DATABASE shard"};
        for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
            if (sqlite3_prepare_v2(db, steps[s], -1, &st, NULL) != SQLITE_OK) {
                rc = sf_err_set(err, SF_EDB, "%s: %s", sh[i].dir,
                                sqlite3_errmsg(db));
                goto out;
            }
            if (s == 0) sqlite3_bind_text(st, 1, uri, -1, SQLITE_TRANSIENT);
            int r = sqlite3_step(st);
            sqlite3_finalize(st);
            if (r != SQLITE_DONE && r != SQLITE_ROW) {
                rc = sf_err_set(err, SF_EDB, "%s: %s (merging %s)", path,
                                sqlite3_errmsg(db), sh[i].dir);
                goto out;
            }
        }
    }
    if (sqlite3_exec(db, "PRAGMA journal_mode=DELETE;", NULL, NULL, &msg)) {
        rc = sf_err_set(err, SF_EDB, "%s: %s", path, msg ? msg : "error");
        sqlite3_free(msg);
        goto out;
    }
    sqlite3_close(db);
    db = NULL;
    const char *yaml = sf_corpus_config_yaml(sh[0].c);
    snprintf(path, sizeof path, "%s/config.yaml", tmp);
    if ((rc = sf_write_atomic(path, yaml, strlen(yaml), 0, err))) goto out;
    if ((rc = sf__corpus_publish(tmp, err))) goto out;
    if (rename(tmp, out) != 0) {
        rc = sf_err_set(err, SF_EIO, "rename %s -> %s: %m", tmp, out);
        goto out;
    }
out:
    if (db) sqlite3_close(db);
    for (int i = 0; i < n_shards; i++)
        sf_corpus_close(sh[i].c);
    free(sh);
    return rc;
}
