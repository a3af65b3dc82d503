/*
 * import.c - reading another tool's predictions for `synthfm eval
 * --method import --import DIR` (kept apart from eval.c, which needs the
 * model library, so that the fuzz target links without libtorch).
 */
#include "eval_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* An imported prediction: DIR/masks/UNIT.png, 8-bit gray of the unit's
 * size, nonzero = foreground. masks/ and the mask must be a real folder
 * and a regular file: a symbolic link is refused, so a prediction folder
 * made by someone else cannot make us read outside it (the unit name is
 * ours, made by slice_name: no '/' and no '..'). */
int hx__import_mask(const char *import_dir, const char *unit, int nx, int ny,
                    uint8_t *pred, sf_err *err) {
    char dir[HX_VOL_PATH_MAX], path[HX_VOL_PATH_MAX];
    struct stat st;
    if (strchr(unit, '/') || !strcmp(unit, "..") || !strcmp(unit, "."))
        return sf_err_set(err, SF_EINVAL, "bad unit name '%s'", unit);
    snprintf(dir, sizeof dir, "%s/masks", import_dir);
    snprintf(path, sizeof path, "%s/%s.png", dir, unit);
    if (lstat(dir, &st) != 0)
        return sf_err_set(err, SF_EIO, "missing mask %s (no folder %s)", path,
                          dir);
    if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode))
        return sf_err_set(err, SF_EFORMAT,
                          "%s: not a folder (symbolic links are refused)", dir);
    if (lstat(path, &st) != 0)
        return sf_err_set(err, SF_EIO, "missing mask %s", path);
    if (S_ISLNK(st.st_mode) || !S_ISREG(st.st_mode))
        return sf_err_set(err, SF_EFORMAT,
                          "%s: not a regular file (symbolic links are refused)",
                          path);
    uint8_t *px = NULL;
    int w = 0, h = 0;
    int rc = sf_png_read_gray8(path, &px, &w, &h, err);
    if (rc != SF_OK) return rc;
    if (w != nx || h != ny) {
        free(px);
        return sf_err_set(err, SF_EFORMAT,
                          "wrong-size mask %s: %dx%d, expected %dx%d", path, w,
                          h, nx, ny);
    }
    size_t n = (size_t)nx * (size_t)ny;
    for (size_t i = 0; i < n; i++)
        pred[i] = px[i] != 0;
    free(px);
    return SF_OK;
}
