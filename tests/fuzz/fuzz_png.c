/*
 * fuzz_png.c - every PNG entry point: the factory decoder (factory/png.c,
 * gray8 / gray16 / rgb8, used by the corpus reading API), the volume
 * reader hx_reader_png and the HC18 outline reader + fill.
 */
#include "fuzz_volume.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[1024];
    fz_write("in.png", data, size, path, sizeof path);
    sf_err err = {0};
    int nx = -1, ny = -1, rc;

    uint8_t *g8 = NULL;
    rc = sf_png_read_gray8(path, &g8, &nx, &ny, &err);
    if (rc == SF_OK) {
        fz_check(g8 && nx >= 1 && ny >= 1 && nx <= SF_PNG_MAX_SIDE &&
                     ny <= SF_PNG_MAX_SIDE,
                 "gray8 %d x %d", nx, ny);
        volatile uint8_t a = g8[0] ^ g8[(size_t)nx * ny - 1];
        (void)a;
    } else {
        fz_check_err(rc, &err, path);
    }
    free(g8);

    uint16_t *g16 = NULL;
    memset(&err, 0, sizeof err);
    rc = sf_png_read_gray16(path, &g16, &nx, &ny, &err);
    if (rc == SF_OK) {
        fz_check(g16 && nx >= 1 && ny >= 1, "gray16 %d x %d", nx, ny);
        volatile uint16_t a = g16[0] ^ g16[(size_t)nx * ny - 1];
        (void)a;
    } else {
        fz_check_err(rc, &err, path);
    }
    free(g16);

    uint8_t *rgb = NULL;
    memset(&err, 0, sizeof err);
    rc = sf_png_read_rgb8(path, &rgb, &nx, &ny, &err);
    if (rc == SF_OK) {
        fz_check(rgb && nx >= 1 && ny >= 1, "rgb8 %d x %d", nx, ny);
        volatile uint8_t a = rgb[0] ^ rgb[(size_t)nx * ny * 3 - 1];
        (void)a;
    } else {
        fz_check_err(rc, &err, path);
    }
    free(rgb);

    fz_volume(&hx_reader_png, path);

    uint8_t *mask = NULL;
    int gap = -1;
    memset(&err, 0, sizeof err);
    rc = hx_hc18_read_annotation(path, &mask, &nx, &ny, &gap, &err);
    if (rc == SF_OK) {
        fz_check(mask && nx >= 1 && ny >= 1 && gap >= 0 && gap <= 3,
                 "hc18 %d x %d gap %d", nx, ny, gap);
        for (size_t i = 0; i < (size_t)nx * ny; i++)
            fz_check(mask[i] <= 1, "hc18 mask value %d", mask[i]);
    } else {
        fz_check_err(rc, &err, NULL);
    }
    free(mask);
    return 0;
}
