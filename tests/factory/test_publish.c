/* Publishing: SHA256SUMS, samples.csv, README.md, croissant.json and
 * preview.png of a finished corpus, their content and their determinism
 * (republishing, and a merged corpus against a single run). */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tmpdir.h"
#include "sf_int.h"

static char base[64];

static void setup(void) {
    cr_assert(sf_test_mkdtemp(base, sizeof base, "publish"));
}

static void teardown(void) {
    cr_expect_eq(sf_test_rmtree(base), 0);
}

TestSuite(publish, .init = setup, .fini = teardown);

enum { COUNT = 6, SEED = 7 };

static void make_corpus_mode(const char *dir, int shard, int n_shards,
                             int mode) {
    sf_config c;
    sf_err e = {0};
    cr_assert_eq(sf_config_default(&c, &e), SF_OK, "%s", e.msg);
    c.image_size = 128;
    if (mode >= 0) c.mode = mode;
    sf_generate_opts o = {0};
    o.out_dir = dir;
    o.seed = SEED;
    o.count = COUNT;
    o.shard_index = shard;
    o.shard_count = n_shards;
    o.threads = 2;
    sf_generate_stats st;
    sf_corpus_result res;
    cr_assert_eq(sf_corpus_generate(&c, &o, &st, &res, &e), SF_OK, "%s", e.msg);
}

static void make_corpus(const char *dir, int shard, int n_shards) {
    make_corpus_mode(dir, shard, n_shards, -1);
}

/* Whole file, NUL-terminated; *n = its length. */
static char *slurp(const char *dir, const char *name, size_t *n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s: cannot open", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    cr_assert(b);
    cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    b[len] = '\0';
    if (n) *n = (size_t)len;
    return b;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ------------------------------------------------ JSON syntax checker */

/* Recursive descent over RFC 8259 JSON: returns the position after the
 * value, or NULL on a syntax error. */
typedef struct jp {
    const char *p;
    int depth;
} jp;

static void ws(jp *j) {
    while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
        j->p++;
}

static int value(jp *j);

static int string(jp *j) {
    if (*j->p != '"') return 0;
    j->p++;
    while (*j->p != '"') {
        unsigned char ch = (unsigned char)*j->p;
        if (ch < 0x20) return 0; /* also catches the terminating NUL */
        if (ch == '\\') {
            j->p++;
            if (*j->p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!isxdigit((unsigned char)j->p[i])) return 0;
                j->p += 4;
            } else if (!strchr("\"\\/bfnrt", *j->p) || !*j->p) {
                return 0;
            }
        }
        j->p++;
    }
    j->p++;
    return 1;
}

static int number(jp *j) {
    const char *s = j->p;
    if (*j->p == '-') j->p++;
    if (*j->p == '0') {
        j->p++;
    } else if (*j->p >= '1' && *j->p <= '9') {
        while (isdigit((unsigned char)*j->p))
            j->p++;
    } else {
        return 0;
    }
    if (*j->p == '.') {
        j->p++;
        if (!isdigit((unsigned char)*j->p)) return 0;
        while (isdigit((unsigned char)*j->p))
            j->p++;
    }
    if (*j->p == 'e' || *j->p == 'E') {
        j->p++;
        if (*j->p == '+' || *j->p == '-') j->p++;
        if (!isdigit((unsigned char)*j->p)) return 0;
        while (isdigit((unsigned char)*j->p))
            j->p++;
    }
    return j->p > s;
}

static int composite(jp *j, char open, char close, int keyed) {
    if (*j->p != open || ++j->depth > 64) return 0;
    j->p++;
    ws(j);
    if (*j->p == close) {
        j->p++;
        j->depth--;
        return 1;
    }
    for (;;) {
        ws(j);
        if (keyed) {
            if (!string(j)) return 0;
            ws(j);
            if (*j->p++ != ':') return 0;
        }
        if (!value(j)) return 0;
        ws(j);
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        if (*j->p++ != close) return 0;
        j->depth--;
        return 1;
    }
}

static int value(jp *j) {
    ws(j);
    switch (*j->p) {
    case '{': return composite(j, '{', '}', 1);
    case '[': return composite(j, '[', ']', 0);
    case '"': return string(j);
    case 't': return !strncmp(j->p, "true", 4) ? (j->p += 4, 1) : 0;
    case 'f': return !strncmp(j->p, "false", 5) ? (j->p += 5, 1) : 0;
    case 'n': return !strncmp(j->p, "null", 4) ? (j->p += 4, 1) : 0;
    default: return number(j);
    }
}

static int json_ok(const char *text) {
    jp j = {text, 0};
    if (!value(&j)) return 0;
    ws(&j);
    return *j.p == '\0';
}

Test(publish, json_checker_sanity) {
    cr_expect(json_ok(
        "{\"a\": [1, -2.5e3, true, null, \"x\\n\\u00e9\"], \"b\": {}}"));
    cr_expect(json_ok(" [ ] "));
    cr_expect(!json_ok("{\"a\": 1,}"));
    cr_expect(!json_ok("{\"a\" 1}"));
    cr_expect(!json_ok("[1, 2"));
    cr_expect(!json_ok("\"tab\there\""));
    cr_expect(!json_ok("{\"a\": 01}"));
    cr_expect(!json_ok("{} {}"));
}

/* ------------------------------------------------------------ content */

/* The card states the boundary samples' instance counts as measured in
 * the manifest, and why they are far above the number of label fields. */
Test(publish, card_states_boundary_instance_counts) {
    char dir[128];
    snprintf(dir, sizeof dir, "%s/b", base);
    make_corpus_mode(dir, 0, 1, SF_MODE_BOUNDARY);
    sf_corpus *c = NULL;
    sf_err e = {0};
    cr_assert_eq(sf_corpus_open(dir, &c, &e), SF_OK, "%s", e.msg);
    uint64_t sum = 0, n = sf_corpus_count(c);
    int lo = 0, hi = 0;
    for (uint64_t i = 0; i < n; i++) {
        sf_corpus_sample s;
        cr_assert_eq(sf_corpus_sample_at(c, i, &s, NULL), SF_OK);
        cr_assert_eq(s.module, SF_MODE_BOUNDARY);
        sum += (uint64_t)s.n_instances;
        if (!i || s.n_instances < lo) lo = s.n_instances;
        if (!i || s.n_instances > hi) hi = s.n_instances;
    }
    sf_corpus_close(c);
    cr_assert_gt(hi, 15, "boundary samples hold more instances than fields");
    char *card = slurp(dir, "README.md", NULL), want[256];
    snprintf(want, sizeof want,
             "| … per boundary sample: mean / min / max | %.2f / %d / %d |",
             (double)sum / (double)n, lo, hi);
    cr_expect(strstr(card, want), "%s", want);
    snprintf(want, sizeof want,
             "Why a boundary sample holds hundreds of instances (%d to %d "
             "here) from 10 to 15 label fields",
             lo, hi);
    cr_expect(strstr(card, want), "%s", want);
    cr_expect(!strstr(card, "per shape sample"), "no shape samples here");
    free(card);
}

Test(publish, sums_csv_card_croissant_preview) {
    char dir[128], path[256];
    snprintf(dir, sizeof dir, "%s/c", base);
    make_corpus(dir, 0, 1);

    /* SHA256SUMS: 12 sorted lines, each hash that of the file's bytes. */
    char *sums = slurp(dir, "SHA256SUMS", NULL);
    cr_expect_eq(count_lines(sums), 2 * COUNT);
    char prev[128] = "";
    int n_lines = 0;
    for (char *save = NULL, *l = strtok_r(sums, "\n", &save); l;
         l = strtok_r(NULL, "\n", &save), n_lines++) {
        cr_assert(strlen(l) > 66 && l[64] == ' ' && l[65] == ' ',
                  "bad line '%s'", l);
        const char *rel = l + 66;
        cr_expect(!strncmp(rel, n_lines < COUNT ? "images/" : "labels/", 7),
                  "%s", rel);
        cr_expect(strcmp(prev, rel) < 0, "not sorted: '%s' after '%s'", rel,
                  prev);
        snprintf(prev, sizeof prev, "%s", rel);
        size_t n;
        char *bytes = slurp(dir, rel, &n), hex[65];
        cr_assert_eq(sf_sha256_hex(bytes, n, hex), SF_OK);
        cr_expect(!strncmp(l, hex, 64), "%s: listed %.64s, file has %s", rel, l,
                  hex);
        free(bytes);
    }
    cr_expect_eq(n_lines, 2 * COUNT);
    free(sums);

    /* samples.csv: header + one row per sample, in index order. */
    size_t csv_n;
    char *csv = slurp(dir, "samples.csv", &csv_n);
    cr_expect_eq(count_lines(csv), COUNT + 1);
    const char *hdr =
        "sample_index,module,image,label,n_instances,image_sha256,"
        "label_sha256,width,height,name\n";
    cr_expect(!strncmp(csv, hdr, strlen(hdr)), "header: %.120s", csv);
    cr_expect(strstr(csv, "\n0,"), "row 0");
    cr_expect(strstr(csv, "\n5,"), "row 5");
    cr_expect(strstr(csv, ",images/000003.png,labels/000003.png,"));
    cr_expect(strstr(csv, ",128,128,000003\n"));
    char csv_sha[65];
    cr_assert_eq(sf_sha256_hex(csv, csv_n, csv_sha), SF_OK);

    /* The rows agree with the manifest. */
    sf_corpus *c = NULL;
    sf_err e = {0};
    cr_assert_eq(sf_corpus_open(dir, &c, &e), SF_OK, "%s", e.msg);
    uint64_t n_inst = 0, n_b = 0;
    for (uint64_t i = 0; i < sf_corpus_count(c); i++) {
        sf_corpus_sample s;
        cr_assert_eq(sf_corpus_sample_at(c, i, &s, NULL), SF_OK);
        char row[512];
        snprintf(row, sizeof row, "%llu,%s,%s,%s,%d,%s,%s,%d,%d,%.6s\n",
                 (unsigned long long)s.index, sf_mode_name(s.module),
                 s.image_path, s.label_path, s.n_instances, s.image_sha256,
                 s.label_sha256, s.nx, s.ny, s.image_path + 7);
        cr_expect(strstr(csv, row), "row missing: %s", row);
        n_inst += (uint64_t)s.n_instances;
        n_b += s.module == SF_MODE_BOUNDARY;
    }
    sf_corpus_close(c);
    free(csv);

    /* README.md: the real figures and the regenerate command. */
    char *card = slurp(dir, "README.md", NULL), want[256];
    cr_expect(!strncmp(card, "# ", 2), "title first");
    cr_expect(strstr(card, "| Samples in this directory | 6 |"));
    snprintf(want, sizeof want, "| Instances (labelled objects) | %llu |",
             (unsigned long long)n_inst);
    cr_expect(strstr(card, want), "%s", want);
    cr_expect(strstr(card, "| Master seed | 7 |"));
    cr_expect(strstr(card, "| Image size | 128 × 128 px |"));
    cr_expect(strstr(card, "synthfm generate --config config.yaml --out DIR "
                           "--count 6 --seed 7\n"));
    cr_expect(strstr(card, "synthfm verify DIR --regenerate 8"));
    cr_expect(!strstr(card, "--shard"), "a whole corpus has no --shard");
    char *yaml = strstr(card, "```yaml\n");
    cr_expect(yaml && strstr(yaml, "\nimage_size: 128\n"),
              "resolved config block");
    cr_expect(strstr(card, "arXiv:2504.08177"));
    cr_expect(strstr(card, "```bibtex\n@article{"));
    cr_expect(strstr(card, "CC0-1.0 (synthetic data, no real patient data"));
    cr_expect(strstr(card, "preview.png"));
    cr_expect(strstr(card, "| Shapes per image (shape module) | 1 – 6 |"));
    cr_expect(strstr(card, "| Boundary label fields (boundary module; not "
                           "instances: see Contents) | 10 – 15 |"));
    cr_expect(n_b > 0 || !strstr(card, "Why a boundary sample"),
              "no boundary samples, no paragraph about them");
    cr_expect(strstr(card, "outlines of the 12 largest instances"));
    free(card);

    /* croissant.json: valid JSON naming every file set and field. */
    char *cj = slurp(dir, "croissant.json", NULL);
    cr_expect(json_ok(cj), "croissant.json is not valid JSON");
    const char *names[] = {"\"@context\"",
                           "\"conformsTo\": [",
                           "\"http://mlcommons.org/croissant/1.0\"",
                           "\"@type\": \"sc:Dataset\"",
                           "\"recordSet\"",
                           "\"distribution\"",
                           "\"@id\": \"samples.csv\"",
                           "\"@id\": \"manifest.sqlite\"",
                           "\"@id\": \"images\"",
                           "\"@id\": \"labels\"",
                           "\"includes\": \"images/*.png\"",
                           "\"includes\": \"labels/*.png\"",
                           "\"@id\": \"samples/sample_index\"",
                           "\"@id\": \"samples/module\"",
                           "\"@id\": \"samples/n_instances\"",
                           "\"@id\": \"samples/image_sha256\"",
                           "\"@id\": \"samples/label_sha256\"",
                           "\"@id\": \"samples/image\"",
                           "\"@id\": \"samples/label_map\"",
                           "\"citeAs\"",
                           "\"license\"",
                           "\"datePublished\"",
                           "\"version\": \"" SF_VERSION "\""};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        cr_expect(strstr(cj, names[i]), "croissant.json lacks %s", names[i]);
    snprintf(want, sizeof want, "\"sha256\": \"%s\"", csv_sha);
    cr_expect(strstr(cj, want), "samples.csv hash in croissant.json");
    free(cj);

    /* preview.png: 8-bit RGB, 4 columns x 2 rows of 256 px tiles with 8 px
     * gaps, a 20 px caption band under each row and a 28 px title band. */
    char *png = slurp(dir, "preview.png", NULL);
    cr_expect_eq((unsigned char)png[24], 8, "bit depth");
    cr_expect_eq((unsigned char)png[25], 2, "colour type RGB");
    free(png);
    snprintf(path, sizeof path, "%s/preview.png", dir);
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    cr_assert_eq(sf_png_read_rgb8(path, &rgb, &w, &h, &e), SF_OK, "%s", e.msg);
    cr_expect_eq(w, 8 + 4 * (256 + 8));
    cr_expect_eq(h, 28 + 2 * (256 + 20 + 8));
    /* Outlines are coloured, the images gray: both must be there. */
    long n_colour = 0, n_gray_bright = 0;
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++) {
        const uint8_t *p = rgb + 3 * i;
        if ((p[0] != p[1] || p[1] != p[2]) &&
            (p[0] == 255 || p[1] == 255 || p[2] == 255))
            n_colour++;
        if (p[0] == p[1] && p[1] == p[2] && p[0] > 64) n_gray_bright++;
    }
    cr_expect(n_colour > 500, "only %ld outline pixels", n_colour);
    cr_expect(n_gray_bright > 10000, "only %ld image pixels", n_gray_bright);
    /* The empty 7th and 8th tile slots stay background. */
    const uint8_t *bg = rgb + 3 * ((size_t)(28 + 284 + 100) * (size_t)w +
                                   (size_t)(8 + 3 * 264 + 100));
    cr_expect(bg[0] < 40 && bg[1] < 40 && bg[2] < 40,
              "empty slot is background");
    free(rgb);

    /* No temporary files left behind. */
    const char *tmps[] = {"SHA256SUMS.tmp", "samples.csv.tmp", "README.md.tmp",
                          "croissant.json.tmp", "preview.png.tmp"};
    for (size_t i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, tmps[i]);
        cr_expect(access(path, F_OK) != 0, "%s left behind", tmps[i]);
    }
}

/* ------------------------------------------------------- determinism */

static const char *const published[] = {
    "SHA256SUMS", "samples.csv", "README.md", "croissant.json", "preview.png"};

/* Cut every occurrence of `created` out of s (in place). */
static void mask(char *s, const char *created) {
    size_t n = strlen(created);
    for (char *p; n && (p = strstr(s, created));)
        memmove(p, p + n, strlen(p + n) + 1);
}

Test(publish, republish_is_byte_identical) {
    char dir[128];
    snprintf(dir, sizeof dir, "%s/c", base);
    make_corpus(dir, 0, 1);
    char *before[5];
    size_t n_before[5];
    for (int i = 0; i < 5; i++)
        before[i] = slurp(dir, published[i], &n_before[i]);
    sf_err e = {0};
    cr_assert_eq(sf__corpus_publish(dir, &e), SF_OK, "%s", e.msg);
    for (int i = 0; i < 5; i++) {
        size_t n;
        char *after = slurp(dir, published[i], &n);
        cr_expect(n == n_before[i] && !memcmp(after, before[i], n),
                  "%s changed", published[i]);
        free(after);
        free(before[i]);
    }
}

Test(publish, merged_shards_publish_like_a_single_run) {
    char one[128], s0[128], s1[128], merged[128];
    snprintf(one, sizeof one, "%s/one", base);
    snprintf(s0, sizeof s0, "%s/s0", base);
    snprintf(s1, sizeof s1, "%s/s1", base);
    snprintf(merged, sizeof merged, "%s/merged", base);
    make_corpus(one, 0, 1);
    make_corpus(s0, 0, 2);
    make_corpus(s1, 1, 2);

    /* A shard's card says how to make exactly that shard. */
    char *card = slurp(s1, "README.md", NULL);
    cr_expect(strstr(card, "--count 6 --seed 7 --shard 1/2\n"),
              "shard command");
    cr_expect(strstr(card, "| Samples in this directory | 3 |"));
    free(card);
    char *sums1 = slurp(s1, "SHA256SUMS", NULL);
    cr_expect_eq(count_lines(sums1), 6);
    cr_expect(strstr(sums1, "  images/000003.png\n"));
    free(sums1);

    const char *shards[] = {s0, s1};
    sf_err e = {0};
    cr_assert_eq(sf_corpus_merge(merged, shards, 2, NULL, NULL, &e), SF_OK,
                 "%s", e.msg);

    sf_corpus *a = NULL, *b = NULL;
    cr_assert_eq(sf_corpus_open(one, &a, &e), SF_OK, "%s", e.msg);
    cr_assert_eq(sf_corpus_open(merged, &b, &e), SF_OK, "%s", e.msg);
    char ca[32], cb[32];
    snprintf(ca, sizeof ca, "%s", sf_corpus_get_info(a)->created_at);
    snprintf(cb, sizeof cb, "%s", sf_corpus_get_info(b)->created_at);
    sf_corpus_close(a);
    sf_corpus_close(b);

    for (int i = 0; i < 5; i++) {
        size_t na, nb;
        char *x = slurp(one, published[i], &na),
             *y = slurp(merged, published[i], &nb);
        if (i >= 2 &&
            i <= 3) { /* README.md, croissant.json: created_at aside */
            mask(x, ca);
            mask(y, cb);
            na = strlen(x);
            nb = strlen(y);
        }
        cr_expect(na == nb && !memcmp(x, y, na),
                  "%s differs between merge and single run", published[i]);
        free(x);
        free(y);
    }
}

/* ------------------------------------------------------------- errors */

Test(publish, errors_name_the_file) {
    char dir[128], path[256];
    sf_err e = {0};
    snprintf(dir, sizeof dir, "%s/none", base);
    cr_expect_neq(sf__corpus_publish(dir, &e), SF_OK);
    cr_expect(strstr(e.msg, "none"), "%s", e.msg);

    /* A damaged sample file: the preview cannot be drawn, and says which. */
    snprintf(dir, sizeof dir, "%s/c", base);
    make_corpus(dir, 0, 1);
    snprintf(path, sizeof path, "%s/images/000002.png", dir);
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    fputs("not a png", f);
    fclose(f);
    sf_err_clear(&e);
    cr_expect_neq(sf__corpus_publish(dir, &e), SF_OK);
    cr_expect(strstr(e.msg, "000002.png"), "%s", e.msg);
    cr_expect(strstr(e.msg, "preview.png"), "%s", e.msg);

    /* A directory we cannot write into. */
    if (geteuid() != 0) {
        snprintf(dir, sizeof dir, "%s/ro", base);
        make_corpus(dir, 0, 1);
        cr_assert_eq(chmod(dir, 0555), 0);
        sf_err_clear(&e);
        cr_expect_neq(sf__corpus_publish(dir, &e), SF_OK);
        cr_expect(strstr(e.msg, "SHA256SUMS"), "%s", e.msg);
        chmod(dir, 0755);
    }
}
