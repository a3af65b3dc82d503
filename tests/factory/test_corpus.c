/* Corpus layer: manifest, resume, refusal of foreign corpora, shards +
 * merge equal to a single run, verify catching damage, reading API. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tmpdir.h"
#include "sf_int.h"

static char base[64];

static void setup(void) {
    cr_assert(sf_test_mkdtemp(base, sizeof base, "corpus"));
}

static void teardown(void) {
    cr_expect_eq(sf_test_rmtree(base), 0);
}

static sf_config small_cfg(void) {
    sf_config c;
    cr_assert_eq(sf_config_default(&c, NULL), SF_OK);
    c.image_size = 96;
    return c;
}

static int gen(const char *dir, const sf_config *c, uint64_t seed,
               uint64_t count, int shard, int nshard, sf_corpus_result *res,
               sf_err *e) {
    sf_generate_opts o = {0};
    o.out_dir = dir;
    o.seed = seed;
    o.count = count;
    o.shard_index = shard;
    o.shard_count = nshard;
    o.threads = 2;
    sf_generate_stats st;
    sf_corpus_result r;
    return sf_corpus_generate(c, &o, &st, res ? res : &r, e);
}

/* Text dump of a manifest's rows (corpus row without created_at). */
static char *dump(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/manifest.sqlite", dir);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                 SQLITE_OK);
    sf_buf b = {0};
    const char *q[] = {
        "SELECT format_version, generator, git_commit, rng_version, "
        "config_yaml,"
        " config_sha256, master_seed, sample_count, shard_index, shard_count,"
        " first_index, end_index, image_size FROM corpus",
        "SELECT * FROM samples ORDER BY sample_index",
        "SELECT * FROM instances ORDER BY sample_index, label"};
    for (int i = 0; i < 3; i++) {
        sqlite3_stmt *st;
        cr_assert_eq(sqlite3_prepare_v2(db, q[i], -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
            for (int k = 0; k < sqlite3_column_count(st); k++) {
                const char *t = (const char *)sqlite3_column_text(st, k);
                sf_buf_printf(&b, "%s|", t ? t : "NULL");
            }
            sf_buf_puts(&b, "\n");
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return sf_buf_take(&b);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    sf_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk - 1, f)) > 0) {
        chunk[n] = 0;
        sf_buf_puts(&b, chunk);
    }
    fclose(f);
    return sf_buf_take(&b);
}

static void sql(const char *dir, const char *q) {
    char path[512];
    snprintf(path, sizeof path, "%s/manifest.sqlite", dir);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(db));
    sqlite3_close(db);
}

static long verify(const char *dir, int regen) {
    long n = -1;
    sf_err e = {0};
    cr_assert_eq(sf_corpus_verify(dir, regen, 1, NULL, NULL, &n, &e), SF_OK,
                 "%s", e.msg);
    return n;
}

TestSuite(corpus, .init = setup, .fini = teardown);

Test(corpus, write_read_and_rerun) {
    sf_config c = small_cfg();
    char d[128];
    snprintf(d, sizeof d, "%s/c", base);
    sf_err e = {0};
    sf_corpus_result r;
    cr_assert_eq(gen(d, &c, 9, 8, 0, 1, &r, &e), SF_OK, "%s", e.msg);
    cr_expect(r.created && !r.was_complete);
    sf_corpus *cp;
    cr_assert_eq(sf_corpus_open(d, &cp, &e), SF_OK, "%s", e.msg);
    cr_expect_eq(sf_corpus_count(cp), 8);
    const sf_corpus_info *in = sf_corpus_get_info(cp);
    cr_expect_eq(in->master_seed, 9);
    cr_expect_eq(in->sample_count, 8);
    cr_expect_eq(in->image_size, 96);
    cr_expect_eq(in->rng_version, SF_RNG_VERSION);
    for (uint64_t i = 0; i < 8; i++) {
        uint8_t *img;
        uint16_t *lab;
        int nx, ny, n;
        cr_assert_eq(sf_corpus_load(cp, i, &img, &lab, &nx, &ny, &e), SF_OK,
                     "%s", e.msg);
        sf_corpus_sample s;
        cr_assert_eq(sf_corpus_sample_at(cp, i, &s, &e), SF_OK);
        sf_instance *inst;
        cr_assert_eq(sf_corpus_instances(cp, i, &inst, &n, &e), SF_OK);
        cr_expect_eq(n, s.n_instances);
        /* the regenerated sample equals the stored one */
        sf_sample *smp;
        cr_assert_eq(sf_sample_generate(&c, 9, s.index, &smp, &e), SF_OK);
        cr_expect(!memcmp(smp->image, img, 96 * 96) &&
                  !memcmp(smp->labels, lab, 2 * 96 * 96));
        for (int k = 0; k < n; k++) {
            int x = inst[k].interior[0], y = inst[k].interior[1];
            cr_expect_eq(lab[y * nx + x], inst[k].label,
                         "interior point outside instance");
            long a = 0;
            for (int p = 0; p < nx * ny; p++)
                a += lab[p] == inst[k].label;
            cr_expect_eq(a, inst[k].area);
        }
        sf_sample_free(smp);
        free(inst);
        free(img);
        free(lab);
    }
    char id1[65], id2[65];
    cr_assert_eq(sf_corpus_identity(cp, id1, &e), SF_OK);
    sf_corpus_close(cp);
    cr_expect_eq(verify(d, 3), 0);
    /* rerun: nothing to do, same identity */
    cr_assert_eq(gen(d, &c, 9, 8, 0, 1, &r, &e), SF_OK, "%s", e.msg);
    cr_expect(r.was_complete && !r.created);
    cr_assert_eq(sf_corpus_open(d, &cp, &e), SF_OK);
    cr_assert_eq(sf_corpus_identity(cp, id2, &e), SF_OK);
    cr_expect_str_eq(id1, id2);
    sf_corpus_close(cp);
}

Test(corpus, refuses_other_corpus_and_foreign_dirs) {
    sf_config c = small_cfg();
    char d[128], f[128];
    snprintf(d, sizeof d, "%s/c", base);
    sf_err e = {0};
    cr_assert_eq(gen(d, &c, 1, 4, 0, 1, NULL, &e), SF_OK, "%s", e.msg);
    cr_expect_eq(gen(d, &c, 2, 4, 0, 1, NULL, &e), SF_EEXIST);
    cr_expect(strstr(e.msg, "--seed") != NULL, "%s", e.msg);
    sf_config c2 = c;
    c2.blur.probability = 0.1;
    cr_expect_eq(gen(d, &c2, 1, 4, 0, 1, NULL, &e), SF_EEXIST);
    cr_expect(strstr(e.msg, "different config") != NULL, "%s", e.msg);
    cr_expect_eq(gen(d, &c, 1, 5, 0, 1, NULL, &e), SF_EEXIST);
    cr_expect_eq(gen(d, &c, 1, 4, 0, 2, NULL, &e), SF_EEXIST);
    /* a non-empty directory that is not a corpus */
    snprintf(f, sizeof f, "%s/foreign", base);
    mkdir(f, 0777);
    char p[200];
    snprintf(p, sizeof p, "%s/notes.txt", f);
    FILE *fh = fopen(p, "w");
    fputs("mine", fh);
    fclose(fh);
    cr_expect_eq(gen(f, &c, 1, 4, 0, 1, NULL, &e), SF_EEXIST);
    char *kept = slurp(p);
    cr_expect_str_eq(kept, "mine");
    free(kept);
}

Test(corpus, resume_after_lost_rows_equals_uninterrupted) {
    sf_config c = small_cfg();
    char a[128], b[128], pa[200], pb[200];
    snprintf(a, sizeof a, "%s/a", base);
    snprintf(b, sizeof b, "%s/b", base);
    sf_err e = {0};
    cr_assert_eq(gen(a, &c, 5, 12, 0, 1, NULL, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(gen(b, &c, 5, 12, 0, 1, NULL, &e), SF_OK, "%s", e.msg);
    /* simulate a crash: rows of the last samples never committed, one file
     * half-written under its temporary name, derived files not written */
    sql(b, "DELETE FROM instances WHERE sample_index >= 7; DELETE FROM samples "
           "WHERE sample_index >= 7;");
    snprintf(pb, sizeof pb, "%s/images/000009.png", b);
    unlink(pb);
    snprintf(pb, sizeof pb, "%s/images/000010.png.tmp", b);
    FILE *f = fopen(pb, "w");
    fputs("partial", f);
    fclose(f);
    snprintf(pb, sizeof pb, "%s/SHA256SUMS", b);
    unlink(pb);
    sf_corpus_result r;
    cr_assert_eq(gen(b, &c, 5, 12, 0, 1, &r, &e), SF_OK, "%s", e.msg);
    cr_expect(!r.was_complete);
    char *da = dump(a), *db = dump(b);
    cr_expect_str_eq(da, db);
    free(da);
    free(db);
    snprintf(pa, sizeof pa, "%s/SHA256SUMS", a);
    char *sa = slurp(pa), *sb = slurp(pb);
    cr_assert(sa && sb);
    cr_expect_str_eq(sa, sb);
    free(sa);
    free(sb);
    /* the stray temporary file was overwritten and renamed away */
    snprintf(pb, sizeof pb, "%s/images/000010.png.tmp", b);
    cr_expect(access(pb, F_OK) != 0);
    cr_expect_eq(verify(b, 0), 0);
}

Test(corpus, shards_merge_equal_single_run) {
    sf_config c = small_cfg();
    char one[128], s0[128], s1[128], s2[128], m[128], p1[200], p2[200];
    snprintf(one, sizeof one, "%s/one", base);
    snprintf(s0, sizeof s0, "%s/s0", base);
    snprintf(s1, sizeof s1, "%s/s1", base);
    snprintf(s2, sizeof s2, "%s/s2", base);
    snprintf(m, sizeof m, "%s/merged", base);
    sf_err e = {0};
    cr_assert_eq(gen(one, &c, 3, 9, 0, 1, NULL, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(gen(s1, &c, 3, 9, 1, 2, NULL, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(gen(s0, &c, 3, 9, 0, 2, NULL, &e), SF_OK, "%s", e.msg);
    const char *both[] = {s1, s0};
    cr_assert_eq(sf_corpus_merge(m, both, 2, NULL, NULL, &e), SF_OK, "%s",
                 e.msg);
    char *d1 = dump(one), *d2 = dump(m);
    cr_expect_str_eq(d1, d2);
    free(d1);
    free(d2);
    const char *files[] = {"SHA256SUMS", "samples.csv", "config.yaml"};
    for (int i = 0; i < 3; i++) {
        snprintf(p1, sizeof p1, "%s/%s", one, files[i]);
        snprintf(p2, sizeof p2, "%s/%s", m, files[i]);
        char *x = slurp(p1), *y = slurp(p2);
        cr_assert(x && y, "%s", files[i]);
        cr_expect_str_eq(x, y, "%s differs", files[i]);
        free(x);
        free(y);
    }
    cr_expect_eq(verify(m, 2), 0);
    /* refusals: existing output, a gap, an overlap, another seed */
    cr_expect_eq(sf_corpus_merge(m, both, 2, NULL, NULL, &e), SF_EEXIST);
    snprintf(m, sizeof m, "%s/m2", base);
    const char *gap[] = {s0};
    cr_expect_eq(sf_corpus_merge(m, gap, 1, NULL, NULL, &e), SF_ECORRUPT);
    cr_expect(strstr(e.msg, "gap") != NULL, "%s", e.msg);
    const char *dup[] = {s0, s0, s1};
    cr_expect_eq(sf_corpus_merge(m, dup, 3, NULL, NULL, &e), SF_ECORRUPT);
    cr_expect(strstr(e.msg, "overlap") != NULL, "%s", e.msg);
    cr_assert_eq(gen(s2, &c, 4, 9, 1, 2, NULL, &e), SF_OK, "%s", e.msg);
    const char *mixed[] = {s0, s2};
    cr_expect_eq(sf_corpus_merge(m, mixed, 2, NULL, NULL, &e), SF_EEXIST);
    cr_expect(access(m, F_OK) != 0, "no output after a refused merge");
}

Test(corpus, verify_catches_damage) {
    sf_config c = small_cfg();
    char d[128], p[256];
    snprintf(d, sizeof d, "%s/v", base);
    sf_err e = {0};
    cr_assert_eq(gen(d, &c, 2, 6, 0, 1, NULL, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(verify(d, 2), 0);
    /* flipped byte */
    snprintf(p, sizeof p, "%s/images/000002.png", d);
    FILE *f = fopen(p, "r+b");
    fseek(f, 100, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, 100, SEEK_SET);
    fputc(ch ^ 0x40, f);
    fclose(f);
    cr_expect_geq(verify(d, 0), 1);
    fseek(f = fopen(p, "r+b"), 100, SEEK_SET);
    fputc(ch, f);
    fclose(f);
    cr_expect_eq(verify(d, 0), 0, "restored byte");
    /* missing file */
    char saved[256];
    snprintf(p, sizeof p, "%s/labels/000004.png", d);
    snprintf(saved, sizeof saved, "%s/saved.png", base);
    cr_assert_eq(rename(p, saved), 0);
    cr_expect_geq(verify(d, 0), 1);
    cr_assert_eq(rename(saved, p), 0);
    /* extra file */
    snprintf(p, sizeof p, "%s/images/999999.png", d);
    f = fopen(p, "w");
    fputs("x", f);
    fclose(f);
    cr_expect_geq(verify(d, 0), 1);
    unlink(p);
    cr_expect_eq(verify(d, 0), 0);
    /* deleted row */
    sql(d, "DELETE FROM instances WHERE sample_index = 3; DELETE FROM samples "
           "WHERE sample_index = 3;");
    cr_expect_geq(verify(d, 0), 3,
                  "missing row + unlisted files + SHA256SUMS entries");
}

Test(corpus, reading_api_rejects_bad_files_and_paths) {
    sf_config c = small_cfg();
    char d[128], p[256];
    snprintf(d, sizeof d, "%s/r", base);
    sf_err e = {0};
    cr_assert_eq(gen(d, &c, 2, 3, 0, 1, NULL, &e), SF_OK, "%s", e.msg);
    sf_corpus *cp;
    uint8_t *img;
    uint16_t *lab;
    int nx, ny;
    /* truncated PNG */
    snprintf(p, sizeof p, "%s/images/000001.png", d);
    cr_assert_eq(truncate(p, 200), 0);
    cr_assert_eq(sf_corpus_open(d, &cp, &e), SF_OK);
    cr_expect_eq(sf_corpus_load(cp, 1, &img, &lab, &nx, &ny, &e), SF_EFORMAT);
    cr_expect(strstr(e.msg, "000001.png") != NULL, "%s", e.msg);
    /* corrupt (not a PNG) */
    FILE *f = fopen(p, "wb");
    fputs("GIF89a....", f);
    fclose(f);
    cr_expect_eq(sf_corpus_load(cp, 1, &img, &lab, &nx, &ny, &e), SF_EFORMAT);
    cr_expect_eq(sf_corpus_load(cp, 7, &img, &lab, &nx, &ny, &e), SF_ERANGE);
    sf_corpus_close(cp);
    /* a manifest path escaping the corpus is refused at open */
    sql(d, "UPDATE samples SET image_path = '../../etc/passwd' WHERE "
           "sample_index = 0;");
    cr_expect_eq(sf_corpus_open(d, &cp, &e), SF_ECORRUPT);
    cr_expect(strstr(e.msg, "../../etc/passwd") != NULL, "%s", e.msg);
    /* not a corpus */
    cr_expect_eq(sf_corpus_open(base, &cp, &e), SF_EIO);
}
