/*
 * fuzz_import.c - the prediction importer (harness/eval.c,
 * hx__import_mask: `synthfm eval --method import --import DIR`). Input:
 * byte 0 bit 0 = put the mask in place as a symbolic link to a file
 * outside the import folder (must be refused), bytes 1 and 2 = the unit's
 * expected width and height - 1 (up to 256), the rest = the mask PNG.
 * Contracts: accepted masks are exactly 0/1 of the expected size; every
 * error names the mask's path; a link is never followed.
 */
#include "eval_int.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    const int link = data[0] & 1, nx = 1 + data[1], ny = 1 + data[2];
    char path[1024], target[1024], dir[1024];
    snprintf(dir, sizeof dir, "%s/imp", fz_dir());
    if (link) {
        fz_write("outside.png", data + 3, size - 3, target, sizeof target);
        fz_write("imp/masks/u.keep", NULL, 0, path, sizeof path);
        snprintf(path, sizeof path, "%s/masks/u.png", dir);
        unlink(path);
        fz_check(symlink(target, path) == 0, "symlink %s", path);
    } else {
        fz_write("imp/masks/u.png", data + 3, size - 3, path, sizeof path);
    }
    uint8_t *pred = malloc((size_t)nx * ny);
    memset(pred, 7, (size_t)nx * ny);
    sf_err err = {0};
    int rc = hx__import_mask(dir, "u", nx, ny, pred, &err);
    if (link)
        fz_check(rc == SF_EFORMAT && strstr(err.msg, "symbolic link"),
                 "a linked mask was not refused (rc %d: %s)", rc, err.msg);
    if (rc == SF_OK) {
        for (size_t i = 0; i < (size_t)nx * ny; i++)
            fz_check(pred[i] <= 1, "pred[%zu] = %d", i, pred[i]);
    } else {
        fz_check_err(rc, &err, path);
    }
    free(pred);
    unlink(path);
    return 0;
}
