/*
 * corpus_read.c - the corpus reading API (sf_corpus_open and the rest of
 * sf.h's corpus section: info, samples, decoding, instances, identity)
 * and the manifest helpers the writer shares (sf_int.h: sf__corpus_*).
 * Reading refuses symbolic links and manifest paths outside images/ and
 * labels/.
 */
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

struct sf_corpus {
    char *dir;
    sqlite3 *db;
    sf_corpus_info info;
    char *config_yaml;
    sf_corpus_sample *samples;
    uint64_t n;
};

/* ----------------------------------------------------------------- utils */

int sf__corpus_db_fail(sqlite3 *db, sf_err *err, const char *what) {
    const char *f = db ? sqlite3_db_filename(db, "main") : NULL;
    return sf_err_set(err, SF_EDB, "%s%s%s: %s", f && *f ? f : "",
                      f && *f ? ": " : "", what,
                      db ? sqlite3_errmsg(db) : "no database");
}

int sf__corpus_db_exec(sqlite3 *db, const char *sql, sf_err *err) {
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        const char *f = sqlite3_db_filename(db, "main");
        sf_err_set(err, SF_EDB, "%s: %s", f && *f ? f : "manifest",
                   msg ? msg : "error");
        sqlite3_free(msg);
        return SF_EDB;
    }
    return SF_OK;
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
    while (*q >= '0' && *q <= '9')
        q++, digits++;
    return digits >= 1 && digits <= 20 && !strcmp(q, ".png");
}

/* Nothing in a corpus we read is a symbolic link: a link could make a
 * manifest's plain name read a file outside the directory. */
static int corpus_no_link(const char *dir, const char *rel, sf_err *err) {
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode))
        return sf_err_set(err, SF_ECORRUPT,
                          "%s: a symbolic link inside a corpus: refused", path);
    return SF_OK;
}

int sf__corpus_db_open(const char *dir, int readonly, sqlite3 **out,
                       sf_err *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/manifest.sqlite", dir);
    sqlite3 *db = NULL;
    int flags = readonly ? SQLITE_OPEN_READONLY
                         : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        int rc = sf_err_set(err, readonly ? SF_EIO : SF_EDB,
                            "%s: cannot open manifest: %s", path,
                            db ? sqlite3_errmsg(db) : "out of memory");
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

int sf__corpus_read_info(sqlite3 *db, const char *dir, sf_corpus_info *info,
                         char **config_yaml, sf_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = SF_OK;
    const char *sql =
        "SELECT format_version, generator, git_commit, rng_version, "
        "config_yaml,"
        " config_sha256, master_seed, sample_count, shard_index, shard_count,"
        " first_index, end_index, image_size, created_at FROM corpus WHERE id "
        "= 1";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = sf_err_set(err, SF_ECORRUPT,
                        "%s/manifest.sqlite: not a synthfm manifest (%s)", dir,
                        sqlite3_errmsg(db));
        goto out;
    }
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = sf_err_set(err, SF_ECORRUPT, "%s/manifest.sqlite: no corpus row",
                        dir);
        goto out;
    }
    if (sqlite3_column_int(st, 0) != SF__CORPUS_FORMAT) {
        rc = sf_err_set(err, SF_EUNSUPPORTED,
                        "%s/manifest.sqlite: format version %d, expected %d",
                        dir, sqlite3_column_int(st, 0), SF__CORPUS_FORMAT);
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
    if (info->end < info->first || info->end > info->sample_count ||
        info->shard_count < 1) {
        rc = sf_err_set(err, SF_ECORRUPT,
                        "%s/manifest.sqlite: inconsistent corpus row", dir);
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

/* ------------------------------------------------------------- reading */

void sf_corpus_close(sf_corpus *c) {
    if (!c) return;
    if (c->db) sqlite3_close(c->db);
    free(c->dir);
    free(c->config_yaml);
    free(c->samples);
    free(c);
}

const sf_corpus_info *sf_corpus_get_info(const sf_corpus *c) {
    return &c->info;
}
const char *sf_corpus_config_yaml(const sf_corpus *c) {
    return c->config_yaml;
}
const char *sf_corpus_dir(const sf_corpus *c) {
    return c->dir;
}
uint64_t sf_corpus_count(const sf_corpus *c) {
    return c->n;
}

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
        rc = sf_err_set(err, SF_EIO, "%s: not a corpus (no manifest.sqlite)",
                        dir);
        goto out;
    }
    if ((rc = corpus_no_link(dir, "manifest.sqlite", err)) ||
        (rc = corpus_no_link(dir, "images", err)) ||
        (rc = corpus_no_link(dir, "labels", err)))
        goto out;
    if (!(c->dir = strdup(dir))) {
        rc = sf_err_set(err, SF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = sf__corpus_db_open(dir, 1, &c->db, err))) goto out;
    if ((rc = sf__corpus_read_info(c->db, dir, &c->info, &c->config_yaml, err)))
        goto out;
    uint64_t cap = c->info.end - c->info.first;
    if (cap > 100000000ull) {
        rc = sf_err_set(err, SF_ECORRUPT, "%s: implausible sample range", path);
        goto out;
    }
    /* Allocate for the rows present, not the range the corpus row claims
     * (a few bytes of manifest must not reserve gigabytes). */
    sqlite3_int64 rows = 0;
    if (sqlite3_prepare_v2(c->db, "SELECT count(*) FROM samples", -1, &st,
                           NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW ||
        (rows = sqlite3_column_int64(st, 0)) < 0) {
        rc =
            sf_err_set(err, SF_ECORRUPT, "%s: %s", path, sqlite3_errmsg(c->db));
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((uint64_t)rows > cap) {
        rc = sf_err_set(err, SF_ECORRUPT,
                        "%s: more sample rows than the corpus range", path);
        goto out;
    }
    c->samples = calloc((size_t)rows + 1, sizeof *c->samples);
    if (!c->samples) {
        rc = sf_err_set(err, SF_ENOMEM, "out of memory");
        goto out;
    }
    const char *sql = "SELECT sample_index, sample_seed, module, width, "
                      "height, image_path, image_sha256,"
                      " image_bytes, label_path, label_sha256, label_bytes, "
                      "n_instances FROM samples"
                      " ORDER BY sample_index";
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc =
            sf_err_set(err, SF_ECORRUPT, "%s: %s", path, sqlite3_errmsg(c->db));
        goto out;
    }
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (c->n >= cap || c->n >= (uint64_t)rows) {
            rc = sf_err_set(err, SF_ECORRUPT,
                            "%s: more sample rows than the corpus range", path);
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
            rc = sf_err_set(
                err, SF_ECORRUPT,
                "%s: sample %llu has a path outside images/ or labels/ "
                "('%s', '%s'): refused",
                path, (unsigned long long)s->index, s->image_path,
                s->label_path);
            goto out;
        }
        if (s->index < c->info.first || s->index >= c->info.end || s->nx <= 0 ||
            s->ny <= 0 || s->nx > SF_PNG_MAX_SIDE || s->ny > SF_PNG_MAX_SIDE ||
            s->n_instances < 0 || s->n_instances > 65535) {
            rc = sf_err_set(err, SF_ECORRUPT,
                            "%s: sample row %llu is out of range", path,
                            (unsigned long long)s->index);
            goto out;
        }
        c->n++;
    }
    if (r != SQLITE_DONE) {
        rc =
            sf_err_set(err, SF_ECORRUPT, "%s: %s", path, sqlite3_errmsg(c->db));
        goto out;
    }
    *out = c;
    c = NULL;
out:
    sqlite3_finalize(st);
    sf_corpus_close(c);
    return rc;
}

int sf_corpus_sample_at(const sf_corpus *c, uint64_t pos, sf_corpus_sample *out,
                        sf_err *err) {
    if (pos >= c->n)
        return sf_err_set(err, SF_ERANGE, "sample position %llu of %llu",
                          (unsigned long long)pos, (unsigned long long)c->n);
    *out = c->samples[pos];
    return SF_OK;
}

int sf_corpus_load(const sf_corpus *c, uint64_t pos, uint8_t **image,
                   uint16_t **labels, int *nx, int *ny, sf_err *err) {
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
        rc = sf_err_set(err, SF_ECORRUPT,
                        "%s/%s: size %dx%d / %dx%d, manifest says %dx%d",
                        c->dir, s->image_path, w, h, w2, h2, s->nx, s->ny);
        goto out;
    }
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++)
        if (lab[i] > s->n_instances) {
            rc = sf_err_set(err, SF_ECORRUPT,
                            "%s: label %u above the manifest's %d instances",
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

int sf_corpus_instances(const sf_corpus *c, uint64_t pos, sf_instance **out,
                        int *n, sf_err *err) {
    if (pos >= c->n)
        return sf_err_set(err, SF_ERANGE, "sample position %llu",
                          (unsigned long long)pos);
    const sf_corpus_sample *s = &c->samples[pos];
    sqlite3_stmt *st = NULL;
    sf_instance *in = calloc((size_t)s->n_instances + 1, sizeof *in);
    int k = 0, rc = SF_OK;
    if (!in) return sf_err_set(err, SF_ENOMEM, "out of memory");
    const char *sql = "SELECT label, area, bbox_x0, bbox_y0, bbox_x1, bbox_y1, "
                      "centroid_x, centroid_y,"
                      " interior_x, interior_y FROM instances WHERE "
                      "sample_index = ? ORDER BY label";
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = sf__corpus_db_fail(c->db, err, "manifest");
        goto out;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)s->index);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (k >= s->n_instances) {
            rc = sf_err_set(err, SF_ECORRUPT,
                            "%s: sample %llu has more instance rows than %d",
                            c->dir, (unsigned long long)s->index,
                            s->n_instances);
            goto out;
        }
        sf_instance *p = &in[k++];
        p->label = sqlite3_column_int(st, 0);
        p->area = (long)sqlite3_column_int64(st, 1);
        for (int b = 0; b < 4; b++)
            p->bbox[b] = sqlite3_column_int(st, 2 + b);
        p->centroid[0] = sqlite3_column_double(st, 6);
        p->centroid[1] = sqlite3_column_double(st, 7);
        p->interior[0] = sqlite3_column_int(st, 8);
        p->interior[1] = sqlite3_column_int(st, 9);
    }
    if (r != SQLITE_DONE) rc = sf__corpus_db_fail(c->db, err, "manifest");
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
        sf_buf_printf(&b, "%llu %s %s\n",
                      (unsigned long long)c->samples[i].index,
                      c->samples[i].image_sha256, c->samples[i].label_sha256);
    int rc = b.oom || sf_sha256_hex(b.s, b.len, hex)
                 ? sf_err_set(err, SF_ENOMEM, "out of memory")
                 : SF_OK;
    sf_buf_release(&b);
    return rc;
}
