/* `synthfm export --format nnunet` against nnU-Net v2's dataset format:
 * the checks of nnunetv2/experiment_planning/verify_dataset_integrity.py
 * that apply (dataset.json's required keys; numTraining = the cases
 * found the way nnU-Net finds them, by cutting "_XXXX" + file_ending off
 * the imagesTr names; one labelsTr file per case; channel files per case
 * = len(channel_names); LabelManager's rules: "background" is 0, values
 * consecutive from 0; every label file holds only declared values; no
 * NaN; image and label of a case with equal shape, spacing and affine),
 * with every file read back through the harness' nifticlib reader and
 * compared with the corpus it came from. Also what nnU-Net's planner
 * makes of 2-D data: one slice, spacing 999 across it. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../factory/json_dom.h"
#include "readers.h"
#include "sf_export.h"

static char base[64];

static void setup(void) {
    snprintf(base, sizeof base, "/tmp/hx_export_XXXXXX");
    cr_assert(mkdtemp(base));
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(export_nnunet, .init = setup, .fini = teardown);

static char *slurp(const char *path) {
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
    return b;
}

/* size 0: the config's (the embedded default: 1024 px). */
static void make_corpus_seed(const char *dir, int count, int size,
                             uint64_t seed) {
    sf_config c;
    sf_err e = {0};
    cr_assert_eq(sf_config_default(&c, &e), SF_OK, "%s", e.msg);
    if (size) c.image_size = size;
    sf_generate_opts o = {0};
    o.out_dir = dir;
    o.seed = seed;
    o.count = (uint64_t)count;
    o.shard_count = 1;
    o.threads = 2;
    sf_generate_stats st;
    sf_corpus_result res;
    cr_assert_eq(sf_corpus_generate(&c, &o, &st, &res, &e), SF_OK, "%s", e.msg);
}

static void make_corpus(const char *dir, int count, int size) {
    make_corpus_seed(dir, count, size, 21);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir that end with `ending` (nnU-Net's subfiles). */
static int list_files(const char *dir, const char *ending, char ***out) {
    DIR *d = opendir(dir);
    cr_assert(d, "%s: no such folder", dir);
    char **names = NULL;
    int n = 0;
    struct dirent *e;
    size_t le = strlen(ending);
    while ((e = readdir(d))) {
        size_t ln = strlen(e->d_name);
        if (e->d_name[0] == '.' || ln < le ||
            strcmp(e->d_name + ln - le, ending))
            continue;
        names = realloc(names, (size_t)(n + 1) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    *out = names;
    return n;
}

static void free_list(char **v, int n) {
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static hx_volume *read_volume(const char *path) {
    hx_volume *v = NULL;
    sf_err e = {0};
    cr_assert_eq(hx_volume_read(path, &v, &e), SF_OK, "%s: %s", path, e.msg);
    cr_expect_str_eq(v->format, "nifti", "%s", path);
    for (size_t i = 0; i < (size_t)v->nx * v->ny * v->nz; i++)
        cr_assert(!isnan(v->data[i]), "%s: NaN at voxel %zu", path, i);
    return v;
}

/* The first problem found, as nnU-Net would report it. */
static char problem[1024];

#define FAIL(...)                                                              \
    do {                                                                       \
        snprintf(problem, sizeof problem, __VA_ARGS__);                        \
        goto out;                                                              \
    } while (0)

/*
 * nnU-Net's dataset-level integrity checks on the raw dataset folder
 * `dir`: NULL when it passes, else the first problem. On success *ids_out
 * gets the case identifiers in sorted order (caller frees), *n_ids their
 * count and *n_labels the largest declared label value.
 */
static const char *verify_dataset_integrity(const char *dir, char ***ids_out,
                                            int *n_ids, int *n_labels) {
    char path[1024], imgdir[1024], labdir[1024];
    char **imgs = NULL, **labs = NULL, **ids = NULL;
    int ni = 0, nl = 0, n = 0, *vals = NULL;
    jv *d = NULL;
    char *text = NULL;
    problem[0] = '\0';
    snprintf(path, sizeof path, "%s/dataset.json", dir);
    text = slurp(path);
    d = jv_parse(text);
    if (!d || d->type != JV_OBJ) FAIL("%s is not a JSON object", path);
    const char *required[] = {"labels", "channel_names", "numTraining",
                              "file_ending"};
    for (int i = 0; i < 4; i++)
        if (!jv_get(d, required[i]))
            FAIL("dataset.json lacks required key %s", required[i]);
    const jv *nt = jv_get(d, "numTraining"), *ch = jv_get(d, "channel_names"),
             *lab = jv_get(d, "labels");
    const char *ending = jv_str(d, "file_ending");
    if (!ending || nt->type != JV_NUM || ch->type != JV_OBJ ||
        lab->type != JV_OBJ)
        FAIL("dataset.json: wrong types");
    for (int i = 0; i < ch->n; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d", i);
        if (strcmp(ch->keys[i], want) || ch->items[i]->type != JV_STR)
            FAIL("channel_names: key %s", ch->keys[i]);
    }

    /* LabelManager: background present and 0; values ints, sorted unique
     * and consecutive (np.ediff1d == 1). */
    const jv *bg = jv_get(lab, "background");
    if (!bg || bg->type != JV_NUM || bg->num != 0)
        FAIL("Background label must be 0");
    vals = malloc((size_t)lab->n * sizeof *vals);
    for (int i = 0; i < lab->n; i++) {
        if (lab->items[i]->type != JV_NUM ||
            lab->items[i]->num != floor(lab->items[i]->num))
            FAIL("label %s is not an integer", lab->keys[i]);
        vals[i] = (int)lab->items[i]->num;
    }
    for (int i = 1; i < lab->n; i++)
        for (int k = i; k > 0 && vals[k - 1] > vals[k]; k--) {
            int t = vals[k];
            vals[k] = vals[k - 1];
            vals[k - 1] = t;
        }
    for (int i = 0; i < lab->n; i++)
        if (vals[i] != i)
            FAIL("Labels must be in consecutive order (0, 1, 2, ...)");
    *n_labels = lab->n - 1;

    /* Case identifiers as nnU-Net derives them from imagesTr. */
    snprintf(imgdir, sizeof imgdir, "%s/imagesTr", dir);
    snprintf(labdir, sizeof labdir, "%s/labelsTr", dir);
    ni = list_files(imgdir, ending, &imgs);
    nl = list_files(labdir, ending, &labs);
    size_t crop = strlen(ending) + 5;
    for (int i = 0; i < ni; i++) {
        if (strlen(imgs[i]) <= crop) FAIL("%s: name too short", imgs[i]);
        char id[256];
        snprintf(id, sizeof id, "%.*s", (int)(strlen(imgs[i]) - crop), imgs[i]);
        if (n == 0 || strcmp(ids[n - 1], id)) {
            ids = realloc(ids, (size_t)(n + 1) * sizeof *ids);
            ids[n++] = strdup(id);
        }
    }
    if (n != (int)nt->num)
        FAIL(
            "Did not find the expected number of training cases (%g). Found %d",
            nt->num, n);
    for (int i = 0; i < n; i++) {
        /* Channel files: <id>_XXXX<ending>, as many as channel_names. */
        int nch = 0;
        for (int k = 0; k < ni; k++) {
            const char *f = imgs[k];
            size_t li = strlen(ids[i]);
            nch += !strncmp(f, ids[i], li) && f[li] == '_' &&
                   strlen(f) == li + crop &&
                   strspn(f + li + 1, "0123456789") == 4 &&
                   !strcmp(f + li + 5, ending);
        }
        if (nch != ch->n)
            FAIL("case %s: %d channel files, channel_names has %d", ids[i], nch,
                 ch->n);
        char want[300];
        snprintf(want, sizeof want, "%s%s", ids[i], ending);
        int found = 0;
        for (int k = 0; k < nl; k++)
            found |= !strcmp(labs[k], want);
        if (!found)
            FAIL("not all training cases have a label file in labelsTr: %s",
                 want);
    }
    if (nl != n) FAIL("labelsTr holds %d files for %d cases", nl, n);
    *ids_out = ids;
    *n_ids = n;
    ids = NULL;
out:
    free_list(imgs, ni);
    free_list(labs, nl);
    if (ids) free_list(ids, n);
    free(vals);
    jv_free(d);
    free(text);
    return problem[0] ? problem : NULL;
}

/* check_cases + verify_labels for one case, and the values against the
 * corpus sample it came from. */
static void check_case(const char *dir, const char *id, const uint8_t *img,
                       const uint16_t *ids, int nx, int ny, int n_labels,
                       int binary) {
    char path[1024];
    snprintf(path, sizeof path, "%s/imagesTr/%s_0000.nii.gz", dir, id);
    hx_volume *vi = read_volume(path);
    snprintf(path, sizeof path, "%s/labelsTr/%s.nii.gz", dir, id);
    hx_volume *vl = read_volume(path);
    /* Shape, spacing, affine equal between image and label. */
    cr_expect(vi->nx == vl->nx && vi->ny == vl->ny && vi->nz == vl->nz,
              "%s: shape", id);
    for (int a = 0; a < 3; a++)
        cr_expect(fabs(vi->spacing_mm[a] - vl->spacing_mm[a]) < 1e-6,
                  "%s: spacing", id);
    for (int r = 0; r < 4; r++)
        for (int k = 0; k < 4; k++)
            cr_expect(fabs(vi->ijk_to_lps[r][k] - vl->ijk_to_lps[r][k]) < 1e-6,
                      "%s: affine [%d][%d]", id, r, k);
    /* 2-D as nnU-Net wants it: (nx, ny, 1), 1 x 1 x 999 mm, oriented, and
     * no flip needed for LPS (the PNG's rows and columns as stored). */
    cr_expect(vi->nx == nx && vi->ny == ny && vi->nz == 1, "%s: %dx%dx%d", id,
              vi->nx, vi->ny, vi->nz);
    cr_expect(vi->spacing_mm[0] == 1.0 && vi->spacing_mm[1] == 1.0 &&
                  vi->spacing_mm[2] == 999.0,
              "%s: spacing %g %g %g", id, vi->spacing_mm[0], vi->spacing_mm[1],
              vi->spacing_mm[2]);
    char ax[4];
    cr_expect(vi->oriented, "%s: no orientation", id);
    cr_expect_str_eq(hx_volume_axcodes(vi, ax), "LPS", "%s", id);
    /* Values: the image is the PNG; the labels the declared mapping and
     * only declared values (verify_labels). */
    for (size_t p = 0; p < (size_t)nx * (size_t)ny; p++) {
        cr_assert_eq(vi->data[p], (float)img[p], "%s: image voxel %zu", id, p);
        float v = vl->data[p];
        cr_assert(v >= 0 && v <= (float)n_labels && v == floorf(v),
                  "%s: label value %g not declared (0..%d)", id, v, n_labels);
        float want = binary ? (ids[p] != 0)
                            : (float)(ids[p] > n_labels ? n_labels : ids[p]);
        cr_assert_eq(v, want, "%s: label voxel %zu", id, p);
    }
    hx_volume_free(vi);
    hx_volume_free(vl);
}

/* Export the corpus in `corpus` and run every check on it. */
static void verify_export(const char *corpus, int labels, int count) {
    char out[128];
    snprintf(out, sizeof out, "%s/Dataset501_SynthFM_%d", base, labels);
    sf_export_opts o = {0};
    o.format = SF_EXPORT_NNUNET;
    o.labels = labels;
    o.threads = 2;
    sf_export_stats st;
    sf_err e = {0};
    cr_assert_eq(sf_export(corpus, out, &o, &st, &e), SF_OK, "%s", e.msg);

    char **ids = NULL;
    int n_labels = 0, n = 0;
    const char *why = verify_dataset_integrity(out, &ids, &n, &n_labels);
    cr_assert(!why, "%s: %s", out, why);
    cr_assert_eq(n, count);
    sf_corpus *c = NULL;
    cr_assert_eq(sf_corpus_open(corpus, &c, &e), SF_OK, "%s", e.msg);
    int max_k = 0;
    for (int i = 0; i < n; i++) {
        uint8_t *img = NULL;
        uint16_t *lab = NULL;
        int nx, ny;
        sf_corpus_sample s;
        cr_assert_eq(sf_corpus_sample_at(c, (uint64_t)i, &s, NULL), SF_OK);
        if (s.n_instances > max_k) max_k = s.n_instances;
        char want[64];
        snprintf(want, sizeof want, "synthfm_%06llu",
                 (unsigned long long)s.index);
        cr_expect_str_eq(ids[i], want, "case order follows the corpus");
        cr_assert_eq(sf_corpus_load(c, (uint64_t)i, &img, &lab, &nx, &ny, &e),
                     SF_OK);
        check_case(out, ids[i], img, lab, nx, ny, n_labels,
                   labels == SF_EXPORT_LABELS_BINARY);
        free(img);
        free(lab);
        free(ids[i]);
    }
    free(ids);
    if (labels == SF_EXPORT_LABELS_BINARY)
        cr_expect_eq(n_labels, 1);
    else
        cr_expect_eq(n_labels, max_k < 255 ? max_k : 255);
    sf_corpus_close(c);
}

static void export_and_verify(int labels) {
    char corpus[128];
    snprintf(corpus, sizeof corpus, "%s/c", base);
    make_corpus(corpus, 8, 96);
    verify_export(corpus, labels, 8);
}

Test(export_nnunet, binary_passes_the_integrity_checks) {
    export_and_verify(SF_EXPORT_LABELS_BINARY);
}

Test(export_nnunet, instances_pass_the_integrity_checks) {
    export_and_verify(SF_EXPORT_LABELS_INSTANCES);
}

/* The demo corpus (`make demo`: the embedded default config, 1024 px,
 * seed 0): its first 12 samples, the same bytes as the demo's since a
 * sample does not depend on the count. */
Test(export_nnunet, demo_corpus_passes_the_integrity_checks, .timeout = 600) {
    char corpus[128];
    snprintf(corpus, sizeof corpus, "%s/demo", base);
    make_corpus_seed(corpus, 12, 0, 0);
    verify_export(corpus, SF_EXPORT_LABELS_BINARY, 12);
    verify_export(corpus, SF_EXPORT_LABELS_INSTANCES, 12);
}

/* The checker itself refuses what nnU-Net refuses (a guard against a
 * checker that passes everything). */
Test(export_nnunet, checker_catches_broken_datasets) {
    char corpus[128], out[128], cmd[1024];
    snprintf(corpus, sizeof corpus, "%s/c", base);
    make_corpus(corpus, 2, 64);
    struct {
        const char *shell; /* run in the export folder */
        const char *want;  /* in the problem text */
    } cases[] = {
        {"sed -i 's/\"numTraining\": 2/\"numTraining\": 3/' dataset.json",
         "expected number of training cases"},
        {"rm labelsTr/synthfm_000001.nii.gz", "label file"},
        {"sed -i 's/\"foreground\": 1/\"foreground\": 2/' dataset.json",
         "consecutive"},
        {"sed -i 's/\"background\": 0/\"background\": 1/' dataset.json",
         "Background"},
        {"sed -i 's/\"file_ending\"/\"ending\"/' dataset.json", "file_ending"},
        {"cp imagesTr/synthfm_000000_0000.nii.gz "
         "imagesTr/synthfm_000000_0001.nii.gz",
         "channel files"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(out, sizeof out, "%s/broken%zu", base, i);
        sf_export_opts o = {0};
        o.format = SF_EXPORT_NNUNET;
        sf_err e = {0};
        cr_assert_eq(sf_export(corpus, out, &o, NULL, &e), SF_OK, "%s", e.msg);
        char **ids = NULL;
        int n = 0, n_labels = 0;
        cr_assert(!verify_dataset_integrity(out, &ids, &n, &n_labels), "%s",
                  problem);
        free_list(ids, n);
        snprintf(cmd, sizeof cmd, "cd '%s' && %s", out, cases[i].shell);
        cr_assert_eq(system(cmd), 0, "%s", cmd);
        ids = NULL;
        const char *why = verify_dataset_integrity(out, &ids, &n, &n_labels);
        cr_expect(why && strstr(why, cases[i].want), "after `%s`: %s",
                  cases[i].shell, why ? why : "passed");
    }
}
