/*
 * fuzz_dicom.c - one DICOM file as a series directory through
 * hx_reader_dicom: our structural walk (rd_dicom_series.c) first, then
 * GDCM (rd_dicom.cpp) for the header and the pixel data.
 */
#include "fuzz_volume.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[1024], dir[1024];
    fz_write("series/slice.dcm", data, size, path, sizeof path);
    snprintf(dir, sizeof dir, "%s/series", fz_dir());
    fz_volume(&hx_reader_dicom, dir);
    return 0;
}
