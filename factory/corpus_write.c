/*
 * corpus_write.c - generating a corpus directory (sf_corpus_generate):
 * the SQLite manifest (WAL, batched transactions), crash-safe resumable
 * generation, and the derived files once it is complete (publish.c).
 * Reading is corpus_read.c, verification and merging corpus_check.c.
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

static void utc_now(char *buf, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
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

static int insert_record(sqlite3 *db, sqlite3_stmt *ss, sqlite3_stmt *si,
                         const sf_record *r, sf_err *err) {
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->s.seed);
    sqlite3_reset(ss);
    sqlite3_bind_int64(ss, 1, (sqlite3_int64)r->s.index);
    sqlite3_bind_text(ss, 2, seed, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(ss, 3, sf_mode_name(r->s.module), -1, SQLITE_STATIC);
    sqlite3_bind_int(ss, 4, r->s.nx);
    sqlite3_bind_int(ss, 5, r->s.ny);
    sqlite3_bind_text(ss, 6, r->s.image_path, -1, SQLITE_STATIC);
    sqlite3_bind_text(ss, 7, r->s.image_sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ss, 8, (sqlite3_int64)r->s.image_bytes);
    sqlite3_bind_text(ss, 9, r->s.label_path, -1, SQLITE_STATIC);
    sqlite3_bind_text(ss, 10, r->s.label_sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ss, 11, (sqlite3_int64)r->s.label_bytes);
    sqlite3_bind_int(ss, 12, r->s.n_instances);
    sqlite3_bind_text(ss, 13, r->params_json, -1, SQLITE_STATIC);
    if (sqlite3_step(ss) != SQLITE_DONE)
        return sf__corpus_db_fail(db, err, "manifest insert");
    for (int k = 0; k < r->s.n_instances; k++) {
        const sf_instance *in = &r->instances[k];
        sqlite3_reset(si);
        sqlite3_bind_int64(si, 1, (sqlite3_int64)r->s.index);
        sqlite3_bind_int(si, 2, in->label);
        sqlite3_bind_int64(si, 3, in->area);
        for (int b = 0; b < 4; b++)
            sqlite3_bind_int(si, 4 + b, in->bbox[b]);
        sqlite3_bind_double(si, 8, in->centroid[0]);
        sqlite3_bind_double(si, 9, in->centroid[1]);
        sqlite3_bind_int(si, 10, in->interior[0]);
        sqlite3_bind_int(si, 11, in->interior[1]);
        if (sqlite3_step(si) != SQLITE_DONE)
            return sf__corpus_db_fail(db, err, "manifest insert");
    }
    return SF_OK;
}

static const char insert_sample_sql[] =
    "INSERT INTO samples (sample_index, sample_seed, module, width, height, "
    "image_path,"
    " image_sha256, image_bytes, label_path, label_sha256, label_bytes, "
    "n_instances,"
    " params_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)";
static const char insert_instance_sql[] =
    "INSERT INTO instances (sample_index, label, area, bbox_x0, bbox_y0, "
    "bbox_x1,"
    " bbox_y1, centroid_x, centroid_y, interior_x, interior_y)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?)";

static int gen_commit(void *ctx, const sf_record *recs,
                      const unsigned char *need, uint64_t n, sf_err *err) {
    gen_ctx *g = ctx;
    sqlite3_stmt *ss = NULL, *si = NULL;
    int rc = SF_OK, any = 0;
    for (uint64_t i = 0; i < n; i++)
        any |= need[i];
    if (!any) return SF_OK;
    /* Files first: renamed files and their directory entries on disk
     * before any row says they exist. */
    if (syncfs(g->dirfd) != 0)
        return sf_err_set(err, SF_EIO, "%s: sync failed: %m", g->dir);
    if ((rc = sf__corpus_db_exec(g->db, "BEGIN IMMEDIATE", err))) return rc;
    if (sqlite3_prepare_v2(g->db, insert_sample_sql, -1, &ss, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(g->db, insert_instance_sql, -1, &si, NULL) !=
            SQLITE_OK) {
        rc = sf__corpus_db_fail(g->db, err, "manifest");
        goto out;
    }
    for (uint64_t i = 0; i < n && !rc; i++)
        if (need[i]) rc = insert_record(g->db, ss, si, &recs[i], err);
    if (!rc) rc = sf__corpus_db_exec(g->db, "COMMIT", err);
    if (!rc)
        for (uint64_t i = 0; i < n; i++)
            if (need[i]) {
                uint64_t k = recs[i].s.index - g->first;
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

static int create_manifest(sqlite3 *db, const sf_config *c, const char *yaml,
                           const char *sha, const sf_generate_opts *o,
                           uint64_t first, uint64_t end, const char *git,
                           sf_err *err) {
    int rc = sf__corpus_db_exec(db, sf__manifest_sql, err);
    if (rc) return rc;
    sqlite3_stmt *st = NULL;
    const char *sql = "INSERT INTO corpus (id, format_version, generator, "
                      "git_commit, rng_version,"
                      " config_yaml, config_sha256, master_seed, sample_count, "
                      "shard_index, shard_count,"
                      " first_index, end_index, image_size, created_at)"
                      " VALUES (1,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return sf__corpus_db_fail(db, err, "manifest");
    char seed[32], now[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    utc_now(now, sizeof now);
    sqlite3_bind_int(st, 1, SF__CORPUS_FORMAT);
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
    rc = sqlite3_step(st) == SQLITE_DONE
             ? SF_OK
             : sf__corpus_db_fail(db, err, "manifest");
    sqlite3_finalize(st);
    return rc;
}

/* *has_schema = 0 when the database holds no table, view or index. */
static int manifest_has_schema(sqlite3 *db, int *has_schema, sf_err *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st,
                           NULL) != SQLITE_OK)
        return sf__corpus_db_fail(db, err, "manifest");
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) *has_schema = sqlite3_column_int(st, 0) > 0;
    sqlite3_finalize(st);
    return r == SQLITE_ROW ? SF_OK : sf__corpus_db_fail(db, err, "manifest");
}

/* Everything that must agree for a rerun to continue this corpus. */
static int check_same_corpus(const sf_corpus_info *have, const char *sha,
                             const sf_generate_opts *o, const char *dir,
                             sf_err *err) {
    if (strcmp(have->config_sha256, sha))
        return sf_err_set(
            err, SF_EEXIST,
            "%s holds a corpus made with a different config (sha256 %.12s..., "
            "this run %.12s...): use another --out or the same config",
            dir, have->config_sha256, sha);
    if (have->master_seed != o->seed)
        return sf_err_set(err, SF_EEXIST,
                          "%s holds a corpus made with --seed %llu, not %llu",
                          dir, (unsigned long long)have->master_seed,
                          (unsigned long long)o->seed);
    if (have->sample_count != o->count)
        return sf_err_set(err, SF_EEXIST,
                          "%s holds a corpus of --count %llu, not %llu", dir,
                          (unsigned long long)have->sample_count,
                          (unsigned long long)o->count);
    if (have->shard_index != o->shard_index ||
        have->shard_count != o->shard_count)
        return sf_err_set(err, SF_EEXIST, "%s holds shard %d/%d, not %d/%d",
                          dir, have->shard_index, have->shard_count,
                          o->shard_index, o->shard_count);
    if (have->rng_version != SF_RNG_VERSION)
        return sf_err_set(err, SF_EEXIST,
                          "%s was made with rng_version %d; this build has %d",
                          dir, have->rng_version, SF_RNG_VERSION);
    return SF_OK;
}

static int load_done(sqlite3 *db, gen_ctx *g, uint64_t *n_done, sf_err *err) {
    sqlite3_stmt *st = NULL;
    *n_done = 0;
    if (sqlite3_prepare_v2(db, "SELECT sample_index FROM samples", -1, &st,
                           NULL) != SQLITE_OK)
        return sf__corpus_db_fail(db, err, "manifest");
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_int64 i = sqlite3_column_int64(st, 0);
        if (i < (sqlite3_int64)g->first || i >= (sqlite3_int64)g->end) continue;
        uint64_t k = (uint64_t)i - g->first;
        g->done[k >> 3] |= (unsigned char)(1u << (k & 7));
        (*n_done)++;
    }
    sqlite3_finalize(st);
    return r == SQLITE_DONE ? SF_OK : sf__corpus_db_fail(db, err, "manifest");
}

int sf_corpus_generate(const sf_config *c, const sf_generate_opts *opts,
                       sf_generate_stats *st, sf_corpus_result *res,
                       sf_err *err) {
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
    if (o.shard_count < 1 || o.shard_index < 0 ||
        o.shard_index >= o.shard_count) {
        rc = sf_err_set(err, SF_EINVAL, "bad shard %d/%d", o.shard_index,
                        o.shard_count);
        goto out;
    }
    sf_shard_range(o.count, o.shard_index, o.shard_count, &g.first, &g.end);
    g.dir = o.out_dir;
    snprintf(path, sizeof path, "%s/manifest.sqlite", o.out_dir);
    if (dir_state(o.out_dir, &exists, &empty)) {
        rc =
            sf_err_set(err, SF_EIO, "%s: cannot read directory: %m", o.out_dir);
        goto out;
    }
    int have_manifest = access(path, F_OK) == 0;
    if (exists && !empty && !have_manifest) {
        rc = sf_err_set(
            err, SF_EEXIST,
            "%s exists and is not a synthfm corpus (no manifest.sqlite): "
            "refusing to write into it",
            o.out_dir);
        goto out;
    }
    if ((rc = sf_mkdir_p(o.out_dir, err))) goto out;
    if ((rc = sf__corpus_db_open(o.out_dir, 0, &db, err))) goto out;
    if ((rc = sf__corpus_db_exec(
             db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", err)))
        goto out;
    /* A kill between opening a new manifest and its first commit leaves
     * one with no tables: it holds nothing, so creation starts over. */
    if (have_manifest && (rc = manifest_has_schema(db, &have_manifest, err)))
        goto out;
    if (!have_manifest) {
        if ((rc = sf__corpus_db_exec(db, "BEGIN IMMEDIATE", err))) goto out;
        rc = create_manifest(db, c, yaml, sha, &o, g.first, g.end,
                             sf_git_commit(), err);
        if (!rc) rc = sf__corpus_db_exec(db, "COMMIT", err);
        if (rc) goto out;
        res->created = 1;
    } else {
        sf_corpus_info have;
        if ((rc = sf__corpus_read_info(db, o.out_dir, &have, NULL, err)))
            goto out;
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
    if ((rc = sf__corpus_db_exec(db, "PRAGMA journal_mode=DELETE", err)))
        goto out;
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
