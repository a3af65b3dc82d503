/*
 * fuzz_split.c - the split-file parser (harness/split.c, hx_split_load)
 * and, for what it accepts, hx_split_verify against a scratch data root
 * holding one file (root/a/b.nii.gz): every path a split names must stay
 * under the root (no '..', no absolute path), checked here by the
 * contract that a path accepted by the parser has neither.
 */
#include "eval.h"
#include "fuzz_util.h"

static void problem(void *ctx, const char *p) {
    (void)p;
    ++*(int *)ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    char path[1024], root[1024];
    if (!init) {
        fz_write("root/a/b.nii.gz", (const uint8_t *)"x", 1, path, sizeof path);
        init = 1;
    }
    snprintf(root, sizeof root, "%s/root", fz_dir());
    fz_write("split.yaml", data, size, path, sizeof path);
    hx_split *s = NULL;
    sf_err err = {0};
    int rc = hx_split_load(path, &s, &err);
    if (rc != SF_OK) {
        fz_check_err(rc, &err, NULL);
        fz_check(s == NULL, "split left on error");
        return 0;
    }
    for (int i = 0; i < s->n_cases; i++)
        for (int j = 0; j < s->cases[i].n_files; j++) {
            const char *p = s->cases[i].files[j].path;
            fz_check(p && p[0] != '/' && strncmp(p, "../", 3) &&
                         !strstr(p, "/../") && strcmp(p, ".."),
                     "split accepted an escaping path '%s'", p ? p : "(null)");
        }
    int bad = 0, n = 0;
    memset(&err, 0, sizeof err);
    rc = hx_split_verify(s, root, problem, &n, &bad, &err);
    if (rc != SF_OK)
        fz_check_err(rc, &err, NULL);
    else
        fz_check(bad == n, "n_bad %d but %d problems reported", bad, n);
    hx_split_free(s);
    return 0;
}
