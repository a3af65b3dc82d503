/*
 * fuzz_corpus.c - the corpus reading API (factory/corpus.c,
 * corpus_check.c): the input is a corpus's manifest.sqlite; beside it sit
 * a few small valid PNGs (images/00000N.png, labels/00000N.png) so rows
 * that name them reach the decoder. Open, read the info and config, walk
 * the first samples (sample_at, load, instances), the identity, verify.
 */
#include "fuzz_util.h"

static void problem(void *ctx, const char *p) {
    (void)p;
    ++*(long *)ctx;
}

static void make_pngs(void) {
    char path[1024];
    uint8_t img[16 * 16];
    uint16_t lab[16 * 16];
    for (int i = 0; i < 16 * 16; i++) {
        img[i] = (uint8_t)(i * 7);
        lab[i] = (uint16_t)((i / 16) > 8);
    }
    for (int k = 0; k < 4; k++) {
        char name[64];
        fz_write("corpus/images/.keep", NULL, 0, path, sizeof path);
        fz_write("corpus/labels/.keep", NULL, 0, path, sizeof path);
        snprintf(name, sizeof name, "corpus/images/%06d.png", k);
        snprintf(path, sizeof path, "%s/%s", fz_dir(), name);
        if (sf_png_write_gray8(path, img, 16, 16, 1, NULL)) abort();
        snprintf(name, sizeof name, "corpus/labels/%06d.png", k);
        snprintf(path, sizeof path, "%s/%s", fz_dir(), name);
        if (sf_png_write_gray16(path, lab, 16, 16, 1, NULL)) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    char path[1024], dir[1024];
    if (!init) {
        make_pngs();
        init = 1;
    }
    fz_write("corpus/manifest.sqlite", data, size, path, sizeof path);
    snprintf(dir, sizeof dir, "%s/corpus", fz_dir());

    sf_corpus *c = NULL;
    sf_err err = {0};
    int rc = sf_corpus_open(dir, &c, &err);
    if (rc != SF_OK) {
        fz_check_err(rc, &err, NULL);
        fz_check(c == NULL, "corpus left on error");
    } else {
        const sf_corpus_info *info = sf_corpus_get_info(c);
        fz_check(info != NULL, "no info");
        fz_check(sf_corpus_config_yaml(c) != NULL, "no config text");
        uint64_t n = sf_corpus_count(c);
        for (uint64_t pos = 0; pos < n && pos < 4; pos++) {
            sf_corpus_sample s;
            sf_err e = {0};
            rc = sf_corpus_sample_at(c, pos, &s, &e);
            if (rc != SF_OK) {
                fz_check_err(rc, &e, NULL);
                continue;
            }
            uint8_t *img = NULL;
            uint16_t *lab = NULL;
            int nx = 0, ny = 0;
            rc = sf_corpus_load(c, pos, &img, &lab, &nx, &ny, &e);
            if (rc == SF_OK) {
                fz_check(nx == s.nx && ny == s.ny, "load %dx%d vs row %dx%d",
                         nx, ny, s.nx, s.ny);
                volatile int a =
                    img[(size_t)nx * ny - 1] + lab[(size_t)nx * ny - 1];
                (void)a;
            } else {
                fz_check_err(rc, &e, NULL);
            }
            free(img);
            free(lab);
            sf_instance *in = NULL;
            int nin = -1;
            memset(&e, 0, sizeof e);
            rc = sf_corpus_instances(c, pos, &in, &nin, &e);
            if (rc == SF_OK)
                fz_check(nin >= 0 && (nin == 0 || in), "instances %d", nin);
            else
                fz_check_err(rc, &e, NULL);
            free(in);
        }
        char hex[65];
        sf_err e = {0};
        rc = sf_corpus_identity(c, hex, &e);
        if (rc != SF_OK) fz_check_err(rc, &e, NULL);
        sf_corpus_close(c);
    }
    long np = 0, nprob = 0;
    memset(&err, 0, sizeof err);
    rc = sf_corpus_verify(dir, 0, 1, problem, &np, &nprob, &err);
    if (rc != SF_OK) fz_check_err(rc, &err, NULL);
    unlink(path);
    return 0;
}
