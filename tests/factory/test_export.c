/* The NIfTI-1 writer (header bytes, geometry, data, determinism, bad
 * arguments) and sf_export's contract: layouts, dataset.json and
 * metadata.jsonl content, label mappings, byte-identical output whatever
 * the thread count, the finished-export rerun, refusal of foreign output
 * and nothing left behind on error. The nnU-Net integrity checks with the
 * harness' NIfTI reader are in tests/harness/test_export.c. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "json_dom.h"
#include "sf_export.h"
#include "sf_int.h"

static char base[64];

static void setup(void) {
    snprintf(base, sizeof base, "/tmp/sf_export_XXXXXX");
    cr_assert(mkdtemp(base));
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "chmod -R u+w '%s'; rm -rf '%s'", base, base);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(export, .init = setup, .fini = teardown);

/* ------------------------------------------------------------ helpers */

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s: cannot open", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len + 1);
    cr_assert(b);
    cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    b[len] = 0;
    if (n) *n = (size_t)len;
    return b;
}

static int exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

/* gunzip a whole buffer (the writer's single gzip member). */
static uint8_t *gunzip(const uint8_t *z, size_t n, size_t *out_n) {
    size_t cap = 1 << 16, len = 0;
    uint8_t *o = malloc(cap);
    z_stream s = {0};
    cr_assert_eq(inflateInit2(&s, 15 + 16), Z_OK);
    s.next_in = (Bytef *)z;
    s.avail_in = (uInt)n;
    int r;
    do {
        if (len == cap) o = realloc(o, cap *= 2);
        s.next_out = o + len;
        s.avail_out = (uInt)(cap - len);
        r = inflate(&s, Z_NO_FLUSH);
        len = cap - s.avail_out;
    } while (r == Z_OK);
    cr_assert_eq(r, Z_STREAM_END, "not one complete gzip stream");
    cr_expect_eq(s.avail_in, 0u, "bytes after the gzip stream");
    inflateEnd(&s);
    *out_n = len;
    return o;
}

static int16_t i16(const uint8_t *p) {
    return (int16_t)(p[0] | p[1] << 8);
}
static int32_t i32(const uint8_t *p) {
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 |
                     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}
static float f32(const uint8_t *p) {
    uint32_t u = (uint32_t)i32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void make_corpus(const char *dir, int count, int size, int mode) {
    sf_config c;
    sf_err e = {0};
    cr_assert_eq(sf_config_default(&c, &e), SF_OK, "%s", e.msg);
    c.image_size = size;
    if (mode >= 0) c.mode = mode;
    sf_generate_opts o = {0};
    o.out_dir = dir;
    o.seed = 3;
    o.count = (uint64_t)count;
    o.shard_count = 1;
    o.threads = 2;
    sf_generate_stats st;
    sf_corpus_result res;
    cr_assert_eq(sf_corpus_generate(&c, &o, &st, &res, &e), SF_OK, "%s", e.msg);
}

/* Every regular file under dir, relative path + bytes, sorted: a tree
 * digest to compare two exports byte for byte. */
static void tree_digest(const char *dir, const char *rel, sf_buf *b) {
    char path[512];
    snprintf(path, sizeof path, "%s%s%s", dir, *rel ? "/" : "", rel);
    struct dirent **ents;
    int n = scandir(path, &ents, NULL, alphasort);
    cr_assert(n >= 0, "%s: scandir", path);
    for (int i = 0; i < n; i++) {
        const char *nm = ents[i]->d_name;
        if (strcmp(nm, ".") && strcmp(nm, "..")) {
            char sub[512], full[1024];
            snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", nm);
            snprintf(full, sizeof full, "%s/%s", dir, sub);
            struct stat st;
            cr_assert_eq(lstat(full, &st), 0);
            if (S_ISDIR(st.st_mode)) {
                tree_digest(dir, sub, b);
            } else {
                size_t len;
                uint8_t *bytes = slurp(full, &len);
                char hex[65];
                sf_sha256_hex(bytes, len, hex);
                sf_buf_printf(b, "%s %s\n", hex, sub);
                free(bytes);
            }
        }
        free(ents[i]);
    }
    free(ents);
}

static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* -------------------------------------------------------------- NIfTI */

Test(export, nifti_header_geometry_and_data) {
    const uint8_t px8[6] = {0, 1, 2, 253, 254, 255};
    const uint16_t px16[6] = {0, 1, 255, 256, 4660, 65535};
    const double sp[3] = {0.5, 2.0, 999.0};
    for (int t = 0; t < 2; t++) {
        uint8_t *z = NULL;
        size_t zn = 0;
        sf_err e = {0};
        int type = t ? SF_NIFTI_UINT16 : SF_NIFTI_UINT8;
        cr_assert_eq(
            sf_nifti_encode_2d(t ? (const void *)px16 : (const void *)px8, 3, 2,
                               type, sp, "hello", 6, &z, &zn, &e),
            SF_OK, "%s", e.msg);
        cr_expect(z[0] == 0x1f && z[1] == 0x8b, "gzip magic");
        cr_expect_eq(i32(z + 4), 0, "gzip mtime must be 0 (determinism)");
        size_t n;
        uint8_t *h = gunzip(z, zn, &n);
        cr_assert_eq(n, 352 + 6 * (size_t)(t ? 2 : 1));
        cr_expect_eq(i32(h), 348, "sizeof_hdr");
        cr_expect(!memcmp(h + 344, "n+1\0", 4), "magic n+1");
        cr_expect_eq(i16(h + 40), 3, "dim[0]");
        cr_expect_eq(i16(h + 42), 3, "dim[1] = nx");
        cr_expect_eq(i16(h + 44), 2, "dim[2] = ny");
        cr_expect_eq(i16(h + 46), 1, "dim[3] = 1 slice");
        cr_expect_eq(i16(h + 70), type, "datatype");
        cr_expect_eq(i16(h + 72), t ? 16 : 8, "bitpix");
        cr_expect_eq(f32(h + 76), 1.0f, "qfac");
        cr_expect_eq(f32(h + 80), 0.5f);
        cr_expect_eq(f32(h + 84), 2.0f);
        cr_expect_eq(f32(h + 88), 999.0f);
        cr_expect_eq(f32(h + 108), 352.0f, "vox_offset");
        cr_expect_eq(f32(h + 112), 1.0f, "scl_slope");
        cr_expect_eq(h[123], 2, "xyzt_units mm");
        cr_expect(!strcmp((const char *)h + 148, "hello"), "descrip");
        cr_expect_eq(i16(h + 252), 1, "qform_code");
        cr_expect_eq(i16(h + 254), 1, "sform_code");
        cr_expect_eq(f32(h + 256), 0.0f);
        cr_expect_eq(f32(h + 260), 0.0f);
        cr_expect_eq(f32(h + 264), 1.0f, "quatern_d: 180 degrees about z");
        const float srow[12] = {-0.5f, 0, 0, 0, 0,      -2.0f,
                                0,     0, 0, 0, 999.0f, 0};
        for (int k = 0; k < 12; k++)
            cr_expect_eq(f32(h + 280 + 4 * k), srow[k], "srow[%d]", k);
        cr_expect_eq(i32(h + 348), 0, "no extension");
        if (t)
            for (int k = 0; k < 6; k++)
                cr_expect_eq((uint16_t)(h[352 + 2 * k] | h[353 + 2 * k] << 8),
                             px16[k]);
        else
            cr_expect(!memcmp(h + 352, px8, 6), "voxels as given, x fastest");
        /* Same arguments, same bytes. */
        uint8_t *z2 = NULL;
        size_t zn2 = 0;
        cr_assert_eq(
            sf_nifti_encode_2d(t ? (const void *)px16 : (const void *)px8, 3, 2,
                               type, sp, "hello", 6, &z2, &zn2, NULL),
            SF_OK);
        cr_expect(zn2 == zn && !memcmp(z, z2, zn), "not deterministic");
        free(z);
        free(z2);
        free(h);
    }
}

Test(export, nifti_bad_arguments) {
    const uint8_t px[4] = {0};
    const double sp[3] = {1, 1, 999}, bad_sp[3] = {1, 0, 999};
    uint8_t *z = NULL;
    size_t n = 0;
    sf_err e = {0};
    cr_expect_eq(
        sf_nifti_encode_2d(px, 0, 2, SF_NIFTI_UINT8, sp, NULL, 6, &z, &n, &e),
        SF_EINVAL);
    cr_expect_eq(sf_nifti_encode_2d(px, 40000, 1, SF_NIFTI_UINT8, sp, NULL, 6,
                                    &z, &n, &e),
                 SF_EINVAL);
    cr_expect_eq(sf_nifti_encode_2d(px, 2, 2, 16, sp, NULL, 6, &z, &n, &e),
                 SF_EINVAL);
    cr_expect_eq(sf_nifti_encode_2d(px, 2, 2, SF_NIFTI_UINT8, bad_sp, NULL, 6,
                                    &z, &n, &e),
                 SF_EINVAL);
    cr_expect_eq(
        sf_nifti_encode_2d(px, 2, 2, SF_NIFTI_UINT8, sp, NULL, 11, &z, &n, &e),
        SF_EINVAL);
    cr_expect_eq(
        sf_nifti_encode_2d(NULL, 2, 2, SF_NIFTI_UINT8, sp, NULL, 6, &z, &n, &e),
        SF_EINVAL);
    sf_err_clear(&e);
    cr_expect_eq(sf_nifti_write_2d("/nonexistent/dir/x.nii.gz", px, 2, 2,
                                   SF_NIFTI_UINT8, sp, NULL, 6, &e),
                 SF_EIO);
    cr_expect(strstr(e.msg, "/nonexistent/dir/x.nii.gz"), "%s", e.msg);
}

/* ------------------------------------------------------------- export */

static int run_export(const char *corpus, const char *out, int format,
                      int labels, int max_label, int threads,
                      sf_export_stats *st, sf_err *e) {
    sf_export_opts o = {0};
    o.format = format;
    o.labels = labels;
    o.max_label = max_label;
    o.threads = threads;
    return sf_export(corpus, out, &o, st, e);
}

Test(export, nnunet_layout_dataset_json_and_determinism) {
    char corpus[128], a[128], b[128], path[512];
    snprintf(corpus, sizeof corpus, "%s/c", base);
    snprintf(a, sizeof a, "%s/a", base);
    snprintf(b, sizeof b, "%s/b/", base); /* a trailing slash is fine */
    make_corpus(corpus, 6, 96, -1);
    sf_export_stats st;
    sf_err e = {0};
    cr_assert_eq(run_export(corpus, a, SF_EXPORT_NNUNET, 0, 0, 1, &st, &e),
                 SF_OK, "%s", e.msg);
    cr_expect_eq(st.n_samples, 6u);
    cr_expect_eq(st.n_classes, 1);
    cr_expect(!st.up_to_date);
    cr_expect(st.bytes_written > 0);
    /* Another thread count: the same bytes. */
    mkdir(b, 0777); /* an empty OUT is accepted */
    cr_assert_eq(run_export(corpus, b, SF_EXPORT_NNUNET, 0, 0, 2, NULL, &e),
                 SF_OK, "%s", e.msg);
    sf_buf da = {0}, db = {0};
    tree_digest(a, "", &da);
    tree_digest(b, "", &db);
    cr_expect(da.len == db.len && !memcmp(da.s, db.s, da.len),
              "exports differ with the thread count:\n%s\n---\n%s", da.s, db.s);
    cr_expect(strstr(da.s, " imagesTr/synthfm_000005_0000.nii.gz\n"), "%s",
              da.s);
    cr_expect(strstr(da.s, " labelsTr/synthfm_000005.nii.gz\n"), "%s", da.s);
    cr_expect(strstr(da.s, " dataset.json\n") && strstr(da.s, " README.md\n") &&
              strstr(da.s, " synthfm_export.json\n"));
    sf_buf_release(&da);
    sf_buf_release(&db);
    snprintf(path, sizeof path, "%s/imagesTr", a);
    cr_expect_eq(count_files(path), 6);
    snprintf(path, sizeof path, "%s/labelsTr", a);
    cr_expect_eq(count_files(path), 6);
    snprintf(path, sizeof path, "%s.partial", a);
    cr_expect(!exists(path), "staging left behind");

    /* dataset.json: the keys nnU-Net requires, binary labels. */
    snprintf(path, sizeof path, "%s/dataset.json", a);
    char *text = (char *)slurp(path, NULL);
    jv *d = jv_parse(text);
    cr_assert(d, "dataset.json is not JSON:\n%s", text);
    const jv *ch = jv_get(d, "channel_names");
    cr_expect(ch && ch->n == 1 && jv_str(ch, "0") &&
              !strcmp(jv_str(ch, "0"), "zscore"));
    const jv *lab = jv_get(d, "labels");
    cr_assert(lab && lab->type == JV_OBJ && lab->n == 2, "labels");
    cr_expect(!strcmp(lab->keys[0], "background") && lab->items[0]->num == 0);
    cr_expect(!strcmp(lab->keys[1], "foreground") && lab->items[1]->num == 1);
    const jv *nt = jv_get(d, "numTraining");
    cr_expect(nt && nt->type == JV_NUM && nt->num == 6);
    cr_expect_str_eq(jv_str(d, "file_ending"), ".nii.gz");
    cr_expect_str_eq(jv_str(d, "licence"), "CC0-1.0");
    jv_free(d);
    free(text);
    snprintf(path, sizeof path, "%s/README.md", a);
    text = (char *)slurp(path, NULL);
    cr_expect(strstr(text, "--labels binary") &&
                  strstr(text, "no patient data") && strstr(text, "999"),
              "README.md:\n%s", text);
    free(text);

    /* A binary label file holds 0/1 exactly where the corpus has ids. */
    uint8_t *img = NULL;
    uint16_t *ids = NULL;
    int nx, ny;
    sf_corpus *c = NULL;
    cr_assert_eq(sf_corpus_open(corpus, &c, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(sf_corpus_load(c, 2, &img, &ids, &nx, &ny, &e), SF_OK, "%s",
                 e.msg);
    snprintf(path, sizeof path, "%s/labelsTr/synthfm_000002.nii.gz", a);
    size_t zn, n;
    uint8_t *z = slurp(path, &zn), *h = gunzip(z, zn, &n);
    cr_assert_eq(n, 352 + (size_t)nx * (size_t)ny);
    cr_expect_eq(i16(h + 70), SF_NIFTI_UINT8);
    long fg = 0;
    for (size_t i = 0; i < (size_t)nx * (size_t)ny; i++) {
        cr_assert_eq(h[352 + i], ids[i] != 0, "pixel %zu", i);
        fg += ids[i] != 0;
    }
    cr_expect(fg > 0, "sample 2 has foreground");
    free(z);
    free(h);
    snprintf(path, sizeof path, "%s/imagesTr/synthfm_000002_0000.nii.gz", a);
    z = slurp(path, &zn);
    h = gunzip(z, zn, &n);
    cr_expect(n == 352 + (size_t)nx * (size_t)ny &&
                  !memcmp(h + 352, img, n - 352),
              "image voxels are the PNG's");
    free(z);
    free(h);
    free(img);
    free(ids);
    sf_corpus_close(c);
}

Test(export, rerun_foreign_output_and_staging) {
    char corpus[128], out[128], path[512];
    snprintf(corpus, sizeof corpus, "%s/c", base);
    snprintf(out, sizeof out, "%s/out", base);
    make_corpus(corpus, 3, 64, -1);
    sf_export_stats st;
    sf_err e = {0};
    cr_assert_eq(run_export(corpus, out, SF_EXPORT_NNUNET, 0, 0, 2, &st, &e),
                 SF_OK, "%s", e.msg);
    sf_buf before = {0}, after = {0};
    tree_digest(out, "", &before);
    /* The same export again: nothing to do, nothing touched. */
    cr_assert_eq(run_export(corpus, out, SF_EXPORT_NNUNET, 0, 0, 2, &st, &e),
                 SF_OK, "%s", e.msg);
    cr_expect(st.up_to_date);
    /* Other options into it: refused, untouched. */
    sf_err_clear(&e);
    cr_expect_eq(run_export(corpus, out, SF_EXPORT_NNUNET,
                            SF_EXPORT_LABELS_INSTANCES, 0, 2, &st, &e),
                 SF_EEXIST);
    cr_expect(strstr(e.msg, "synthfm_export.json differs"), "%s", e.msg);
    sf_err_clear(&e);
    cr_expect_eq(
        run_export(corpus, out, SF_EXPORT_IMAGEFOLDER, 0, 0, 2, &st, &e),
        SF_EEXIST);
    tree_digest(out, "", &after);
    cr_expect(before.len == after.len && !memcmp(before.s, after.s, before.len),
              "a refused export changed OUT");
    sf_buf_release(&before);
    sf_buf_release(&after);

    /* A directory with someone else's file: refused. */
    snprintf(out, sizeof out, "%s/foreign", base);
    mkdir(out, 0777);
    snprintf(path, sizeof path, "%s/notes.txt", out);
    FILE *f = fopen(path, "w");
    fputs("mine\n", f);
    fclose(f);
    sf_err_clear(&e);
    cr_expect_eq(run_export(corpus, out, SF_EXPORT_NNUNET, 0, 0, 2, &st, &e),
                 SF_EEXIST);
    cr_expect(strstr(e.msg, "not empty") && strstr(e.msg, "missing"), "%s",
              e.msg);
    cr_expect(exists(path) && count_files(out) == 1,
              "foreign directory changed");
    /* OUT a file: refused. */
    sf_err_clear(&e);
    cr_expect_eq(run_export(corpus, path, SF_EXPORT_NNUNET, 0, 0, 2, &st, &e),
                 SF_EEXIST);

    /* A stale staging directory of ours is replaced; a foreign one not. */
    snprintf(out, sizeof out, "%s/staged", base);
    snprintf(path, sizeof path, "%s.partial/imagesTr", out);
    cr_assert_eq(sf_mkdir_p(path, &e), SF_OK);
    snprintf(path, sizeof path, "%s.partial/junk", out);
    fclose(fopen(path, "w"));
    sf_err_clear(&e);
    cr_expect_eq(run_export(corpus, out, SF_EXPORT_NNUNET, 0, 0, 2, &st, &e),
                 SF_EEXIST);
    cr_expect(strstr(e.msg, ".partial"), "%s", e.msg);
    cr_expect(exists(path), "a foreign .partial was removed");
    snprintf(path, sizeof path, "%s.partial/.synthfm-export-partial", out);
    fclose(fopen(path, "w"));
    cr_expect_eq(run_export(corpus, out, SF_EXPORT_NNUNET, 0, 0, 2, &st, &e),
                 SF_OK, "%s", e.msg);
    snprintf(path, sizeof path, "%s.partial", out);
    cr_expect(!exists(path), "stale staging not removed");
    snprintf(path, sizeof path, "%s/junk", out);
    cr_expect(!exists(path), "stale staging content ended up in OUT");
}

Test(export, damaged_corpus_leaves_nothing) {
    char corpus[128], out[128], path[512];
    snprintf(corpus, sizeof corpus, "%s/c", base);
    snprintf(out, sizeof out, "%s/out", base);
    make_corpus(corpus, 4, 64, -1);
    /* One flipped byte in a label map: its hash no longer matches. */
    snprintf(path, sizeof path, "%s/labels/000002.png", corpus);
    size_t n;
    uint8_t *b = slurp(path, &n);
    b[n / 2] ^= 0x40;
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
    free(b);
    for (int fmt = SF_EXPORT_NNUNET; fmt <= SF_EXPORT_IMAGEFOLDER; fmt++) {
        sf_err e = {0};
        cr_expect_eq(run_export(corpus, out, fmt, 0, 0, 2, NULL, &e),
                     SF_ECORRUPT);
        cr_expect(strstr(e.msg, "labels/000002.png"), "%s", e.msg);
        cr_expect(!exists(out), "OUT exists after a failed export");
        snprintf(path, sizeof path, "%s.partial", out);
        cr_expect(!exists(path), "staging left after a failed export");
    }
    /* An incomplete corpus is refused before anything is written. */
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "sqlite3 '%s/manifest.sqlite' 'DELETE FROM instances WHERE "
             "sample_index=1; "
             "DELETE FROM samples WHERE sample_index=1;' 2>/dev/null",
             corpus);
    if (system(cmd) == 0) {
        sf_err e = {0};
        cr_expect_eq(
            run_export(corpus, out, SF_EXPORT_NNUNET, 0, 0, 2, NULL, &e),
            SF_ECORRUPT);
        cr_expect(strstr(e.msg, "incomplete"), "%s", e.msg);
        cr_expect(!exists(out));
    }
    /* Bad options. */
    sf_err e = {0};
    cr_expect_eq(run_export(corpus, out, 7, 0, 0, 2, NULL, &e), SF_EINVAL);
    cr_expect_eq(run_export(corpus, out, SF_EXPORT_NNUNET, 9, 0, 2, NULL, &e),
                 SF_EINVAL);
    cr_expect_eq(run_export(corpus, out, SF_EXPORT_NNUNET,
                            SF_EXPORT_LABELS_INSTANCES, 70000, 2, NULL, &e),
                 SF_EINVAL);
    cr_expect(!exists(out));
}

Test(export, nnunet_instances_capped) {
    char corpus[128], out[128], path[512];
    snprintf(corpus, sizeof corpus, "%s/c", base);
    snprintf(out, sizeof out, "%s/out", base);
    make_corpus(corpus, 4, 96, SF_MODE_SHAPE);
    sf_corpus *c = NULL;
    sf_err e = {0};
    cr_assert_eq(sf_corpus_open(corpus, &c, &e), SF_OK, "%s", e.msg);
    int max_k = 0;
    for (uint64_t i = 0; i < sf_corpus_count(c); i++) {
        sf_corpus_sample s;
        sf_corpus_sample_at(c, i, &s, NULL);
        if (s.n_instances > max_k) max_k = s.n_instances;
    }
    cr_assert(max_k >= 3, "need a sample with 3+ instances (max %d)", max_k);
    int cap = max_k - 1;
    sf_export_stats st;
    cr_assert_eq(run_export(corpus, out, SF_EXPORT_NNUNET,
                            SF_EXPORT_LABELS_INSTANCES, cap, 2, &st, &e),
                 SF_OK, "%s", e.msg);
    cr_expect_eq(st.n_classes, cap);
    cr_expect_eq(st.max_instances, max_k);
    cr_expect(st.n_clamped >= 1);
    snprintf(path, sizeof path, "%s/dataset.json", out);
    char *text = (char *)slurp(path, NULL);
    jv *d = jv_parse(text);
    const jv *lab = jv_get(d, "labels");
    cr_assert(lab && lab->n == cap + 1, "labels: background + %d classes", cap);
    for (int v = 0; v <= cap; v++)
        cr_expect(lab->items[v]->type == JV_NUM && lab->items[v]->num == v,
                  "label values 0..%d consecutive, in order", cap);
    char last[64];
    snprintf(last, sizeof last, "instance_%d_and_above", cap);
    cr_expect_str_eq(lab->keys[cap], last);
    jv_free(d);
    free(text);
    /* Every label file: ids as in the corpus, those above cap at cap. */
    for (uint64_t i = 0; i < sf_corpus_count(c); i++) {
        uint8_t *img = NULL;
        uint16_t *ids = NULL;
        int nx, ny;
        cr_assert_eq(sf_corpus_load(c, i, &img, &ids, &nx, &ny, &e), SF_OK);
        snprintf(path, sizeof path, "%s/labelsTr/synthfm_%06llu.nii.gz", out,
                 (unsigned long long)i);
        size_t zn, n;
        uint8_t *z = slurp(path, &zn), *h = gunzip(z, zn, &n);
        cr_assert_eq(n, 352 + (size_t)nx * (size_t)ny);
        for (size_t p = 0; p < (size_t)nx * (size_t)ny; p++)
            cr_assert_eq(h[352 + p], ids[p] > cap ? cap : ids[p],
                         "sample %llu pixel %zu", (unsigned long long)i, p);
        free(z);
        free(h);
        free(img);
        free(ids);
    }
    sf_corpus_close(c);
}

Test(export, imagefolder_metadata_and_files) {
    char corpus[128], out[128], out2[128], path[512];
    snprintf(corpus, sizeof corpus, "%s/c", base);
    snprintf(out, sizeof out, "%s/hf", base);
    snprintf(out2, sizeof out2, "%s/hf_binary", base);
    make_corpus(corpus, 5, 64, -1);
    sf_export_stats st;
    sf_err e = {0};
    cr_assert_eq(
        run_export(corpus, out, SF_EXPORT_IMAGEFOLDER, 0, 0, 2, &st, &e), SF_OK,
        "%s", e.msg);
    cr_assert_eq(run_export(corpus, out2, SF_EXPORT_IMAGEFOLDER,
                            SF_EXPORT_LABELS_BINARY, 0, 2, &st, &e),
                 SF_OK, "%s", e.msg);
    sf_corpus *c = NULL;
    cr_assert_eq(sf_corpus_open(corpus, &c, &e), SF_OK, "%s", e.msg);
    snprintf(path, sizeof path, "%s/train/metadata.jsonl", out);
    char *text = (char *)slurp(path, NULL), *save = NULL;
    uint64_t row = 0;
    for (char *l = strtok_r(text, "\n", &save); l;
         l = strtok_r(NULL, "\n", &save), row++) {
        jv *m = jv_parse(l);
        cr_assert(m && m->type == JV_OBJ, "metadata.jsonl line %llu: %s",
                  (unsigned long long)row, l);
        cr_expect_str_eq(m->keys[0], "file_name", "file_name comes first");
        sf_corpus_sample s;
        cr_assert_eq(sf_corpus_sample_at(c, row, &s, NULL), SF_OK);
        cr_expect_eq(jv_get(m, "sample_index")->num, (double)s.index);
        cr_expect_eq(jv_get(m, "n_instances")->num, (double)s.n_instances);
        cr_expect_eq(jv_get(m, "width")->num, (double)s.nx);
        cr_expect_str_eq(jv_str(m, "module"), sf_mode_name(s.module));
        /* Paths relative to train/; the image is the corpus file. */
        const char *fn = jv_str(m, "file_name"),
                   *ln = jv_str(m, "label_file_name");
        cr_assert(fn && ln);
        char p2[512];
        size_t n1, n2;
        snprintf(path, sizeof path, "%s/train/%s", out, fn);
        snprintf(p2, sizeof p2, "%s/%s", corpus, s.image_path);
        uint8_t *x = slurp(path, &n1), *y = slurp(p2, &n2);
        cr_expect(n1 == n2 && !memcmp(x, y, n1), "%s differs from %s", path,
                  p2);
        free(x);
        free(y);
        snprintf(path, sizeof path, "%s/train/%s", out, ln);
        snprintf(p2, sizeof p2, "%s/%s", corpus, s.label_path);
        x = slurp(path, &n1);
        y = slurp(p2, &n2);
        cr_expect(n1 == n2 && !memcmp(x, y, n1),
                  "instances: %s is the corpus label", path);
        free(x);
        free(y);
        /* Binary: an 8-bit 0/1 mask of the same pixels. */
        snprintf(path, sizeof path, "%s/train/%s", out2, ln);
        uint8_t *mask = NULL, *img = NULL;
        uint16_t *ids = NULL;
        int w, h, nx, ny;
        cr_assert_eq(sf_png_read_gray8(path, &mask, &w, &h, &e), SF_OK, "%s",
                     e.msg);
        cr_assert_eq(sf_corpus_load(c, row, &img, &ids, &nx, &ny, &e), SF_OK);
        cr_assert(w == nx && h == ny);
        for (size_t p = 0; p < (size_t)w * (size_t)h; p++)
            cr_assert_eq(mask[p], ids[p] != 0);
        free(mask);
        free(img);
        free(ids);
        jv_free(m);
    }
    cr_expect_eq(row, 5u, "one metadata line per sample");
    free(text);
    snprintf(path, sizeof path, "%s/train/images", out);
    cr_expect_eq(count_files(path), 5);
    snprintf(path, sizeof path, "%s/train/labels", out);
    cr_expect_eq(count_files(path), 5);
    snprintf(path, sizeof path, "%s/README.md", out);
    text = (char *)slurp(path, NULL);
    cr_expect(strstr(text, "load_dataset(\"imagefolder\"") &&
              strstr(text, "label_file_name"));
    free(text);
    sf_corpus_close(c);
}
