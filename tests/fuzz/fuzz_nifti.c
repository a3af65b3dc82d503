/* fuzz_nifti.c - NIfTI-1/2 (.nii, .nii.gz) through hx_reader_nifti. */
#include "fuzz_volume.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[1024];
    int gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    fz_write(gz ? "in.nii.gz" : "in.nii", data, size, path, sizeof path);
    fz_volume(&hx_reader_nifti, path);
    unlink(path);
    return 0;
}
