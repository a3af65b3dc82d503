/*
 * corpus.c - the corpus directory: SQLite manifest (WAL, batched
 * transactions), crash-safe resumable generation, the reading API,
 * verification and shard merging.
 *
 * Crash safety: files are renamed into place (NAME.tmp -> NAME), the file
 * system is synced, and only then are the batch's rows committed. A SIGKILL
 * at any moment leaves rows only for durable files; rerunning regenerates
 * whatever has no row (same bytes) and ends with the same corpus.
 */
#define _GNU_SOURCE /* syncfs */
#include "sf_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FORMAT_VERSION 1

struct sf_corpus {
    char *dir;
    sqlite3 *db;
    sf_corpus_info info;
    char *config_yaml;
    sf_corpus_sample *samples;
    uint64_t n;
};

/* ----------------------------------------------------------------- utils */

static int db_fail(sqlite3 *db, sf_err *err, const char *what) {
    const char *f = db ? sqlite3_db_filename(db, "main") : NULL;
    return sf_err_set(err, SF_EDB, "%s%s%s: %s", f && *f ? f : "", f && *f ? ": " : "", what,
                      db ? sqlite3_errmsg(db) : "no database");
}

static int db_exec(sqlite3 *db, const char *sql, sf_err *err) {
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        const char *f = sqlite3_db_filename(db, "main");
        sf_err_set(err, SF_EDB, "%s: %s", f && *f ? f : "manifest", msg ? msg : "error");
        sqlite3_free(msg);
        return SF_EDB;
    }
    return SF_OK;
}

static void utc_now(char *buf, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int module_from_text(const char *s) {
    return s && !strcmp(s, "shape") ? SF_MODE_SHAPE : SF_MODE_BOUNDARY;
}

/* A manifest path must be exactly images/DIGITS.png or labels/DIGITS.png:
 * no '..', no absolute paths, nothing outside the corpus directory. */
int sf__corpus_path_ok(const char *p, const char *sub) {
    size_t n = strlen(sub);
    if (strncmp(p, sub, n) || p[n] != '/') return 0;
    const char *q = p + n + 1;
    int digits = 0;
    while (*q >= '0' && *q <= '9') q++, digits++;
    return digits >= 1 && digits <= 20 && !strcmp(q, ".png");
}

/* Nothing in a corpus we read is a symbolic link: a link could make a
 * manifest's plain name read a file outside the directory. */
static int corpus_no_link(const char *dir, const char *rel, sf_err *err) {
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode))
        return sf_err_set(err, SF_ECORRUPT, "%s: a symbolic link inside a corpus: refused", path);
    return SF_OK;
}

static int db_open(const char *dir, int readonly, sqlite3 **out, sf_err *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/manifest.sqlite", dir);
    sqlite3 *db = NULL;
    int flags = readonly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        int rc = sf_err_set(err, readonly ? SF_EIO : SF_EDB, "%s: cannot open manifest: %s",
                            path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return rc;
    }
    sqlite3_busy_timeout(db, 5000);
    *out = db;
    return SF_OK;
}

#define COL_TEXT(st, i) ((const char *)sqlite3_column_text((st), (i)))

static void copy_text(char *dst, size_t n, const char *s) {
    snprintf(dst, n, "%s", s ? s : "");
}

/* Read the corpus row into info (and the config text if wanted). */
static int read_corpus_row(sqlite3 *db, const char *dir, sf_corpus_info *info,
                           char **config_yaml, sf_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = SF_OK;
    const char *sql =
        "SELECT format_version, generator, git_commit, rng_version, config_yaml,"
        " config_sha256, master_seed, sample_count, shard_index, shard_count,"
        " first_index, end_index, image_size, created_at FROM corpus WHERE id = 1";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = sf_err_set(err, SF_ECORRUPT, "%s/manifest.sqlite: not a synthfm manifest (%s)", dir,
                        sqlite3_errmsg(db));
        goto out;
    }
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = sf_err_set(err, SF_ECORRUPT, "%s/manifest.sqlite: no corpus row", dir);
        goto out;
    }
    if (sqlite3_column_int(st, 0) != FORMAT_VERSION) {
        rc = sf_err_set(err, SF_EUNSUPPORTED, "%s/manifest.sqlite: format version %d, expected %d",
                        dir, sqlite3_column_int(st, 0), FORMAT_VERSION);
        goto out;
    }
    memset(info, 0, sizeof *info);
    copy_text(info->generator, sizeof info->generator, COL_TEXT(st, 1));
    copy_text(info->git_commit, sizeof info->git_commit, COL_TEXT(st, 2));
    info->rng_version = sqlite3_column_int(st, 3);
    copy_text(info->config_sha256, sizeof info->config_sha256, COL_TEXT(st, 5));
    const char *seed = COL_TEXT(st, 6);
    info->master_seed = seed ? strtoull(seed, NULL, 10) : 0;
    info->sample_count = (uint64_t)sqlite3_column_int64(st, 7);
    info->shard_index = sqlite3_column_int(st, 8);
    info->shard_count = sqlite3_column_int(st, 9);
    info->first = (uint64_t)sqlite3_column_int64(st, 10);
    info->end = (uint64_t)sqlite3_column_int64(st, 11);
    info->image_size = sqlite3_column_int(st, 12);
    copy_text(info->created_at, sizeof info->created_at, COL_TEXT(st, 13));
    if (info->end < info->first || info->end > info->sample_count || info->shard_count < 1) {
        rc = sf_err_set(err, SF_ECORRUPT, "%s/manifest.sqlite: inconsistent corpus row", dir);
        goto out;
    }
    if (config_yaml) {
        const char *y = COL_TEXT(st, 4);
        *config_yaml = strdup(y ? y : "");
        if (!*config_yaml) rc = sf_err_set(err, SF_ENOMEM, "out of memory");
    }
out:
    sqlite3_finalize(st);
    return rc;
}

/* --------------------------------------------------------- generation */

typedef struct gen_ctx {
    sqlite3 *db;
    const char *dir;
    uint64_t first, end;
    unsigned char *done; /* bitmap over [first, end) */
    int dirfd;
} gen_ctx;

static int gen_is_done(void *ctx, uint64_t index) {
    gen_ctx *g = ctx;
    uint64_t i = index - g->first;
    return (g->done[i >> 3] >> (i & 7)) & 1;
}

static int insert_record(sqlite3 *db, sqlite3_stmt *ss, sqlite3_stmt *si, const sf_record *r,
                         sf_err *err) {
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->seed);
    sqlite3_reset(ss);
    sqlite3_bind_int64(ss, 1, (sqlite3_int64)r->index);
    sqlite3_bind_text(ss, 2, seed, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(ss, 3, sf_mode_name(r->module), -1, SQLITE_STATIC);
    sqlite3_bind_int(ss, 4, r->nx);
    sqlite3_bind_int(ss, 5, r->ny);
    sqlite3_bind_text(ss, 6, r->image_path, -1, SQLITE_STATIC);
    sqlite3_bind_text(ss, 7, r->image_sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ss, 8, (sqlite3_int64)r->image_bytes);
    sqlite3_bind_text(ss, 9, r->label_path, -1, SQLITE_STATIC);
    sqlite3_bind_text(ss, 10, r->label_sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ss, 11, (sqlite3_int64)r->label_bytes);
    sqlite3_bind_int(ss, 12, r->n_instances);
    sqlite3_bind_text(ss, 13, r->params_json, -1, SQLITE_STATIC);
    if (sqlite3_step(ss) != SQLITE_DONE) return db_fail(db, err, "manifest insert");
    for (int k = 0; k < r->n_instances; k++) {
        const sf_instance *in = &r->instances[k];
        sqlite3_reset(si);
        sqlite3_bind_int64(si, 1, (sqlite3_int64)r->index);
        sqlite3_bind_int(si, 2, in->label);
        sqlite3_bind_int64(si, 3, in->area);
        for (int b = 0; b < 4; b++) sqlite3_bind_int(si, 4 + b, in->bbox[b]);
        sqlite3_bind_double(si, 8, in->centroid[0]);
        sqlite3_bind_double(si, 9, in->centroid[1]);
        sqlite3_bind_int(si, 10, in->interior[0]);
        sqlite3_bind_int(si, 11, in->interior[1]);
        if (sqlite3_step(si) != SQLITE_DONE) return db_fail(db, err, "manifest insert");
    }
    return SF_OK;
}

static const char insert_sample_sql[] =
    "INSERT INTO samples (sample_index, sample_seed, module, width, height, image_path,"
    " image_sha256, image_bytes, label_path, label_sha256, label_bytes, n_instances,"
    " params_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)";
static const char insert_instance_sql[] =
    "INSERT INTO instances (sample_index, label, area, bbox_x0, bbox_y0, bbox_x1,"
    " bbox_y1, centroid_x, centroid_y, interior_x, interior_y)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?)";

static int gen_commit(void *ctx, const sf_record *recs, const unsigned char *need, uint64_t n,
                      sf_err *err) {
    gen_ctx *g = ctx;
    sqlite3_stmt *ss = NULL, *si = NULL;
    int rc = SF_OK, any = 0;
    for (uint64_t i = 0; i < n; i++) any |= need[i];
    if (!any) return SF_OK;
    /* Files first: renamed files and their directory entries on disk
     * before any row says they exist. */
    if (syncfs(g->dirfd) != 0)
        return sf_err_set(err, SF_EIO, "%s: sync failed: %m", g->dir);
    if ((rc = db_exec(g->db, "BEGIN IMMEDIATE", err))) return rc;
    if (sqlite3_prepare_v2(g->db, insert_sample_sql, -1, &ss, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(g->db, insert_instance_sql, -1, &si, NULL) != SQLITE_OK) {
        rc = db_fail(g->db, err, "manifest");
        goto out;
    }
    for (uint64_t i = 0; i < n && !rc; i++)
        if (need[i]) rc = insert_record(g->db, ss, si, &recs[i], err);
    if (!rc) rc = db_exec(g->db, "COMMIT", err);
    if (!rc)
        for (uint64_t i = 0; i < n; i++)
            if (need[i]) {
                uint64_t k = recs[i].index - g->first;
                g->done[k >> 3] |= (unsigned char)(1u << (k & 7));
            }
out:
    sqlite3_finalize(ss);
    sqlite3_finalize(si);
    if (rc) sqlite3_exec(g->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Is the directory empty (or absent)? */
static int dir_state(const char *dir, int *exists, int *empty) {
    DIR *d = opendir(dir);
    *exists = d != NULL;
    *empty = 1;
    if (!d) return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            *empty = 0;
            break;
        }
    closedir(d);
    return 0;
}

static int create_manifest(sqlite3 *db, const sf_config *c, const char *yaml, const char *sha,
                           const sf_generate_opts *o, uint64_t first, uint64_t end,
                           const char *git, sf_err *err) {
    int rc = db_exec(db, sf__manifest_sql, err);
    if (rc) return rc;
    sqlite3_stmt *st = NULL;
    const char *sql =
        "INSERT INTO corpus (id, format_version, generator, git_commit, rng_version,"
        " config_yaml, config_sha256, master_seed, sample_count, shard_index, shard_count,"
        " first_index, end_index, image_size, created_at)"
        " VALUES (1,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(db, err, "manifest");
    char seed[32], now[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    utc_now(now, sizeof now);
    sqlite3_bind_int(st, 1, FORMAT_VERSION);
    sqlite3_bind_text(st, 2, "synthfm " SF_VERSION, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, git, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, SF_RNG_VERSION);
    sqlite3_bind_text(st, 5, yaml, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, sha, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, seed, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)o->count);
    sqlite3_bind_int(st, 9, o->shard_index);
    sqlite3_bind_int(st, 10, o->shard_count);
    sqlite3_bind_int64(st, 11, (sqlite3_int64)first);
    sqlite3_bind_int64(st, 12, (sqlite3_int64)end);
    sqlite3_bind_int(st, 13, c->image_size);
    sqlite3_bind_text(st, 14, now, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? SF_OK : db_fail(db, err, "manifest");
    sqlite3_finalize(st);
    return rc;
}

/* *has_schema = 0 when the database holds no table, view or index. */
static int manifest_has_schema(sqlite3 *db, int *has_schema, sf_err *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL) !=
        SQLITE_OK)
        return db_fail(db, err, "manifest");
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) *has_schema = sqlite3_column_int(st, 0) > 0;
    sqlite3_finalize(st);
    return r == SQLITE_ROW ? SF_OK : db_fail(db, err, "manifest");
}

/* Everything that must agree for a rerun to continue this corpus. */
static int check_same_corpus(const sf_corpus_info *have, const char *sha,
                             const sf_generate_opts *o, const char *dir, sf_err *err) {
    if (strcmp(have->config_sha256, sha))
        return sf_err_set(err, SF_EEXIST,
                          "%s holds a corpus made with a different config (sha256 %.12s..., "
                          "this run %.12s...): use another --out or the same config",
                          dir, have->config_sha256, sha);
    if (have->master_seed != o->seed)
        return sf_err_set(err, SF_EEXIST,
                          "%s holds a corpus made with --seed %llu, not %llu", dir,
                          (unsigned long long)have->master_seed, (unsigned long long)o->seed);
    if (have->sample_count != o->count)
        return sf_err_set(err, SF_EEXIST, "%s holds a corpus of --count %llu, not %llu", dir,
                          (unsigned long long)have->sample_count,
                          (unsigned long long)o->count);
    if (have->shard_index != o->shard_index || have->shard_count != o->shard_count)
        return sf_err_set(err, SF_EEXIST, "%s holds shard %d/%d, not %d/%d", dir,
                          have->shard_index, have->shard_count, o->shard_index,
                          o->shard_count);
    if (have->rng_version != SF_RNG_VERSION)
        return sf_err_set(err, SF_EEXIST,
                          "%s was made with rng_version %d; this build has %d", dir,
                          have->rng_version, SF_RNG_VERSION);
    return SF_OK;
}

static int load_done(sqlite3 *db, gen_ctx *g, uint64_t *n_done, sf_err *err) {
    sqlite3_stmt *st = NULL;
    *n_done = 0;
    if (sqlite3_prepare_v2(db, "SELECT sample_index FROM samples", -1, &st, NULL) != SQLITE_OK)
        return db_fail(db, err, "manifest");
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_int64 i = sqlite3_column_int64(st, 0);
        if (i < (sqlite3_int64)g->first || i >= (sqlite3_int64)g->end) continue;
        uint64_t k = (uint64_t)i - g->first;
        g->done[k >> 3] |= (unsigned char)(1u << (k & 7));
        (*n_done)++;
    }
    sqlite3_finalize(st);
    return r == SQLITE_DONE ? SF_OK : db_fail(db, err, "manifest");
}

int sf_corpus_generate(const sf_config *c, const sf_generate_opts *opts, sf_generate_stats *st,
                       sf_corpus_result *res, sf_err *err) {
    int rc = SF_OK, exists, empty;
    char *yaml = NULL, sha[65], path[4200];
    sqlite3 *db = NULL;
    gen_ctx g = {0};
    g.dirfd = -1;
    sf_generate_opts o = *opts;
    memset(res, 0, sizeof *res);
    memset(st, 0, sizeof *st);
    if ((rc = sf_config_to_yaml(c, &yaml, err))) return rc;
    if (sf_sha256_hex(yaml, strlen(yaml), sha)) {
        rc = sf_err_set(err, SF_ENOMEM, "out of memory");
        goto out;
    }
    if (o.shard_count < 1 || o.shard_index < 0 || o.shard_index >= o.shard_count) {
        rc = sf_err_set(err, SF_EINVAL, "bad shard %d/%d", o.shard_index, o.shard_count);
        goto out;
    }
    sf_shard_range(o.count, o.shard_index, o.shard_count, &g.first, &g.end);
    g.dir = o.out_dir;
    snprintf(path, sizeof path, "%s/manifest.sqlite", o.out_dir);
    if (dir_state(o.out_dir, &exists, &empty)) {
        rc = sf_err_set(err, SF_EIO, "%s: cannot read directory: %m", o.out_dir);
        goto out;
    }
    int have_manifest = access(path, F_OK) == 0;
    if (exists && !empty && !have_manifest) {
        rc = sf_err_set(err, SF_EEXIST,
                        "%s exists and is not a synthfm corpus (no manifest.sqlite): "
                        "refusing to write into it", o.out_dir);
        goto out;
    }
    if ((rc = sf_mkdir_p(o.out_dir, err))) goto out;
    if ((rc = db_open(o.out_dir, 0, &db, err))) goto out;
    if ((rc = db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", err)))
        goto out;
    /* A kill between opening a new manifest and its first commit leaves
     * one with no tables: it holds nothing, so creation starts over. */
    if (have_manifest && (rc = manifest_has_schema(db, &have_manifest, err))) goto out;
    if (!have_manifest) {
        if ((rc = db_exec(db, "BEGIN IMMEDIATE", err))) goto out;
        rc = create_manifest(db, c, yaml, sha, &o, g.first, g.end, sf_git_commit(), err);
        if (!rc) rc = db_exec(db, "COMMIT", err);
        if (rc) goto out;
        res->created = 1;
    } else {
        sf_corpus_info have;
        if ((rc = read_corpus_row(db, o.out_dir, &have, NULL, err))) goto out;
        if ((rc = check_same_corpus(&have, sha, &o, o.out_dir, err))) goto out;
    }
    /* The resolved config next to the data, for people and tools. */
    snprintf(path, sizeof path, "%s/config.yaml", o.out_dir);
    if ((rc = sf_write_atomic(path, yaml, strlen(yaml), 0, err))) goto out;

    g.db = db;
    g.done = calloc((size_t)((g.end - g.first + 7) / 8 + 1), 1);
    if (!g.done) {
        rc = sf_err_set(err, SF_ENOMEM, "out of memory");
        goto out;
    }
    uint64_t n_done = 0;
    if ((rc = load_done(db, &g, &n_done, err))) goto out;
    g.dirfd = open(o.out_dir, O_RDONLY | O_DIRECTORY);
    if (g.dirfd < 0) {
        rc = sf_err_set(err, SF_EIO, "%s: %m", o.out_dir);
        goto out;
    }
    res->was_complete = n_done == g.end - g.first;
    o.write_files = 1;
    o.is_done = gen_is_done;
    o.commit = gen_commit;
    o.hook_ctx = &g;
    if (!res->was_complete) {
        if ((rc = sf_generate(c, &o, st, err))) goto out;
    } else {
        st->n_skipped = n_done;
    }
    /* Back to a single-file manifest for publishing: readers (read-only,
     * maybe on read-only media) then need no -wal/-shm files. */
    if ((rc = db_exec(db, "PRAGMA journal_mode=DELETE", err))) goto out;
    sqlite3_close(db);
    db = NULL;
    rc = sf__corpus_publish(o.out_dir, err);
out:
    if (g.dirfd >= 0) close(g.dirfd);
    free(g.done);
    if (db) sqlite3_close(db);
    free(yaml);
    return rc;
}

/* ------------------------------------------------------------- reading */

void sf_corpus_close(sf_corpus *c) {
    if (!c) return;
    if (c->db) sqlite3_close(c->db);
    free(c->dir);
    free(c->config_yaml);
    free(c->samples);
    free(c);
}

const sf_corpus_info *sf_corpus_get_info(const sf_corpus *c) { return &c->info; }
const char *sf_corpus_config_yaml(const sf_corpus *c) { return c->config_yaml; }
const char *sf_corpus_dir(const sf_corpus *c) { return c->dir; }
uint64_t sf_corpus_count(const sf_corpus *c) { return c->n; }

int sf_corpus_open(const char *dir, sf_corpus **out, sf_err *err) {
    int rc = SF_OK;
    sqlite3_stmt *st = NULL;
    char path[4200];
    struct stat sb;
    sf_corpus *c = calloc(1, sizeof *c);
    if (!c) return sf_err_set(err, SF_ENOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/manifest.sqlite", dir);
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        rc = sf_err_set(err, SF_EIO, "%s: no such corpus directory", dir);
        goto out;
    }
    if (stat(path, &sb) != 0) {
        rc = sf_err_set(err, SF_EIO, "%s: not a corpus (no manifest.sqlite)", dir);
        goto out;
    }
    if ((rc = corpus_no_link(dir, "manifest.sqlite", err)) ||
        (rc = corpus_no_link(dir, "images", err)) || (rc = corpus_no_link(dir, "labels", err)))
        goto out;
    if (!(c->dir = strdup(dir))) {
        rc = sf_err_set(err, SF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = db_open(dir, 1, &c->db, err))) goto out;
    if ((rc = read_corpus_row(c->db, dir, &c->info, &c->config_yaml, err))) goto out;
    uint64_t cap = c->info.end - c->info.first;
    if (cap > 100000000ull) {
        rc = sf_err_set(err, SF_ECORRUPT, "%s: implausible sample range", path);
        goto out;
    }
    /* Allocate for the rows present, not the range the corpus row claims
     * (a few bytes of manifest must not reserve gigabytes). */
    sqlite3_int64 rows = 0;
    if (sqlite3_prepare_v2(c->db, "SELECT count(*) FROM samples", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW || (rows = sqlite3_column_int64(st, 0)) < 0) {
        rc = sf_err_set(err, SF_ECORRUPT, "%s: %s", path, sqlite3_errmsg(c->db));
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((uint64_t)rows > cap) {
        rc = sf_err_set(err, SF_ECORRUPT, "%s: more sample rows than the corpus range", path);
        goto out;
    }
    c->samples = calloc((size_t)rows + 1, sizeof *c->samples);
    if (!c->samples) {
        rc = sf_err_set(err, SF_ENOMEM, "out of memory");
        goto out;
    }
    const char *sql =
        "SELECT sample_index, sample_seed, module, width, height, image_path, image_sha256,"
        " image_bytes, label_path, label_sha256, label_bytes, n_instances FROM samples"
        " ORDER BY sample_index";
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = sf_err_set(err, SF_ECORRUPT, "%s: %s", path, sqlite3_errmsg(c->db));
        goto out;
    }
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (c->n >= cap || c->n >= (uint64_t)rows) {
            rc = sf_err_set(err, SF_ECORRUPT, "%s: more sample rows than the corpus range", path);
            goto out;
        }
        sf_corpus_sample *s = &c->samples[c->n];
        s->index = (uint64_t)sqlite3_column_int64(st, 0);
        const char *seed = COL_TEXT(st, 1);
        s->seed = seed ? strtoull(seed, NULL, 10) : 0;
        s->module = module_from_text(COL_TEXT(st, 2));
        s->nx = sqlite3_column_int(st, 3);
        s->ny = sqlite3_column_int(st, 4);
        copy_text(s->image_path, sizeof s->image_path, COL_TEXT(st, 5));
        copy_text(s->image_sha256, sizeof s->image_sha256, COL_TEXT(st, 6));
        s->image_bytes = (uint64_t)sqlite3_column_int64(st, 7);
        copy_text(s->label_path, sizeof s->label_path, COL_TEXT(st, 8));
        copy_text(s->label_sha256, sizeof s->label_sha256, COL_TEXT(st, 9));
        s->label_bytes = (uint64_t)sqlite3_column_int64(st, 10);
        s->n_instances = sqlite3_column_int(st, 11);
        if (!sf__corpus_path_ok(s->image_path, "images") ||
            !sf__corpus_path_ok(s->label_path, "labels")) {
            rc = sf_err_set(err, SF_ECORRUPT,
                            "%s: sample %llu has a path outside images/ or labels/ "
                            "('%s', '%s'): refused",
                            path, (unsigned long long)s->index, s->image_path, s->label_path);
            goto out;
        }
        if (s->index < c->info.first || s->index >= c->info.end || s->nx <= 0 ||
            s->ny <= 0 || s->nx > SF_PNG_MAX_SIDE || s->ny > SF_PNG_MAX_SIDE ||
            s->n_instances < 0 || s->n_instances > 65535) {
            rc = sf_err_set(err, SF_ECORRUPT, "%s: sample row %llu is out of range", path,
                            (unsigned long long)s->index);
            goto out;
        }
        c->n++;
    }
    if (r != SQLITE_DONE) {
        rc = sf_err_set(err, SF_ECORRUPT, "%s: %s", path, sqlite3_errmsg(c->db));
        goto out;
    }
    *out = c;
    c = NULL;
out:
    sqlite3_finalize(st);
    sf_corpus_close(c);
    return rc;
}

int sf_corpus_sample_at(const sf_corpus *c, uint64_t pos, sf_corpus_sample *out, sf_err *err) {
    if (pos >= c->n)
        return sf_err_set(err, SF_ERANGE, "sample position %llu of %llu",
                          (unsigned long long)pos, (unsigned long long)c->n);
    *out = c->samples[pos];
    return SF_OK;
}

int sf_corpus_load(const sf_corpus *c, uint64_t pos, uint8_t **image, uint16_t **labels,
                   int *nx, int *ny, sf_err *err) {
    if (pos >= c->n)
        return sf_err_set(err, SF_ERANGE, "sample position %llu of %llu",
                          (unsigned long long)pos, (unsigned long long)c->n);
    const sf_corpus_sample *s = &c->samples[pos];
    char path[4200];
    uint8_t *img = NULL;
    uint16_t *lab = NULL;
    int w, h, w2, h2, rc;
    snprintf(path, sizeof path, "%s/%s", c->dir, s->image_path);
    if ((rc = corpus_no_link(c->dir, s->image_path, err)) ||
        (rc = sf_png_read_gray8(path, &img, &w, &h, err)))
        goto out;
    snprintf(path, sizeof path, "%s/%s", c->dir, s->label_path);
    if ((rc = corpus_no_link(c->dir, s->label_path, err)) ||
        (rc = sf_png_read_gray16(path, &lab, &w2, &h2, err)))
        goto out;
    if (w != s->nx || h != s->ny || w2 != s->nx || h2 != s->ny) {
        rc = sf_err_set(err, SF_ECORRUPT, "%s/%s: size %dx%d / %dx%d, manifest says %dx%d",
                        c->dir, s->image_path, w, h, w2, h2, s->nx, s->ny);
        goto out;
    }
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++)
        if (lab[i] > s->n_instances) {
            rc = sf_err_set(err, SF_ECORRUPT, "%s: label %u above the manifest's %d instances",
                            path, lab[i], s->n_instances);
            goto out;
        }
    *image = img;
    *labels = lab;
    *nx = w;
    *ny = h;
    return SF_OK;
out:
    free(img);
    free(lab);
    return rc;
}

int sf_corpus_instances(const sf_corpus *c, uint64_t pos, sf_instance **out, int *n,
                        sf_err *err) {
    if (pos >= c->n)
        return sf_err_set(err, SF_ERANGE, "sample position %llu", (unsigned long long)pos);
    const sf_corpus_sample *s = &c->samples[pos];
    sqlite3_stmt *st = NULL;
    sf_instance *in = calloc((size_t)s->n_instances + 1, sizeof *in);
    int k = 0, rc = SF_OK;
    if (!in) return sf_err_set(err, SF_ENOMEM, "out of memory");
    const char *sql =
        "SELECT label, area, bbox_x0, bbox_y0, bbox_x1, bbox_y1, centroid_x, centroid_y,"
        " interior_x, interior_y FROM instances WHERE sample_index = ? ORDER BY label";
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(c->db, err, "manifest");
        goto out;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)s->index);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (k >= s->n_instances) {
            rc = sf_err_set(err, SF_ECORRUPT, "%s: sample %llu has more instance rows than %d",
                            c->dir, (unsigned long long)s->index, s->n_instances);
            goto out;
        }
        sf_instance *p = &in[k++];
        p->label = sqlite3_column_int(st, 0);
        p->area = (long)sqlite3_column_int64(st, 1);
        for (int b = 0; b < 4; b++) p->bbox[b] = sqlite3_column_int(st, 2 + b);
        p->centroid[0] = sqlite3_column_double(st, 6);
        p->centroid[1] = sqlite3_column_double(st, 7);
        p->interior[0] = sqlite3_column_int(st, 8);
        p->interior[1] = sqlite3_column_int(st, 9);
    }
    if (r != SQLITE_DONE) rc = db_fail(c->db, err, "manifest");
out:
    sqlite3_finalize(st);
    if (rc) {
        free(in);
        return rc;
    }
    *out = in;
    *n = k;
    return SF_OK;
}

int sf_corpus_identity(const sf_corpus *c, char hex[65], sf_err *err) {
    sf_buf b = {0};
    sf_buf_printf(&b, "synthfm-corpus\n%s\n%llu\n%llu\n", c->info.config_sha256,
                   (unsigned long long)c->info.master_seed,
                   (unsigned long long)c->info.sample_count);
    for (uint64_t i = 0; i < c->n; i++)
        sf_buf_printf(&b, "%llu %s %s\n", (unsigned long long)c->samples[i].index,
                       c->samples[i].image_sha256, c->samples[i].label_sha256);
    int rc = b.oom || sf_sha256_hex(b.s, b.len, hex)
                 ? sf_err_set(err, SF_ENOMEM, "out of memory")
                 : SF_OK;
    sf_buf_release(&b);
    return rc;
}
