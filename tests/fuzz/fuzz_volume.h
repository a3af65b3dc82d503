/*
 * fuzz_volume.h - the body shared by the volume-reader targets: open the
 * input with one reader, check the header against the documented limits,
 * decode, touch every voxel, reorient. Any contract break aborts.
 */
#ifndef FUZZ_VOLUME_H
#define FUZZ_VOLUME_H

#include "fuzz_util.h"
#include "readers.h"

static void fz_volume(const hx_reader_ops *ops, const char *path) {
    sf_err err = {0};
    hx_reader *r = NULL;
    int rc = hx_reader_open_with(ops, path, &r, &err);
    if (rc != SF_OK) {
        fz_check_err(rc, &err, path);
        fz_check(r == NULL, "reader left on error");
        return;
    }
    const hx_volume *h = hx_reader_header(r);
    fz_check(
        h->nx >= 1 && h->ny >= 1 && h->nz >= 1 && h->nx <= HX_VOL_MAX_SIDE &&
            h->ny <= HX_VOL_MAX_SIDE && h->nz <= HX_VOL_MAX_SIDE &&
            (uint64_t)h->nx * h->ny * h->nz <= HX_VOL_MAX_VOXELS,
        "header dims %d x %d x %d outside the limits", h->nx, h->ny, h->nz);
    hx_volume *v = NULL;
    sf_err e2 = {0};
    rc = hx_reader_read(r, &v, &e2);
    if (rc != SF_OK) {
        fz_check_err(rc, &e2, path);
        fz_check(v == NULL, "volume left on error");
        hx_reader_close(r);
        return;
    }
    fz_check(v && v->data, "no data");
    fz_check(v->nx == h->nx && v->ny == h->ny && v->nz == h->nz,
             "read dims %d x %d x %d differ from header %d x %d x %d", v->nx,
             v->ny, v->nz, h->nx, h->ny, h->nz);
    size_t n = (size_t)v->nx * v->ny * v->nz;
    volatile float acc = 0;
    for (size_t i = 0; i < n; i += 1 + n / 4096)
        acc += v->data[i];
    acc += v->data[n - 1];
    (void)acc;
    char ax[4];
    hx_volume_axcodes(v, ax);
    sf_err e3 = {0};
    rc = hx_volume_canonical(v, &e3);
    fz_check(rc == SF_OK || rc == SF_EFORMAT || rc == SF_ENOMEM,
             "canonical rc %d", rc);
    hx_volume_free(v);
    hx_reader_close(r);
}

#endif
