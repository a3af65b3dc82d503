/* fuzz_tiff.c - TIFF (libtiff) through hx_reader_tiff. */
#include "fuzz_volume.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[1024];
    fz_write("in.tif", data, size, path, sizeof path);
    fz_volume(&hx_reader_tiff, path);
    return 0;
}
